"""course_lib.multihead against torch.nn.MultiheadAttention(batch_first=True) (tolerance 1e-5 float32).

nn.MultiheadAttention's boolean masks mean True = BLOCKED; ours (chapter 3, SDPA) mean True = may
attend, so every comparison passes ``~mask`` to torch.
"""

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from course_lib import attention as A
from course_lib import multihead as M
from course_lib.head_tagging import HeadTagger, HeadTaggerConfig

TOL = dict(atol=1e-5, rtol=1e-5)


def _pair(C, h, bias=True, seed=0, use_sdpa=False):
    torch.manual_seed(seed)
    theirs = nn.MultiheadAttention(C, h, bias=bias, batch_first=True).eval()
    with torch.no_grad():  # torch zero-initialises the biases: make them matter
        for p in theirs.parameters():
            p.add_(0.1 * torch.randn_like(p))
    ours = M.copy_from_torch(M.MultiHeadAttention(C, h, bias=bias, use_sdpa=use_sdpa), theirs).eval()
    return ours, theirs


def _x(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("B, T, C, h", [(2, 5, 12, 3), (1, 1, 4, 4), (3, 7, 16, 1), (2, 4, 8, 2)])
def test_split_heads_matches_view_transpose_and_merge_inverts(B, T, C, h):
    x = _x(B, T, C)
    s = M.split_heads(x, h)
    assert s.shape == (B, h, T, C // h)
    for head in range(h):  # head i holds channels [i·d, (i+1)·d) of every token
        torch.testing.assert_close(s[:, head], x[..., head * (C // h) : (head + 1) * (C // h)])
    torch.testing.assert_close(M.merge_heads(s), x)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("use_sdpa", [False, True])
@pytest.mark.parametrize("B, L, S, C, h", [(2, 5, 5, 12, 3), (3, 4, 7, 16, 4), (1, 1, 3, 8, 1), (2, 6, 2, 8, 8)])
def test_matches_torch_self_and_cross_attention(bias, use_sdpa, B, L, S, C, h):
    ours, theirs = _pair(C, h, bias, seed=L * S, use_sdpa=use_sdpa)
    q, kv = _x(B, L, C, seed=1), _x(B, S, C, seed=2)
    with torch.no_grad():
        if L == S:  # self-attention: key and value default to the query
            torch.testing.assert_close(ours(q), theirs(q, q, q, need_weights=False)[0], **TOL)
        torch.testing.assert_close(ours(q, kv, kv), theirs(q, kv, kv, need_weights=False)[0], **TOL)


@pytest.mark.parametrize("use_sdpa", [False, True])
def test_cross_attention_with_distinct_key_and_value(use_sdpa):
    ours, theirs = _pair(8, 2, seed=3, use_sdpa=use_sdpa)
    q, k, v = _x(2, 3, 8, seed=4), _x(2, 5, 8, seed=5), _x(2, 5, 8, seed=6)
    with torch.no_grad():
        torch.testing.assert_close(ours(q, k, v), theirs(q, k, v)[0], **TOL)


@pytest.mark.parametrize("use_sdpa", [False, True])
def test_key_padding_mask_matches_torch(use_sdpa):
    ours, theirs = _pair(12, 3, seed=7, use_sdpa=use_sdpa)
    q, kv = _x(3, 4, 12, seed=8), _x(3, 6, 12, seed=9)
    mask = A.padding_mask(torch.tensor([6, 2, 4]), 6)  # (B, 1, S), True = real token
    with torch.no_grad():
        expected = theirs(q, kv, kv, key_padding_mask=~mask[:, 0])[0]  # torch: True = padding
        torch.testing.assert_close(ours(q, kv, kv, mask=mask), expected, **TOL)


@pytest.mark.parametrize("use_sdpa", [False, True])
def test_causal_mask_matches_torch(use_sdpa):
    ours, theirs = _pair(16, 4, seed=10, use_sdpa=use_sdpa)
    x = _x(2, 6, 16, seed=11)
    mask = A.causal_mask(6)  # (L, S), True on and below the diagonal
    with torch.no_grad():
        torch.testing.assert_close(ours(x, mask=mask), theirs(x, x, x, attn_mask=~mask)[0], **TOL)


@pytest.mark.parametrize("use_sdpa", [False, True])
def test_per_batch_mask_and_float_mask_match_torch(use_sdpa):
    ours, theirs = _pair(8, 2, seed=12, use_sdpa=use_sdpa)
    q, kv = _x(2, 3, 8, seed=13), _x(2, 5, 8, seed=14)
    mask = torch.rand(2, 3, 5, generator=torch.Generator().manual_seed(0)) > 0.4  # (B, L, S)
    mask[..., 0] = True
    bias = _x(3, 5, seed=15)  # float (L, S), added to the scores
    with torch.no_grad():
        torch_mask = (~mask).repeat_interleave(2, dim=0)  # torch wants (B·h, L, S)
        torch.testing.assert_close(ours(q, kv, kv, mask=mask), theirs(q, kv, kv, attn_mask=torch_mask)[0], **TOL)
        torch.testing.assert_close(ours(q, kv, kv, mask=bias), theirs(q, kv, kv, attn_mask=bias)[0], **TOL)


def test_need_weights_returns_per_head_weights_like_torch():
    ours, theirs = _pair(12, 3, seed=16)
    q, kv = _x(2, 4, 12, seed=17), _x(2, 5, 12, seed=18)
    mask = A.padding_mask(torch.tensor([5, 3]), 5)
    with torch.no_grad():
        out, w = ours(q, kv, kv, mask=mask, need_weights=True)
        t_out, t_w = theirs(q, kv, kv, key_padding_mask=~mask[:, 0], need_weights=True, average_attn_weights=False)
    assert w.shape == (2, 3, 4, 5)
    torch.testing.assert_close(out, t_out, **TOL)
    torch.testing.assert_close(w, t_w, **TOL)
    assert torch.all(w[1, ..., 3:] == 0)


def test_sdpa_flag_agrees_with_explicit_path_including_gradients():
    explicit, _ = _pair(16, 4, seed=19)
    fast = M.MultiHeadAttention(16, 4, use_sdpa=True)
    fast.load_state_dict(explicit.state_dict())
    x = _x(3, 9, 16, seed=20).requires_grad_()
    mask = A.causal_mask(9)
    a, b = explicit(x, mask=mask), fast(x, mask=mask)
    torch.testing.assert_close(a, b, **TOL)
    ga = torch.autograd.grad(a.square().sum(), explicit.q_proj.weight)[0]
    gb = torch.autograd.grad(b.square().sum(), fast.q_proj.weight)[0]
    torch.testing.assert_close(ga, gb, atol=1e-4, rtol=1e-4)


def test_fully_masked_query_gives_zeros_on_both_paths():
    explicit, _ = _pair(8, 2, seed=21)
    fast = M.MultiHeadAttention(8, 2, use_sdpa=True)
    fast.load_state_dict(explicit.state_dict())
    mask = torch.tensor([[True, False], [False, False]])
    x = _x(1, 2, 8, seed=22)
    a, b = explicit(x, mask=mask), fast(x, mask=mask)
    assert not torch.isnan(a).any()
    torch.testing.assert_close(a, b, **TOL)


def test_dropout_only_in_training():
    layer = M.MultiHeadAttention(8, 2, dropout=0.5)
    x = _x(2, 6, 8, seed=23)
    layer.eval()
    torch.testing.assert_close(layer(x), layer(x))
    layer.train()
    torch.manual_seed(0)
    assert not torch.allclose(layer(x), layer.eval()(x))


def test_layer_is_one_wide_head_when_h_is_1():
    layer = M.MultiHeadAttention(8, 1, bias=False)
    x = _x(2, 5, 8, seed=24)
    with torch.no_grad():
        q, k, v = layer.q_proj(x), layer.k_proj(x), layer.v_proj(x)
        expected = layer.out_proj(A.scaled_dot_product_attention(q, k, v))
        torch.testing.assert_close(layer(x), expected, **TOL)


@pytest.mark.parametrize("C, h, bias", [(12, 3, True), (64, 8, False), (8, 1, True)])
def test_param_count_matches_module(C, h, bias):
    assert M.mha_param_count(C, h, bias) == sum(p.numel() for p in M.MultiHeadAttention(C, h, bias=bias).parameters())
    assert M.mha_param_count(C, h, bias) == sum(p.numel() for p in nn.MultiheadAttention(C, h, bias=bias).parameters())


@pytest.mark.parametrize("n, C, h", [(5, 12, 3), (16, 32, 4), (1, 8, 8)])
def test_flops_match_torch_flop_counter(n, C, h):
    layer = M.MultiHeadAttention(C, h)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        layer(torch.randn(1, n, C))
    assert M.mha_flops(n, C, h) == counter.get_total_flops()


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: M.split_heads(torch.ones(2, 5, 10), 3), r"C = 10.*divisible by n_heads = 3; got x \(2, 5, 10\)"),
        (lambda: M.split_heads(torch.ones(5, 10), 2), r"x must be \(B, T, C\); got shape \(5, 10\)"),
        (lambda: M.merge_heads(torch.ones(2, 5, 10)), r"x must be \(B, h, T, d_head\); got shape \(2, 5, 10\)"),
        (
            lambda: M.MultiHeadAttention(10, 3),
            r"d_model must be a positive multiple of n_heads; got d_model=10, n_heads=3",
        ),
        (
            lambda: M.MultiHeadAttention(8, 2)(torch.ones(2, 5, 6)),
            r"query must be \(B, T, d_model=8\); got query \(2, 5, 6\)",
        ),
        (
            lambda: M.MultiHeadAttention(8, 2)(torch.ones(2, 5, 8), torch.ones(3, 4, 8)),
            r"share the batch size B.*key \(3, 4, 8\)",
        ),
        (
            lambda: M.MultiHeadAttention(8, 2)(torch.ones(2, 5, 8), torch.ones(2, 4, 8), torch.ones(2, 3, 8)),
            r"same length S.*value \(2, 3, 8\)",
        ),
        (
            lambda: M.MultiHeadAttention(8, 2)(torch.ones(2, 5, 8), mask=torch.ones(5, 4, dtype=torch.bool)),
            r"mask must be \(L, S\) = \(5, 5\).*got mask \(5, 4\)",
        ),
        (
            lambda: M.MultiHeadAttention(8, 2)(torch.ones(2, 5, 8), mask=torch.ones(3, 1, 5, dtype=torch.bool)),
            r"\(B, 1, S\) = \(2, 1, 5\).*got mask \(3, 1, 5\)",
        ),
        (
            lambda: M.MultiHeadAttention(8, 2)(torch.ones(2, 5, 8), mask=torch.ones(5, 5, dtype=torch.long)),
            r"mask must be bool.*torch.int64",
        ),
        (lambda: M.mha_param_count(10, 4), r"divisible by n_heads; got d_model=10, n_heads=4"),
        (lambda: M.mha_flops(0, 8, 2), r"n must be a positive int; got 0"),
    ],
)
def test_bad_input_raises_clear_error(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


def test_runs_on_meta_device():
    layer = M.MultiHeadAttention(8, 2).to("meta")
    out, w = layer(torch.ones(2, 3, 8, device="meta"), mask=A.causal_mask(3, device="meta"), need_weights=True)
    assert out.device.type == "meta" and w.shape == (2, 2, 3, 3)


def test_tagging_data_targets_and_head_tagger_shapes():
    from course_lib.data.tagging import IGNORE, TAGGING_TASKS, make_tagging_data

    data = make_tagging_data(30, seed=0)
    N, T = data.tokens.shape
    assert data.targets.shape == (N, T, len(TAGGING_TASKS))
    ids, n = data.tokens[0], int(data.lengths[0])
    assert data.targets[0, 1, 0] == ids[0] and data.targets[0, 0, 1] == ids[1]  # previous, next
    assert data.targets[0, 0, 0] == IGNORE and data.targets[0, n - 1, 1] == IGNORE
    model = HeadTagger(HeadTaggerConfig(vocab_size=len(data.vocab), n_classes=data.n_classes(), d_model=16, n_heads=4))
    outs = model(data.tokens[:3])
    assert [o.shape for o in outs] == [(3, T, c) for c in data.n_classes()]
    assert model.last_weights.shape == (3, 4, T, T)
