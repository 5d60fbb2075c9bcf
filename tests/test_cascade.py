"""A slip in one exercise costs its own points only: the graded cells of exercises that build on
earlier ones run the student's code with course_lib's versions of those earlier functions.

Each case puts a catalogued mistake in place of an earlier exercise's function and checks that a
later exercise's graded cell, with the solution's own code, still passes."""

from functools import lru_cache

import pytest

from course_lib import mistakes
from tests.notebook_tools import graded_cells, is_solution, load, nbgrader_meta, run_cell_into, run_notebook_namespace

CASES = [  # (chapter, graded cell of the later exercise, catalogued mistake of an earlier one)
    ("07_vision_transformer", "test_patch_embedding", "patchify-column-major"),
    ("07_vision_transformer", "test_vit", "patchify-pqc-order"),
    ("07_vision_transformer", "test_vit", "patch-embedding-channels-first"),
    ("08_swin_transformer", "test_shifted_window_attention", "partition-column-major"),
    ("08_swin_transformer", "test_shifted_window_attention", "reverse-without-permute"),
    ("08_swin_transformer", "test_shifted_window_attention", "relative-index-key-minus-query"),
    ("08_swin_transformer", "test_shifted_window_attention", "window-attention-no-bias"),
    ("08_swin_transformer", "test_shifted_window_attention", "shift-mask-inverted"),
]


@lru_cache(maxsize=None)
def _namespace(chapter: str) -> dict:
    return run_notebook_namespace(load("solutions", chapter))


def _with_mistake(chapter: str, mistake) -> dict:
    """One namespace, as in a kernel: the solution's functions are re-defined in it, so they look
    up the earlier exercise's function (here: the mistake) in the same globals as the test cell."""
    namespace = dict(_namespace(chapter))
    for cell in load("solutions", chapter).cells:
        if is_solution(cell):
            run_cell_into(cell.source, namespace)
    namespace[mistake.replaces] = mistakes.as_student_code(mistake)
    return namespace


def _cell_source(chapter: str, grade_id: str) -> str:
    return next(c.source for c in graded_cells(load("solutions", chapter)) if nbgrader_meta(c)["grade_id"] == grade_id)


def _mistake(chapter: str, mistake_id: str):
    return next(m for m in mistakes.for_chapter(chapter) if m.id == mistake_id)


@pytest.mark.parametrize("chapter, grade_id, mistake_id", CASES)
def test_a_slip_in_an_earlier_exercise_is_not_counted_twice(chapter, grade_id, mistake_id):
    mistake = _mistake(chapter, mistake_id)
    assert mistake.cell != grade_id, "the mistake must belong to an earlier exercise"
    run_cell_into(_cell_source(chapter, grade_id), _with_mistake(chapter, mistake))  # raises if points are lost


def test_the_earlier_mistake_does_reach_the_later_function_outside_the_graded_cell():
    """The cases above mean something: without the substitution the later function is wrong."""
    import torch
    from torch import nn

    ns = _with_mistake("07_vision_transformer", _mistake("07_vision_transformer", "patchify-column-major"))
    conv, layer = nn.Conv2d(3, 8, kernel_size=4, stride=4), ns["PatchEmbedding"](3, 4, 8)
    with torch.no_grad():
        layer.proj.weight.copy_(conv.weight.reshape(8, -1))
        layer.proj.bias.copy_(conv.bias)
        x = torch.randn(2, 3, 16, 8)
        assert not torch.allclose(layer(x), conv(x).flatten(2).transpose(1, 2), atol=1e-4)

    ns = _with_mistake("08_swin_transformer", _mistake("08_swin_transformer", "shift-mask-inverted"))
    args = (torch.randn(1, 8, 12, 8), torch.randn(24, 8), None, torch.randn(8, 8), None, torch.randn(49, 2), 4, 2, 2)
    assert not torch.allclose(
        ns["shifted_window_attention"](*args), ns["ref"].shifted_window_attention(*args), atol=1e-4
    )
