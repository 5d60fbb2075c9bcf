"""Diagnosis (course_lib.diagnosis): named only when it is that mistake, never a false one, never a
crash, a hang or a leak. Chapter 3 is the worked case: three different correct implementations of
every exercise earn full marks with no mistake named."""

import math
import time

import pytest
import torch
import torch.nn.functional as F

from course_lib import diagnosis, grading, mistakes
from course_lib.mistakes import Mistake
from tests.in_process import solution_namespace
from tests.notebook_tools import graded_cells, load, nbgrader_meta, run_cell

CHAPTER = "03_attention"


# --- three correct implementations of every chapter 3 exercise, each written differently ----------------------
def scores_einsum(q, k):
    return torch.einsum("...ld,...sd->...ls", q, k) / math.sqrt(q.shape[-1])


def scores_matmul_mT(q, k):
    return torch.matmul(q / q.shape[-1] ** 0.5, k.mT)


def scores_loops(q, k):
    out = torch.empty(*q.shape[:-1], k.shape[-2], dtype=q.dtype, device=q.device)
    for j in range(k.shape[-2]):
        out[..., j] = (q * k[..., j : j + 1, :]).sum(-1) / math.sqrt(q.shape[-1])
    return out


def variance_bmm(d_k, n_samples=20_000, scaled=False, generator=None):
    q = torch.randn(n_samples, d_k, generator=generator)
    k = torch.randn(n_samples, d_k, generator=generator)
    dots = torch.bmm(q[:, None, :], k[:, :, None]).flatten()
    return float(torch.var(dots / (d_k**0.5 if scaled else 1.0)))


def variance_by_hand(d_k, n_samples=20_000, scaled=False, generator=None):
    q = torch.randn(n_samples, d_k, generator=generator)
    k = torch.randn(n_samples, d_k, generator=generator)
    dots = torch.einsum("nd,nd->n", q, k) * (1 / math.sqrt(d_k) if scaled else 1)
    return (((dots - dots.mean()) ** 2).sum() / (n_samples - 1)).item()


def variance_float64(d_k, n_samples=20_000, scaled=False, generator=None):
    q = torch.randn(n_samples, d_k, generator=generator)
    k = torch.randn(n_samples, d_k, generator=generator)
    dots = (q.double() * k.double()).sum(-1)
    return (dots / math.sqrt(d_k) if scaled else dots).var().item()


