"""course_lib.attention and course_lib.similarity against torch's SDPA (tolerance 1e-5 float32)."""

import math

import pytest
import torch
import torch.nn.functional as F

from course_lib import attention as A
from course_lib import similarity as S

TOL = dict(atol=1e-5, rtol=1e-5)

SHAPES = [  # (q shape, k shape, v shape)
    ((5, 8), (7, 8), (7, 3)),
    ((2, 4, 16), (2, 6, 16), (2, 6, 16)),
    ((2, 3, 5, 4), (2, 3, 9, 4), (2, 3, 9, 6)),
    ((1, 1, 1), (1, 1, 1), (1, 1, 1)),
]


def _qkv(shapes, seed):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(*s, generator=g) for s in shapes]


@pytest.mark.parametrize("shapes", SHAPES)
def test_sdpa_matches_torch_without_mask(shapes):
    q, k, v = _qkv(shapes, 0)
    torch.testing.assert_close(A.scaled_dot_product_attention(q, k, v), F.scaled_dot_product_attention(q, k, v), **TOL)


@pytest.mark.parametrize("seed", range(3))
def test_sdpa_matches_torch_with_boolean_mask(seed):
    q, k, v = _qkv([(2, 3, 6, 8), (2, 3, 7, 8), (2, 3, 7, 5)], seed)
    mask = torch.rand(2, 3, 6, 7, generator=torch.Generator().manual_seed(seed)) > 0.4
    mask[..., seed] = True
    torch.testing.assert_close(
        A.scaled_dot_product_attention(q, k, v, mask), F.scaled_dot_product_attention(q, k, v, attn_mask=mask), **TOL
    )


def test_sdpa_matches_torch_with_float_mask_broadcast():
    q, k, v = _qkv([(2, 6, 8), (2, 7, 8), (2, 7, 5)], 1)
    bias = torch.randn(6, 7)
    torch.testing.assert_close(
        A.scaled_dot_product_attention(q, k, v, bias), F.scaled_dot_product_attention(q, k, v, attn_mask=bias), **TOL
    )


@pytest.mark.parametrize("T", [1, 4, 9])
def test_causal_mask_matches_is_causal(T):
    q, k, v = _qkv([(2, T, 8), (2, T, 8), (2, T, 3)], T)
    torch.testing.assert_close(
        A.scaled_dot_product_attention(q, k, v, A.causal_mask(T)),
        F.scaled_dot_product_attention(q, k, v, is_causal=True),
        **TOL,
    )


def test_causal_mask_blocks_future_positions():
    m = A.causal_mask(3, 5)
    assert m.dtype == torch.bool and m.shape == (3, 5)
    assert all(bool(m[i, j]) == (j <= i) for i in range(3) for j in range(5))


def test_fully_masked_row_gives_zeros_like_torch():
    q, k, v = _qkv([(3, 4), (3, 4), (3, 2)], 2)
    mask = torch.tensor([[False, False, False], [True, False, True], [True, True, True]])
    torch.testing.assert_close(
        A.scaled_dot_product_attention(q, k, v, mask), F.scaled_dot_product_attention(q, k, v, attn_mask=mask), **TOL
    )


def test_padding_mask_marks_real_tokens():
    m = A.padding_mask(torch.tensor([3, 1, 0]), 4)
    assert m.shape == (3, 1, 4)
    assert m[:, 0].tolist() == [[True, True, True, False], [True, False, False, False], [False] * 4]


def test_attention_weights_rows_sum_to_one_and_respect_mask():
    q, k = _qkv([(2, 5, 4), (2, 6, 4)], 3)
    mask = A.padding_mask(torch.tensor([6, 2]), 6)
    w = A.attention_weights(q, k, mask)
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 5))
    assert torch.all(w[1, :, 2:] == 0)


def test_attention_scores_closed_form():
    q, k = _qkv([(2, 3, 8), (2, 4, 8)], 4)
    expected = torch.einsum("bld,bsd->bls", q, k) / math.sqrt(8)
    torch.testing.assert_close(A.attention_scores(q, k), expected, **TOL)


