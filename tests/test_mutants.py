"""Graded test cells, run in-process: the solution passes, the untouched release fails, every
registered common mistake (course_lib/mistakes/chNN_slug.py) fails, and so does calling course_lib."""
import importlib
import pkgutil
from functools import lru_cache

import pytest

import course_lib
from course_lib import mistakes
from course_lib.reference import REGISTRY
from tests.notebook_tools import (chapter_ids, functions_under_test, graded_cells, is_solution, load, nbgrader_meta,
                                  run_cell, run_cell_into, run_notebook_namespace)

for _module in pkgutil.iter_modules(course_lib.__path__):  # every @reference registers when its module is imported
    importlib.import_module(f"course_lib.{_module.name}")


@lru_cache(maxsize=None)
def _namespace(kind: str, chapter: str) -> dict:
    """The notebook's namespace after every non-test cell. The release's is the solution's with the
    exercise cells re-run from the release (stubs): the demos need not run twice."""
    if kind == "solutions":
        return run_notebook_namespace(load(kind, chapter))
    namespace = dict(_namespace("solutions", chapter))
    for cell in load(kind, chapter).cells:
        if is_solution(cell):
            run_cell_into(cell.source, namespace)
    return namespace


@lru_cache(maxsize=None)
def _outcomes(chapter: str, grade_id: str) -> dict:
    """mistake id -> the exception the graded cell raised with that mistake in place (None: it passed)."""
    namespace = _namespace("solutions", chapter)
    outcomes = {}
    for mistake in _mistakes(chapter, grade_id):
        try:
            run_cell(_cell(chapter, grade_id).source, {**namespace, mistake.replaces: mistakes.as_student_code(mistake)})
            outcomes[mistake.id] = None
        except Exception as err:  # noqa: BLE001 — any failure of the graded cell counts as caught
            outcomes[mistake.id] = err
    return outcomes


def _cell(chapter: str, grade_id: str):
    return next(c for c in graded_cells(load("solutions", chapter)) if nbgrader_meta(c)["grade_id"] == grade_id)


def _mistakes(chapter: str, grade_id: str) -> list:
    return [m for m in mistakes.for_chapter(chapter) if m.cell == grade_id]


class ChapterCells:
    """The checks of one chapter's graded cells; one subclass per chapter (its own xdist scope)."""

    chapter: str

    def test_solution_passes(self, grade_id):
        chapter = self.chapter
        run_cell(_cell(chapter, grade_id).source, _namespace("solutions", chapter))

    def test_untouched_release_fails(self, grade_id):
        chapter = self.chapter
        with pytest.raises(NotImplementedError):
            run_cell(_cell(chapter, grade_id).source, _namespace("chapters", chapter))

    def test_common_mistakes_fail(self, grade_id):
        chapter = self.chapter
        registered = _mistakes(chapter, grade_id)
        assert len(registered) >= 2, f"{grade_id}: register at least two common mistakes in course_lib/mistakes/ch{chapter}.py"
        survivors = [mistake_id for mistake_id, err in _outcomes(chapter, grade_id).items() if err is None]
        assert not survivors, f"{grade_id} gives points to these mistakes: {survivors}"

    def test_common_mistakes_are_named_by_the_feedback(self, grade_id):
        """The graded cell's message names the mistake (first tag) with its explanation and hint."""
        chapter = self.chapter
        wrong = {}
        for mistake in _mistakes(chapter, grade_id):
            err = _outcomes(chapter, grade_id)[mistake.id]
            if not mistake.named or err is None:
                continue  # a survivor is test_common_mistakes_fail's to report
            if isinstance(err, AssertionError):
                tags = mistakes.named_in(str(err))
                if tags[:1] == [mistake.key] and mistake.explanation in str(err) and mistake.hint in str(err):
                    continue
                wrong[mistake.id] = tags[:1] or str(err)[:200]
            else:
                wrong[mistake.id] = f"{type(err).__name__}: {str(err)[:200]}"
        assert not wrong, f"{grade_id}: mistakes not named (or named wrongly): {wrong}"

    def test_calling_course_lib_reference_fails(self, grade_id):
        chapter = self.chapter
        cell = _cell(chapter, grade_id)
        namespace = _namespace("solutions", chapter)
        owners = {key.split(".")[1]: key.split(".")[0] for key in REGISTRY}  # a function, or a class's method
        for name in functions_under_test(load("solutions", chapter), cell):
            reference = getattr(importlib.import_module(f"course_lib.{owners[name]}"), name)
            student = reference if isinstance(reference, type) else \
                (lambda *a, _r=reference, **k: _r(*a, **k))
            with pytest.raises(Exception, match="reference"):
                run_cell(cell.source, {**namespace, name: student})

def test_chapter_3_names_every_mistake():
    assert all(m.named for m in mistakes.for_chapter("03_attention"))


def pytest_generate_tests(metafunc):
    if metafunc.cls is not None and "grade_id" in metafunc.fixturenames:
        cells = graded_cells(load("solutions", metafunc.cls.chapter))
        metafunc.parametrize("grade_id", [nbgrader_meta(c)["grade_id"] for c in cells])


for _chapter in chapter_ids():  # one test class per chapter: pytest collects them by name
    globals()[f"TestChapter_{_chapter}"] = type(f"TestChapter_{_chapter}", (ChapterCells,), {"chapter": _chapter})
