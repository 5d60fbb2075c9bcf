"""course_lib.positional against closed forms written here (tolerance 1e-5 float32)."""

import math

import pytest
import torch
from torch import nn

from course_lib import multihead as M
from course_lib import positional as P
from course_lib.order_task import OrderClassifier, OrderClassifierConfig

TOL = dict(atol=1e-5, rtol=1e-5)


def _closed_form(T, d, dtype=torch.float32):
    return torch.tensor(
        [
            [math.sin(p / 10000 ** (j / d)) if j % 2 == 0 else math.cos(p / 10000 ** ((j - 1) / d)) for j in range(d)]
            for p in range(T)
        ],
        dtype=dtype,
    )


@pytest.mark.parametrize("T, d", [(1, 2), (7, 4), (50, 16), (128, 64)])
def test_sinusoidal_encoding_matches_closed_form(T, d):
    torch.testing.assert_close(P.sinusoidal_encoding(T, d), _closed_form(T, d), **TOL)


def test_sinusoidal_module_adds_a_buffer_not_a_parameter():
    pe = P.SinusoidalPositionalEncoding(16, max_len=40)
    assert "pe" in dict(pe.named_buffers()) and not list(pe.parameters())
    assert "pe" in pe.state_dict() and pe.pe.shape == (40, 16)
    x = torch.randn(3, 9, 16)
    torch.testing.assert_close(pe(x), x + _closed_form(9, 16), **TOL)


def test_learned_embedding_is_a_parameter_and_adds():
    pe = P.LearnedPositionalEmbedding(10, 8)
    assert sum(p.numel() for p in pe.parameters()) == 80
    x = torch.zeros(2, 4, 8)
    torch.testing.assert_close(pe(x), pe.embedding.weight[:4].expand(2, 4, 8))


@pytest.mark.parametrize("d", [2, 8, 64])
@pytest.mark.parametrize("k", [0, 1, 5, -3, 37])
def test_offset_rotation_maps_pe_pos_to_pe_pos_plus_k(d, k):
    table = _closed_form(200, d, torch.float64).float()
    Mk = P.offset_rotation(k, d)
    pos = torch.arange(max(0, -k), 200 - max(k, 0))
    torch.testing.assert_close(table[pos] @ Mk.T, table[pos + k], atol=2e-5, rtol=1e-5)
    torch.testing.assert_close(Mk @ Mk.T, torch.eye(d), atol=1e-6, rtol=0)  # a rotation


def test_naive_schemes():
    assert P.index_encoding(4).tolist() == [0, 1, 2, 3]
    assert P.normalized_encoding(6)[4].item() == pytest.approx(P.normalized_encoding(3)[2].item())  # 4/6 = 2/3
    assert P.binary_encoding(6, 3).tolist() == [[(p >> b) & 1 for b in range(3)] for p in range(6)]
    assert P.colliding_pairs(P.binary_encoding(10, 3)) == [(0, 8), (1, 9)]
    assert P.colliding_pairs(P.sinusoidal_encoding(100, 16)) == []


@pytest.mark.parametrize("use_sdpa", [False, True])
def test_self_attention_without_positions_is_permutation_equivariant(use_sdpa):
    torch.manual_seed(0)
    attn = M.MultiHeadAttention(16, 4, use_sdpa=use_sdpa).eval()
    x, perm = torch.randn(2, 9, 16), torch.randperm(9)
    assert P.permutation_equivariance_gap(attn, x, perm) < 1e-5
    with_pos = nn.Sequential(P.SinusoidalPositionalEncoding(16), attn)
    assert P.permutation_equivariance_gap(with_pos, x, perm) > 1e-2


def test_rope_scores_depend_only_on_offset():
    q, k = torch.randn(1, 16), torch.randn(1, 16)
    T = 20
    qs, ks = P.rotary_embedding(q.expand(T, 16)), P.rotary_embedding(k.expand(T, 16))
    scores = qs @ ks.T  # (T, T)
    for off in (0, 3, -5):
        diag = torch.diagonal(scores, offset=off)
        torch.testing.assert_close(diag, diag[:1].expand_as(diag), atol=1e-4, rtol=1e-4)


def test_positional_encodings_keep_device():
    assert P.sinusoidal_encoding(3, 4, device="meta").device.type == "meta"
    assert P.offset_rotation(2, 4, device="meta").device.type == "meta"
    assert P.binary_encoding(3, 2, device="meta").device.type == "meta"
    assert P.SinusoidalPositionalEncoding(4, 8).to("meta")(torch.ones(1, 3, 4, device="meta")).device.type == "meta"


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: P.sinusoidal_encoding(5, 7), r"d must be even.*got d=7"),
        (lambda: P.sinusoidal_encoding(0, 4), r"T must be a positive int; got 0"),
        (lambda: P.SinusoidalPositionalEncoding(8, 4)(torch.ones(1, 5, 8)), r"T=5 exceeds max_len=4"),
        (
            lambda: P.SinusoidalPositionalEncoding(8, 4)(torch.ones(1, 3, 6)),
            r"x must be \(B, T, d_model=8\); got x \(1, 3, 6\)",
        ),
        (
            lambda: P.LearnedPositionalEmbedding(4, 8)(torch.ones(3, 8)),
            r"x must be \(B, T, d_model=8\); got x \(3, 8\)",
        ),
        (lambda: P.offset_rotation(1, 5), r"d must be even; got d=5"),
        (lambda: P.binary_encoding(4, 0), r"n_bits must be a positive int; got 0"),
        (lambda: P.permutation_equivariance_gap(nn.Identity(), torch.ones(1, 4, 2), torch.arange(3)), r"perm \(3,\)"),
    ],
)
def test_bad_input_raises_clear_error(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


def test_order_task_is_balanced_and_both_markers_appear_once():
    from course_lib.data.order import MARKER_A, MARKER_B, make_order_task

    x, y = make_order_task(500, length=10, seed=3)
    assert x.shape == (500, 10) and y.shape == (500,)
    assert ((x == MARKER_A).sum(1) == 1).all() and ((x == MARKER_B).sum(1) == 1).all()
    first_a = (x == MARKER_A).float().argmax(1) < (x == MARKER_B).float().argmax(1)
    assert torch.equal(first_a.long(), y) and 0.4 < y.float().mean() < 0.6
    assert torch.equal(make_order_task(20, seed=1)[0], make_order_task(20, seed=1)[0])


@pytest.mark.parametrize("positions", ["none", "sinusoidal", "learned"])
def test_order_classifier_shapes_and_invariance_without_positions(positions):
    torch.manual_seed(0)
    model = OrderClassifier(OrderClassifierConfig(position=positions)).eval()
    x = torch.randint(0, 22, (4, 16))
    out, out_perm = model(x), model(x[:, torch.randperm(16)])
    assert out.shape == (4, 2)
    assert torch.allclose(out, out_perm, atol=1e-5) == (positions == "none")


def test_concept_modules_are_leaves():
    """multihead and positional import no other chapter's module (chapter 3's attention aside):
    the experiment models that combine them live in head_tagging and order_task."""
    import ast
    from pathlib import Path

    import course_lib

    for name, allowed in (("multihead", {"attention", "reference"}), ("positional", {"reference"})):
        tree = ast.parse((Path(course_lib.__file__).parent / f"{name}.py").read_text())
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level == 1}
        assert imported <= allowed, f"{name}.py imports {imported - allowed}"
