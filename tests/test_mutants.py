"""Graded test cells, run in-process: the solution passes, the untouched release fails, every
registered common mistake (tests/mutants/chNN_slug.py) fails, and so does calling course_lib."""
import importlib
from functools import lru_cache

import pytest

from course_lib.reference import REGISTRY
from tests.notebook_tools import chapter_ids, load, nbgrader_meta, run_cell, run_notebook_namespace, graded_cells, functions_under_test

CASES = [(ch, nbgrader_meta(cell)["grade_id"]) for ch in chapter_ids() for cell in graded_cells(load("solutions", ch))]


@lru_cache(maxsize=None)
def _namespace(kind: str, chapter: str) -> dict:
    return run_notebook_namespace(load(kind, chapter))


def _cell(chapter: str, grade_id: str):
    return next(c for c in graded_cells(load("solutions", chapter)) if nbgrader_meta(c)["grade_id"] == grade_id)


def _mutants(chapter: str) -> dict:
    return importlib.import_module(f"tests.mutants.ch{chapter}").MUTANTS


@pytest.mark.parametrize("chapter, grade_id", CASES)
def test_solution_passes(chapter, grade_id):
    run_cell(_cell(chapter, grade_id).source, _namespace("solutions", chapter))


@pytest.mark.parametrize("chapter, grade_id", CASES)
def test_untouched_release_fails(chapter, grade_id):
    with pytest.raises(NotImplementedError):
        run_cell(_cell(chapter, grade_id).source, _namespace("chapters", chapter))


@pytest.mark.parametrize("chapter, grade_id", CASES)
def test_common_mistakes_fail(chapter, grade_id):
    mutants = _mutants(chapter).get(grade_id, {})
    assert len(mutants) >= 2, f"{grade_id}: register at least two common mistakes in tests/mutants/ch{chapter}.py"
    namespace = _namespace("solutions", chapter)
    survivors = []
    for mistake, (function, mutant) in mutants.items():
        try:
            run_cell(_cell(chapter, grade_id).source, {**namespace, function: mutant})
        except Exception:  # noqa: BLE001 — any failure of the graded cell counts as caught
            continue
        survivors.append(mistake)
    assert not survivors, f"{grade_id} gives points to these mistakes: {survivors}"


@pytest.mark.parametrize("chapter, grade_id", CASES)
def test_calling_course_lib_reference_fails(chapter, grade_id):
    cell = _cell(chapter, grade_id)
    namespace = _namespace("solutions", chapter)
    for name in functions_under_test(load("solutions", chapter), cell):
        reference = next(fn for key, fn in REGISTRY.items() if key.split(".")[-1] == name)
        with pytest.raises(Exception, match="reference"):
            run_cell(cell.source, {**namespace, name: lambda *a, _r=reference, **k: _r(*a, **k)})