def sdpa_masked_fill(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else scores + mask
    return scores.softmax(-1) @ v


def sdpa_add_minus_inf(q, k, v, mask=None):
    scores = torch.einsum("...ld,...sd->...ls", q, k) / math.sqrt(q.shape[-1])
    if mask is not None and mask.dtype == torch.bool:
        mask = torch.zeros(mask.shape, device=q.device).masked_fill(~mask, float("-inf"))
    if mask is not None:
        scores = scores + mask
    return torch.einsum("...ls,...sd->...ld", torch.softmax(scores, dim=-1), v)


def sdpa_where_and_exp(q, k, v, mask=None):
    scores = q @ k.mT * q.shape[-1] ** -0.5
    if mask is not None:
        scores = (
            torch.where(mask, scores, torch.tensor(float("-inf"), device=q.device))
            if mask.dtype == torch.bool
            else scores + mask
        )
    weights = (scores - scores.amax(-1, keepdim=True)).exp()
    return weights / weights.sum(-1, keepdim=True) @ v


def causal_tril(L, S=None, device=None):
    return torch.tril(torch.ones(L, L if S is None else S, device=device)).bool()


def causal_compare(L, S=None, device=None):
    S = L if S is None else S
    return torch.arange(S, device=device)[None, :] <= torch.arange(L, device=device)[:, None]


def causal_triu_inverted(L, S=None, device=None):
    return ~torch.ones(L, L if S is None else S, dtype=torch.bool, device=device).triu(diagonal=1)


def padding_compare(lengths, S):
    return (torch.arange(S, device=lengths.device) < lengths[:, None]).unsqueeze(1)


def padding_loop(lengths, S):
    mask = torch.zeros(len(lengths), 1, S, dtype=torch.bool, device=lengths.device)
    for b, n in enumerate(lengths.tolist()):
        mask[b, 0, :n] = True
    return mask


def padding_cumsum(lengths, S):
    ones = torch.ones(len(lengths), S, dtype=torch.long, device=lengths.device)
    return (ones.cumsum(-1) <= lengths[:, None])[:, None, :]


CORRECT = {
    "attention_scores": [scores_einsum, scores_matmul_mT, scores_loops],
    "dot_product_variance": [variance_bmm, variance_by_hand, variance_float64],
    "scaled_dot_product_attention": [sdpa_masked_fill, sdpa_add_minus_inf, sdpa_where_and_exp],
    "causal_mask": [causal_tril, causal_compare, causal_triu_inverted],
    "padding_mask": [padding_compare, padding_loop, padding_cumsum],
}


def _renamed(fn, name):
    def student(*args, **kwargs):
        return fn(*args, **kwargs)

    student.__name__ = name
    return student


@pytest.fixture(scope="module")
def namespace():
    return solution_namespace(CHAPTER)


@pytest.mark.parametrize("cell", graded_cells(load("solutions", CHAPTER)), ids=lambda c: nbgrader_meta(c)["grade_id"])
def test_three_correct_implementations_earn_full_marks_with_no_mistake_named(namespace, cell):
    tested = [name for name in CORRECT if name in cell.source]
    assert tested, "every graded cell tests one of the exercises above"
    for name in tested:
        for implementation in CORRECT[name]:
            run_cell(cell.source, {**namespace, name: _renamed(implementation, name)})  # raises on any failure


# --- no registered mistake matches: today's message -----------------------------------------------------------
def test_an_unknown_mistake_gets_the_plain_message():
    def scaled_dot_product_attention(q, k, v, mask=None):
        return torch.zeros(*q.shape[:-1], v.shape[-1])

    q, k, v = grading.randn(2, 3, 4, seed=0), grading.randn(2, 5, 4, seed=1), grading.randn(2, 5, 6, seed=2)
    got = grading.run_student(scaled_dot_product_attention, q, k, v)
    with pytest.raises(AssertionError) as err:
        grading.assert_close(got, F.scaled_dot_product_attention(q, k, v), "attention")
    assert "[mistake" not in str(err.value) and str(err.value).startswith("attention: values differ")


def test_a_named_mistake_comes_first_with_its_hint():
    mistake = diagnosis.by_key("03_attention:softmax-over-queries")
    q, k, v = grading.randn(5, 4, seed=0), grading.randn(6, 4, seed=1), grading.randn(6, 2, seed=2)
    got = grading.run_student(mistakes.as_student_code(mistake), q, k, v)
    with pytest.raises(AssertionError) as err:
        grading.assert_close(got, F.scaled_dot_product_attention(q, k, v), "attention")
    message = str(err.value)
    assert message.startswith(f"Likely mistake: {mistake.explanation} Hint: {mistake.hint} [mistake {mistake.key}]")
    assert "Details: attention: values differ" in message


# --- a broken catalogue entry changes nothing -------------------------------------------------------------------
def _fake(id_, impl, replaces="scaled_dot_product_attention"):
    return Mistake(id_, "99_test", "test_x", replaces, f"explanation {id_}", f"hint {id_}", impl)


def _raises(q, k, v, mask=None):
    raise RuntimeError("broken mistake")


def _sleeps(q, k, v, mask=None):
    time.sleep(30)


def _prints(q, k, v, mask=None):
    print("x" * 10_000)
    return torch.zeros(1)


def test_mistakes_that_raise_hang_or_print_change_nothing(monkeypatch, capsys):
    monkeypatch.setattr(
        diagnosis,
        "_CATALOGUE",
        (_fake("raises", _raises), _fake("sleeps", _sleeps), _fake("prints", _prints)) + diagnosis._CATALOGUE,
    )
    wrong = mistakes.as_student_code(diagnosis.by_key("03_attention:sdpa-unscaled"))
    q, k, v = (3 * grading.randn(2, 4, 16, seed=s) for s in (1, 2, 3))
    start = time.monotonic()
    got = grading.run_student(wrong, q, k, v)
    with pytest.raises(AssertionError, match=r"\[mistake 03_attention:sdpa-unscaled\]"):
        grading.assert_close(got, F.scaled_dot_product_attention(q, k, v), "attention")
    assert time.monotonic() - start < diagnosis.PER_MISTAKE_S + 5  # the sleeper was cut at its limit
    assert "xxxxxxxx" not in capsys.readouterr().out
    grading.assert_close(got, got.clone(), "the same answer")  # a correct answer still passes, diagnosis or not


def test_diagnosis_never_changes_a_pass_into_a_fail(monkeypatch):
    calls = []
    monkeypatch.setattr(diagnosis, "_CATALOGUE", (_fake("spy", lambda *a, **k: calls.append(a)),))
    q = grading.randn(3, 4, seed=0)
    got = grading.run_student(lambda x: x * 2, q)
    grading.assert_close(got, q * 2, "doubling")
    assert calls == []  # mistakes run only after a comparison failed


# --- diagnosis cannot be used to read the solution or the hidden tests ------------------------------------------
def test_mistakes_a_submission_registers_are_never_run():
    """The catalogue is snapshotted before student code runs: a 'mistake' added later never sees hidden inputs."""
    seen = []
    from course_lib.mistakes import ch03_attention

    fake = _fake("spy", lambda q, *a, **k: seen.append(q.clone()) or q)
    ch03_attention.catalogue.mistakes.append(fake)
    try:
        assert fake not in diagnosis._CATALOGUE

        def scaled_dot_product_attention(q, k, v, mask=None):
            return q

        q, k, v = grading.randn(2, 3, 4, seed=5), grading.randn(2, 3, 4, seed=6), grading.randn(2, 3, 4, seed=7)
        got = grading.run_student(scaled_dot_product_attention, q, k, v)
        with pytest.raises(AssertionError):
            grading.assert_close(got, F.scaled_dot_product_attention(q, k, v), "attention")
    finally:
        ch03_attention.catalogue.mistakes.remove(fake)
    assert seen == []


def test_replayed_mistakes_run_under_the_student_guards(monkeypatch):
    """A catalogue entry cannot reach course_lib's reference (the solution) or forbidden torch functions."""
    from course_lib import attention
    from course_lib.reference import ReferenceUsedError

    outcomes = []

    def calls_reference(q, k, v, mask=None):
        try:
            return attention.scaled_dot_product_attention(q, k, v)
        except ReferenceUsedError:
            outcomes.append("reference blocked")
            raise

    def calls_torch(q, k, v, mask=None):
        try:
            return F.scaled_dot_product_attention(q, k, v)
        except grading.ForbiddenFunctionError:
            outcomes.append("torch forbidden")
            raise

    monkeypatch.setattr(
        diagnosis, "_CATALOGUE", (_fake("calls-reference", calls_reference), _fake("calls-torch", calls_torch))
    )
    q, k, v = grading.randn(2, 3, 4, seed=5), grading.randn(2, 3, 4, seed=6), grading.randn(2, 3, 4, seed=7)

    def scaled_dot_product_attention(q, k, v, mask=None):
        return q  # wrong, so the diagnosis runs

    got = grading.run_student(scaled_dot_product_attention, q, k, v, forbid=grading.TORCH_ATTENTION)
    with pytest.raises(AssertionError) as err:
        grading.assert_close(got, F.scaled_dot_product_attention(q, k, v), "attention")
    assert "[mistake" not in str(err.value)
    assert outcomes == ["reference blocked", "torch forbidden"]


def test_replays_get_copies_of_the_inputs():
    """A mistake (or the student's code) that changes its inputs in place cannot change the hidden test's tensors."""
    q = grading.randn(3, 4, seed=0)
    original = q.clone()

    def attention_scores(q, k):
        q.mul_(100)  # the student's code scribbles on its input
        return q @ k.T

    got = grading.run_student(attention_scores, q, q.clone())
    call = grading._LAST_CALL[0]
    assert torch.equal(call.args[0], original)  # the recorded copy is what the hidden test passed
    assert not torch.equal(got, original @ original.T)
