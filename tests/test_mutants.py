"""Graded test cells, run in-process: the solution passes, the untouched release fails, every
registered common mistake (course_lib/mistakes/chNN_slug.py) fails, and so does calling course_lib."""
import re
from functools import lru_cache

import pytest

from course_lib import mistakes
from course_lib.reference import REGISTRY
from tests.notebook_tools import chapter_ids, load, nbgrader_meta, run_cell, run_notebook_namespace, graded_cells, functions_under_test

CASES = [(ch, nbgrader_meta(cell)["grade_id"]) for ch in chapter_ids() for cell in graded_cells(load("solutions", ch))]


@lru_cache(maxsize=None)
def _namespace(kind: str, chapter: str) -> dict:
    return run_notebook_namespace(load(kind, chapter))


def _cell(chapter: str, grade_id: str):
    return next(c for c in graded_cells(load("solutions", chapter)) if nbgrader_meta(c)["grade_id"] == grade_id)


def _mistakes(chapter: str, grade_id: str) -> list:
    return [m for m in mistakes.for_chapter(chapter) if m.cell == grade_id]


@pytest.mark.parametrize("chapter, grade_id", CASES)
def test_solution_passes(chapter, grade_id):
    run_cell(_cell(chapter, grade_id).source, _namespace("solutions", chapter))


@pytest.mark.parametrize("chapter, grade_id", CASES)
def test_untouched_release_fails(chapter, grade_id):
    with pytest.raises(NotImplementedError):
        run_cell(_cell(chapter, grade_id).source, _namespace("chapters", chapter))


@pytest.mark.parametrize("chapter, grade_id", CASES)
def test_common_mistakes_fail(chapter, grade_id):
    registered = _mistakes(chapter, grade_id)
    assert len(registered) >= 2, f"{grade_id}: register at least two common mistakes in course_lib/mistakes/ch{chapter}.py"
    namespace = _namespace("solutions", chapter)
    survivors = []
    for mistake in registered:
        try:
            run_cell(_cell(chapter, grade_id).source, {**namespace, mistake.replaces: mistakes.as_student_code(mistake)})
        except Exception:  # noqa: BLE001 — any failure of the graded cell counts as caught
            continue
        survivors.append(mistake.id)
    assert not survivors, f"{grade_id} gives points to these mistakes: {survivors}"


@pytest.mark.parametrize("chapter, grade_id", CASES)
def test_common_mistakes_are_named_by_the_feedback(chapter, grade_id):
    """The graded cell's message names the mistake (first tag) with its explanation and hint."""
    namespace = _namespace("solutions", chapter)
    wrong = {}
    for mistake in _mistakes(chapter, grade_id):
        if not mistake.named:
            continue
        try:
            run_cell(_cell(chapter, grade_id).source, {**namespace, mistake.replaces: mistakes.as_student_code(mistake)})
        except AssertionError as err:
            tags = re.findall(r"\[mistake ([\w.:-]+)\]", str(err))
            if tags[:1] == [mistake.key] and mistake.explanation in str(err) and mistake.hint in str(err):
                continue
            wrong[mistake.id] = tags[:1] or str(err)[:200]
        except Exception as err:  # noqa: BLE001
            wrong[mistake.id] = f"{type(err).__name__}: {str(err)[:200]}"
    assert not wrong, f"{grade_id}: mistakes not named (or named wrongly): {wrong}"


def test_chapter_3_names_every_mistake():
    assert all(m.named for m in mistakes.for_chapter("03_attention"))


@pytest.mark.parametrize("chapter, grade_id", CASES)
def test_calling_course_lib_reference_fails(chapter, grade_id):
    cell = _cell(chapter, grade_id)
    namespace = _namespace("solutions", chapter)
    for name in functions_under_test(load("solutions", chapter), cell):
        reference = next(fn for key, fn in REGISTRY.items() if key.split(".")[-1] == name)
        with pytest.raises(Exception, match="reference"):
            run_cell(cell.source, {**namespace, name: lambda *a, _r=reference, **k: _r(*a, **k)})
