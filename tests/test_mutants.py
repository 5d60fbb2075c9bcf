"""Graded test cells, run in-process: the solution passes, the untouched release fails, every
registered common mistake (course_lib/mistakes/chNN_slug.py) fails, and so does calling course_lib."""

import importlib
from functools import lru_cache

import pytest

from course_lib import mistakes
from course_lib.reference import owner
from tests.in_process import graded_cell, release_namespace, run_graded, solution_namespace
from tests.notebook_tools import chapter_ids, functions_under_test, graded_cells, load, nbgrader_meta, run_cell


@lru_cache(maxsize=None)
def _outcomes(chapter: str, grade_id: str) -> dict:
    """mistake id -> the exception the graded cell raised with that mistake in place (None: it passed)."""
    namespace = solution_namespace(chapter)
    cell = graded_cell(chapter, grade_id)
    return {
        mistake.id: run_graded(cell, {**namespace, mistake.replaces: mistakes.as_student_code(mistake)})
        for mistake in _mistakes(chapter, grade_id)
    }


def _mistakes(chapter: str, grade_id: str) -> list:
    return [m for m in mistakes.for_chapter(chapter) if m.cell == grade_id]


class ChapterCells:
    """The checks of one chapter's graded cells; one subclass per chapter (its own xdist scope)."""

    chapter: str

    def test_solution_passes(self, grade_id):
        chapter = self.chapter
        run_cell(graded_cell(chapter, grade_id).source, solution_namespace(chapter))

    def test_untouched_release_fails(self, grade_id):
        chapter = self.chapter
        with pytest.raises(NotImplementedError):
            run_cell(graded_cell(chapter, grade_id).source, release_namespace(chapter))

    def test_common_mistakes_fail(self, grade_id):
        chapter = self.chapter
        registered = _mistakes(chapter, grade_id)
        assert len(registered) >= 2, (
            f"{grade_id}: register at least two common mistakes in course_lib/mistakes/ch{chapter}.py"
        )
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
        cell = graded_cell(chapter, grade_id)
        namespace = solution_namespace(chapter)
        for name in functions_under_test(load("solutions", chapter), cell):
            reference = getattr(importlib.import_module(f"course_lib.{owner(name)}"), name)
            student = reference if isinstance(reference, type) else (lambda *a, _r=reference, **k: _r(*a, **k))
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
