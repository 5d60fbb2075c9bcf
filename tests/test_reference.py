"""course_lib.reference: the lock on reference implementations, the lift inside allowed references,
and the registry helpers (load_all, owner)."""

import pytest
import torch
from torch import nn

from course_lib import attention as A
from course_lib import grading, multihead, positional
from course_lib.reference import ReferenceUsedError, load_all, owner, references_blocked

MHA = "multihead.MultiHeadAttention.forward"


def _mha():
    torch.manual_seed(0)
    return multihead.MultiHeadAttention(8, 2).eval()


def test_an_allowed_reference_may_call_locked_references():
    layer, x = _mha(), torch.randn(2, 5, 8)
    expected = layer(x)  # outside the lock
    with references_blocked(allow=[MHA]):
        torch.testing.assert_close(layer(x), expected, rtol=0, atol=0)  # uses split_heads and chapter 3's scores
        with pytest.raises(ReferenceUsedError, match=r"multihead.split_heads\(\)"):
            multihead.split_heads(x, 2)  # called from here (the student's side) it stays locked


def test_the_reference_being_written_stays_locked_inside_an_allowed_one():
    layer, x = _mha(), torch.randn(2, 5, 8)
    with references_blocked(allow=[MHA], writing=["multihead.split_heads"]):
        with pytest.raises(ReferenceUsedError, match="split_heads"):
            layer(x)


def test_run_student_locks_what_the_student_names():
    layer, x = _mha(), torch.randn(2, 5, 8)

    def split_heads(x, n_heads):  # a student's split_heads that leans on the allowed layer
        layer(x)
        return x.view(2, 5, n_heads, 4).transpose(1, 2)

    with pytest.raises(ReferenceUsedError, match="split_heads"):
        grading.run_student(split_heads, x, 2, allow_refs=[MHA])

    def encoder_block(x):  # another exercise: the allowed layer may use split_heads and merge_heads
        return x + layer(x)

    assert grading.run_student(encoder_block, x, allow_refs=[MHA]).shape == (2, 5, 8)


class _CallsScores(nn.Module):
    """A student's module that calls a locked reference (directly or through course_lib code)."""

    def __init__(self, through_course_code: bool):
        super().__init__()
        self.through_course_code = through_course_code

    def forward(self, x):
        if self.through_course_code:
            return A.attention(x, x, x)[0]  # not a reference itself, but it calls attention_scores
        return A.attention_scores(x, x) @ x


@pytest.mark.parametrize("through_course_code", [False, True])
def test_the_lift_does_not_reach_student_callbacks(through_course_code):
    x, perm = torch.randn(1, 4, 8), torch.tensor([1, 0, 3, 2])
    student = _CallsScores(through_course_code)
    assert positional.permutation_equivariance_gap(student, x, perm) < 1e-5  # unlocked: fine
    with references_blocked(allow=["positional.permutation_equivariance_gap"]):
        with pytest.raises(ReferenceUsedError, match="attention_scores"):
            positional.permutation_equivariance_gap(student, x, perm)


def test_an_allowed_class_may_be_built_and_a_locked_one_may_not():
    with references_blocked(allow=["positional.SinusoidalPositionalEncoding.forward"]):
        module = positional.SinusoidalPositionalEncoding(8, 16)  # its constructor builds the table
        assert module(torch.zeros(1, 3, 8)).shape == (1, 3, 8)
    with references_blocked():
        with pytest.raises(ReferenceUsedError, match="sinusoidal_encoding"):
            positional.SinusoidalPositionalEncoding(8, 16)


def test_load_all_and_owner():
    registry = load_all()
    assert {"multihead.split_heads", "positional.sinusoidal_encoding", MHA} <= set(registry)
    assert owner("split_heads") == "multihead" and owner("MultiHeadAttention") == "multihead"
    assert owner("scaled_dot_product_attention") == "attention"
    with pytest.raises(KeyError, match="no course_lib reference"):
        owner("not_a_reference")
