"""An answer that reads a notebook global instead of its own argument must fail its graded test.

Issue 20: with `B, L, D = x.shape` deleted from `random_masking`, the hidden tests used to pass,
because the test cell's own loop (`for seed, (B, L, D, ratio) in ...`) set the globals to the
shapes under test. Here each solution loses its shape-unpacking line, the notebook globals are
set to the visible example's shapes (what a demo cell might leave behind, so the visible checks
still pass), and the whole graded cell must fail.
"""

from __future__ import annotations

import pytest

from tests.notebook_tools import (
    is_solution,
    is_test,
    load,
    nbgrader_meta,
    python_source,
    quiet,
    run_cell,
    run_cell_into,
)

# (chapter, graded cell, solution cell, line to delete, globals left with the visible example's shapes)
CASES = [
    ("10_mae", "test_patches", "patches", "    P = patch_size\n", {"P": 2}),
    ("10_mae", "test_random_masking", "random_masking", "    B, L, D = x.shape\n", {"B": 1, "L": 6, "D": 2}),
    ("10_mae", "test_restore_sequence", "restore_sequence", "    L = ids_restore.shape[1]\n", {"L": 3}),
    ("09_clip", "test_embed_text", "embed_text", "    B, T, C = hidden.shape\n", {"B": 2, "T": 4, "C": 3}),
    ("09_clip", "test_recall_at_k", "recall_at_k", "    N = similarity.shape[0]\n", {"N": 3}),
]


def _namespace(nb) -> dict:
    """Set-up and solution cells only (no demo cells, no tests): what grading runs before a test."""
    namespace: dict = {"__name__": "__main__"}
    with quiet():
        for cell in nb.cells:
            if cell.cell_type != "code" or is_test(cell) or "demo" in cell.metadata.get("tags", []):
                continue
            if "skip-execution" in cell.metadata.get("tags", []) and not is_solution(cell):
                continue
            exec(compile(python_source(cell.source), "<cell>", "exec"), namespace)
    return namespace


def _cell(nb, grade_id: str):
    return next(c for c in nb.cells if nbgrader_meta(c).get("grade_id") == grade_id)


@pytest.mark.parametrize("chapter, test_id, solution_id, line, decoys", CASES, ids=[c[1] for c in CASES])
def test_answer_reading_a_notebook_global_fails(chapter, test_id, solution_id, line, decoys):
    nb = load("solutions", chapter)
    namespace = {**_namespace(nb), **decoys}
    test_source = _cell(nb, test_id).source
    run_cell(test_source, namespace)  # the genuine solution passes, decoy globals or not

    solution = _cell(nb, solution_id).source
    assert line in solution, f"{solution_id} no longer contains {line.strip()!r}"
    reads_globals = dict(namespace)
    exec(compile(python_source(solution.replace(line, "", 1)), "<student>", "exec"), reads_globals)
    with pytest.raises(Exception):  # noqa: B017 — any failure counts; the test cell runs in the function's own globals, as in a kernel
        run_cell_into(test_source, reads_globals)
