"""course_lib.length_extrapolation: minimum code distance, RoPE attention against a complex-number
oracle, and the learned table's untrained rows (float32, tolerance 1e-5)."""

import math

import pytest
import torch
import torch.nn.functional as F

from course_lib.data.order import make_order_task
from course_lib.length_extrapolation import (
    LengthClassifier,
    LengthClassifierConfig,
    RotarySelfAttention,
    min_pairwise_distance,
)


def test_min_pairwise_distance_is_the_closest_pair_of_different_positions():
    codes = torch.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0], [3.0, 6.0]])
    assert min_pairwise_distance(codes) == pytest.approx(1.0)
    assert min_pairwise_distance(torch.tensor([2.0, 7.0, 2.5])) == pytest.approx(0.5)
    assert min_pairwise_distance(torch.tensor([[1.0, 0.0], [1.0, 0.0]])) == 0.0


def test_min_pairwise_distance_needs_two_positions():
    with pytest.raises(ValueError, match="at least 2 positions"):
        min_pairwise_distance(torch.zeros(1, 4))


def _rope_complex(x, base=10000.0):
    """RoPE as in RoFormer/LLaMA: channel pairs as complex numbers times e^{i·pos·ω}."""
    T, d = x.shape[-2:]
    omega = base ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    angle = torch.arange(T, dtype=torch.float64)[:, None] * omega  # (T, d/2)
    z = torch.complex(x[..., 0::2].double(), x[..., 1::2].double()) * torch.polar(torch.ones_like(angle), angle)
    return torch.stack([z.real, z.imag], dim=-1).flatten(-2).float()


def test_rotary_self_attention_matches_a_complex_number_oracle():
    torch.manual_seed(0)
    attn = RotarySelfAttention(16, 2).eval()
    with torch.no_grad():
        for p in attn.parameters():
            p.normal_(0, 0.3)
    x = torch.randn(3, 7, 16)
    B, T, C = x.shape
    with torch.no_grad():
        q, k, v = (proj(x).view(B, T, 2, 8).transpose(1, 2) for proj in (attn.q_proj, attn.k_proj, attn.v_proj))
        weights = torch.softmax(_rope_complex(q) @ _rope_complex(k).transpose(-2, -1) / math.sqrt(8), dim=-1)
        expected = attn.out_proj((weights @ v).transpose(1, 2).reshape(B, T, C))
        torch.testing.assert_close(attn(x), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("positions", ["sinusoidal", "learned", "rotary"])
def test_length_classifier_reads_any_length_up_to_max_len(positions):
    model = LengthClassifier(LengthClassifierConfig(position=positions, max_len=32))
    tokens, _ = make_order_task(4, length=32, seed=0)
    assert model(tokens).shape == (4, 2)
    assert model(tokens[:, :16]).shape == (4, 2)
    with pytest.raises(ValueError, match="max_len=32"):
        model(torch.zeros(2, 33, dtype=torch.long))


def test_positions_make_the_classifier_order_sensitive():
    torch.manual_seed(0)
    for positions in ("sinusoidal", "learned", "rotary"):
        model = LengthClassifier(LengthClassifierConfig(position=positions)).eval()
        tokens, _ = make_order_task(3, length=16, seed=2)
        with torch.no_grad():
            gap = (model(tokens) - model(tokens.flip(1))).abs().max()
        assert gap > 1e-4, f"{positions}: reversing the tokens should change the logits"


def test_learned_rows_beyond_the_training_length_get_no_gradient():
    model = LengthClassifier(LengthClassifierConfig(position="learned", max_len=64))
    tokens, labels = make_order_task(8, length=16, seed=0)
    F.cross_entropy(model(tokens), labels).backward()
    grad = model.pos.embedding.weight.grad  # (64, C)
    assert grad[:16].abs().sum(dim=1).min() > 0, "every trained position should receive a gradient"
    assert grad[16:].abs().max() == 0, "positions never seen in training must receive none"


def test_unknown_positions_are_a_clear_error():
    with pytest.raises(ValueError, match="position must be one of"):
        LengthClassifier(LengthClassifierConfig(position="alibi"))