def test_attention_returns_output_and_weights():
    q, k, v = _qkv([(4, 8), (6, 8), (6, 3)], 5)
    out, w = A.attention(q, k, v)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v), **TOL)
    assert w.shape == (4, 6)


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: A.attention_scores(torch.ones(2, 5, 8), torch.ones(2, 7, 16)),
            r"share the last dim d_k; got q \(2, 5, 8\) and k \(2, 7, 16\)",
        ),
        (
            lambda: A.scaled_dot_product_attention(torch.ones(5, 8), torch.ones(7, 8), torch.ones(6, 3)),
            r"same number of keys S.*k \(7, 8\) and v \(6, 3\)",
        ),
        (
            lambda: A.scaled_dot_product_attention(
                torch.ones(5, 8), torch.ones(7, 8), torch.ones(7, 3), torch.ones(5, 6, dtype=torch.bool)
            ),
            r"mask must broadcast.*\(5, 7\); got mask \(5, 6\)",
        ),
        (
            lambda: A.scaled_dot_product_attention(
                torch.ones(5, 8), torch.ones(7, 8), torch.ones(7, 3), torch.ones(5, 7, dtype=torch.long)
            ),
            r"mask must be bool.*torch.int64",
        ),
        (lambda: A.padding_mask(torch.tensor([[1, 2]]), 3), r"lengths must be 1-D \(B,\); got shape \(1, 2\)"),
        (lambda: A.padding_mask(torch.tensor([5]), 3), r"≤ S=3; got max length 5"),
        (lambda: A.causal_mask(0), r"L and S must be positive"),
    ],
)
def test_bad_input_raises_clear_error(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


@pytest.mark.parametrize("d_k", [1, 16, 128])
def test_dot_product_variance_matches_theory(d_k):
    g = torch.Generator().manual_seed(d_k)
    assert abs(A.dot_product_variance(d_k, 40_000, generator=g) - d_k) < 0.06 * d_k
    assert abs(A.dot_product_variance(d_k, 40_000, scaled=True, generator=g) - 1) < 0.06


def test_similarity_functions_closed_forms():
    q, k = _qkv([(3, 4), (5, 4)], 6)
    W = torch.randn(4, 4)
    torch.testing.assert_close(S.dot_similarity(q, k), torch.einsum("ld,sd->ls", q, k))
    torch.testing.assert_close(S.scaled_dot_similarity(q, k), torch.einsum("ld,sd->ls", q, k) / 2)
    torch.testing.assert_close(S.general_similarity(q, k, W), torch.einsum("ld,de,se->ls", q, W, k))
    Wq, Wk, w = torch.randn(6, 4), torch.randn(6, 4), torch.randn(6)
    expected = torch.tensor([[float(w @ torch.tanh(Wq @ q[i] + Wk @ k[j])) for j in range(5)] for i in range(3)])
    torch.testing.assert_close(S.additive_similarity(q, k, Wq, Wk, w), expected, **TOL)
    with pytest.raises(ValueError, match=r"W must be \(d_q, d_k\) = \(4, 4\); got \(3, 4\)"):
        S.general_similarity(q, k, torch.ones(3, 4))


def test_soft_lookup_tends_to_hard_lookup_as_temperature_falls():
    keys, values = torch.randn(6, 3), torch.randn(6, 2)
    query = keys[2] * 3
    hard = S.hard_lookup(query, keys, values)
    soft, weights = S.soft_lookup(query, keys, values, temperature=1e-3)
    torch.testing.assert_close(soft, hard, atol=1e-4, rtol=0)
    assert torch.isclose(weights.sum(), torch.tensor(1.0))


def test_attention_classifier_shapes_and_weights():
    model = A.AttentionClassifier(A.AttentionClassifierConfig(vocab_size=10, d_model=8, n_classes=3))
    logits = model(torch.randint(0, 10, (4, 7)))
    assert logits.shape == (4, 3)
    assert model.last_weights.shape == (4, 7)
    torch.testing.assert_close(model.last_weights.sum(-1), torch.ones(4))


def test_attention_classifier_learns_long_range_agreement_by_looking_at_the_noun():
    from torch.utils.data import DataLoader, TensorDataset

    from course_lib import training
    from course_lib.data import AGREEMENT_VOCAB, make_agreement_task

    torch.manual_seed(0)
    X, y = make_agreement_task(1000, 20, seed=0)
    Xv, yv = make_agreement_task(300, 20, seed=1)
    model = A.AttentionClassifier(A.AttentionClassifierConfig(vocab_size=len(AGREEMENT_VOCAB)))
    loader = DataLoader(TensorDataset(X, y), batch_size=64, shuffle=True, generator=torch.Generator().manual_seed(0))
    training.fit(model, loader, torch.optim.Adam(model.parameters(), lr=1e-2), 3, torch.device("cpu"), progress=False)
    model.eval()
    with torch.no_grad():
        accuracy = (model(Xv).argmax(-1) == yv).float().mean().item()
    assert accuracy > 0.85
    uniform = 1 / X.shape[1]
    assert model.last_weights[:, 0].mean() > 10 * uniform, "the query should put most of its weight on the noun"
