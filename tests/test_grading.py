"""course_lib.grading and course_lib.reference: the helpers hidden tests rely on."""

import pytest
import torch
import torch.nn.functional as F

from course_lib import attention as A
from course_lib import grading
from course_lib.reference import REGISTRY, ReferenceUsedError, references_blocked


def test_references_raise_only_inside_the_guard():
    q = torch.randn(2, 3)
    A.attention_scores(q, q)  # fine outside
    with references_blocked():
        with pytest.raises(ReferenceUsedError, match=r"attention.attention_scores\(\)"):
            A.attention_scores(q, q)
    A.attention_scores(q, q)  # restored


def test_guard_catches_names_bound_before_it_started():
    from course_lib.attention import causal_mask as bound_early

    def student(L):
        return bound_early(L)

    with pytest.raises(ReferenceUsedError):
        grading.run_student(student, 3)


def test_guard_allow_list_and_unknown_names():
    with references_blocked(allow=["attention.causal_mask"]):
        assert A.causal_mask(2).shape == (2, 2)
        with pytest.raises(ReferenceUsedError):
            A.padding_mask(torch.tensor([1]), 2)
    with pytest.raises(KeyError, match="unknown references"):
        with references_blocked(allow=["attention.nope"]):
            pass


def test_every_reference_is_registered_under_module_and_name():
    assert {
        "attention.attention_scores",
        "attention.scaled_dot_product_attention",
        "attention.causal_mask",
        "attention.padding_mask",
        "attention.dot_product_variance",
    } <= set(REGISTRY)


def test_run_student_forbids_torch_attention_even_when_imported_directly():
    from torch.nn.functional import scaled_dot_product_attention as sdpa

    q = torch.randn(2, 4, 8)
    with pytest.raises(grading.ForbiddenFunctionError, match="scaled_dot_product_attention"):
        grading.run_student(lambda a: sdpa(a, a, a), q, forbid=grading.TORCH_ATTENTION)
    with pytest.raises(grading.ForbiddenFunctionError):
        grading.run_student(
            lambda a: torch.nn.MultiheadAttention(8, 2, batch_first=True)(a, a, a), q, forbid=grading.TORCH_ATTENTION
        )
    # outside the guard torch works again
    F.scaled_dot_product_attention(q, q, q)


def test_assert_close_messages_are_actionable():
    expected = torch.zeros(2, 4, 5, 5)
    with pytest.raises(AssertionError, match=r"expected shape \(2, 4, 5, 5\), got \(2, 5, 4, 5\)"):
        grading.assert_close(torch.zeros(2, 5, 4, 5), expected, "mha")
    with pytest.raises(AssertionError, match="contains NaN"):
        grading.assert_close(torch.full((2, 4, 5, 5), float("nan")), expected, "mha")
    wrong = expected.clone()
    wrong[1, 2, 3, 4] = 0.5
    with pytest.raises(AssertionError, match=r"first at index \(1, 2, 3, 4\): got 0.5, expected 0"):
        grading.assert_close(wrong, expected, "mha")
    with pytest.raises(AssertionError, match="should return a torch.Tensor; got list"):
        grading.assert_close([0.0], expected, "mha")
    with pytest.raises(AssertionError, match="expected dtype torch.float32, got torch.float64"):
        grading.assert_close(expected.double(), expected, "mha")
    grading.assert_close(expected + 1e-7, expected, "mha")


def test_assert_close_on_boolean_tensors_names_first_difference():
    expected = torch.ones(3, 3, dtype=torch.bool).tril()
    with pytest.raises(AssertionError, match=r"3 of 9 entries differ, first at index \(0, 1\)"):
        grading.assert_close(torch.ones(3, 3, dtype=torch.bool), expected, "causal_mask(3)")


def test_meta_device_check_catches_tensors_created_on_cpu():
    def forgets_device(q, k):
        return (q @ k.transpose(-2, -1)).masked_fill(~torch.ones(3, 4, dtype=torch.bool).tril(), 0.0)

    def keeps_device(q, k):
        return (q @ k.transpose(-2, -1)).masked_fill(~torch.ones(3, 4, dtype=torch.bool, device=q.device).tril(), 0.0)

    q, k = torch.randn(3, 8), torch.randn(4, 8)
    with pytest.raises(AssertionError, match="device=x.device"):
        grading.check_meta_device(forgets_device, q, k, expected_shape=(3, 4), what="scores")
    grading.check_meta_device(keeps_device, q, k, expected_shape=(3, 4), what="scores")


def test_monkeypatched_comparison_is_detected(monkeypatch):
    monkeypatch.setattr(torch, "isclose", lambda *a, **k: torch.ones(1, dtype=torch.bool))
    with pytest.raises(AssertionError, match="torch.isclose has been replaced"):
        grading.assert_close(torch.ones(2), torch.zeros(2), "x")


def test_randn_is_reproducible_and_independent_of_global_seed():
    a = grading.randn(3, 4, seed=1)
    torch.manual_seed(99)
    assert torch.equal(a, grading.randn(3, 4, seed=1))
    assert not torch.equal(a, grading.randn(3, 4, seed=2))


def test_using_swaps_names_and_restores_only_those():
    namespace = {"patchify": "yours", "P": 1}
    with grading.using(namespace, patchify="course's", extra="new"):
        assert namespace["patchify"] == "course's" and namespace["extra"] == "new"
        namespace["P"] = 4  # an assignment made inside the block stays
    assert namespace == {"patchify": "yours", "P": 4}
    with pytest.raises(RuntimeError), grading.using(namespace, patchify="course's"):
        raise RuntimeError("a failing test still puts the student's function back")
    assert namespace["patchify"] == "yours"
