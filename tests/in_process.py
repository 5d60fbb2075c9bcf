"""The one in-process grading harness: a chapter's solution namespace, run once per worker, and
graded cells run against it with other exercise code in place (a release's stubs, a mistake, a
submission). test_mutants, test_autograde and test_diagnosis share it, so a solution notebook
runs once per test worker, not once per test file.

Which cells build the namespace is tests.notebook_tools.run_notebook_namespace's decision (the
cells grading runs); this module only caches and combines.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Iterable, Optional

from tests.notebook_tools import (
    graded_cells,
    is_solution,
    load,
    nbgrader_meta,
    run_cell,
    run_cell_into,
    run_notebook_namespace,
)


@lru_cache(maxsize=None)
def solution_namespace(chapter: str) -> dict:
    """The solution notebook's namespace after every cell grading runs (cached: run once per process).
    Callers must not mutate it: use :func:`with_exercise_cells` or ``{**namespace, name: value}``."""
    return run_notebook_namespace(load("solutions", chapter))


def with_exercise_cells(chapter: str, cells: Iterable) -> dict:
    """A copy of the solution namespace with ``cells``' exercise (solution-tagged) cells re-run into
    it in order, so a later exercise that calls an earlier one sees the replaced code."""
    namespace = dict(solution_namespace(chapter))
    for cell in cells:
        if is_solution(cell):
            run_cell_into(cell.source, namespace)
    return namespace


@lru_cache(maxsize=None)
def release_namespace(chapter: str) -> dict:
    """The solution namespace with the released exercise cells (the stubs) in place."""
    return with_exercise_cells(chapter, load("chapters", chapter).cells)


def graded_cell(chapter: str, grade_id: str):
    """The solution notebook's graded cell ``grade_id``."""
    return next(c for c in graded_cells(load("solutions", chapter)) if nbgrader_meta(c)["grade_id"] == grade_id)


def run_graded_in(cell, namespace: dict) -> Optional[Exception]:
    """Run a graded cell in ``namespace`` itself, as the kernel does: the exercise functions read
    that very dict as their globals, so a cell that swaps in reference versions for the functions
    an exercise builds on (``grading.using(globals(), ...)``) reaches them. Returns the exception."""
    try:
        run_cell_into(cell.source, namespace)
    except Exception as err:  # noqa: BLE001 — any failure of a graded cell counts as failing it
        return err
    return None


def run_graded(cell, namespace: dict) -> Optional[Exception]:
    """Run a graded cell on a copy of ``namespace``; return the exception it raised (None: it passed)."""
    try:
        run_cell(cell.source, namespace)
    except Exception as err:  # noqa: BLE001 — any failure of a graded cell counts as failing it
        return err
    return None
