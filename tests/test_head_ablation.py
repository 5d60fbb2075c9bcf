"""course_lib.head_ablation: removing a head zeroes exactly its channels before W^O, and the
accuracy drops are measured on the right tokens (oracles written here with torch, float32)."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.head_ablation import head_ablation, heads_removed, per_token_correct
from course_lib.multihead import MultiHeadAttention

IGNORE = -100


def _randomised(C, h, seed=0):
    torch.manual_seed(seed)
    attn = MultiHeadAttention(C, h).eval()
    with torch.no_grad():
        for p in attn.parameters():
            p.normal_(0, 0.3)
    return attn


def _oracle_without(attn, x, removed):
    """Per-head attention with torch's SDPA, the removed heads zeroed, then W^O."""
    B, T, C = x.shape
    h, d = attn.n_heads, C // attn.n_heads
    q, k, v = (proj(x).view(B, T, h, d).transpose(1, 2) for proj in (attn.q_proj, attn.k_proj, attn.v_proj))
    heads = F.scaled_dot_product_attention(q, k, v)  # (B, h, T, d)
    heads[:, list(removed)] = 0.0
    return attn.out_proj(heads.transpose(1, 2).reshape(B, T, C))


@pytest.mark.parametrize("removed", [[0], [2], [1, 3]])
def test_heads_removed_zeroes_those_heads_outputs_before_the_output_projection(removed):
    attn, x = _randomised(16, 4), torch.randn(2, 5, 16)
    with torch.no_grad(), heads_removed(attn, removed):
        got = attn(x)
    with torch.no_grad():
        expected = _oracle_without(attn, x, removed)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_the_layer_is_intact_again_after_the_block():
    attn, x = _randomised(8, 2, seed=1), torch.randn(1, 4, 8)
    with torch.no_grad():
        before = attn(x)
        with heads_removed(attn, [0]):
            during = attn(x)
        after = attn(x)
    assert (during - before).abs().max() > 1e-3, "removing a head must change the output"
    torch.testing.assert_close(after, before, atol=0, rtol=0)


def test_a_head_outside_the_layer_is_a_clear_error():
    with pytest.raises(ValueError, match="n_heads=2"):
        with heads_removed(_randomised(8, 2), [2]):
            pass


class _TwoTaskProbe(nn.Module):
    """Identity projections, 2 heads of width 2: task i reads exactly head i's two channels."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(6, 4)
        self.attn = MultiHeadAttention(4, 2, bias=False)
        with torch.no_grad():
            for proj in (self.attn.q_proj, self.attn.k_proj, self.attn.v_proj, self.attn.out_proj):
                proj.weight.copy_(torch.eye(4))

    def forward(self, tokens):
        out = self.attn(self.embed(tokens))  # (B, T, 4)
        return [out[..., 0:2], out[..., 2:4]]  # task 0 = head 0, task 1 = head 1


def test_head_ablation_charges_each_task_only_to_the_head_it_reads():
    torch.manual_seed(0)
    model = _TwoTaskProbe().eval()
    tokens = torch.randint(0, 6, (40, 7))
    with torch.no_grad():
        outs = model(tokens)
    targets = torch.stack([o.argmax(-1) for o in outs], dim=-1)  # (40, 7, 2): the intact answers
    targets[:, -1] = IGNORE  # left out of every count
    result = head_ablation(model, model.attn, tokens, targets, IGNORE)
    torch.testing.assert_close(result.base, torch.ones(2))
    known = targets[..., 0] != IGNORE
    for task in range(2):
        # without the head its task's logits are (0, 0): argmax 0, right only where the target is 0
        expected = (targets[..., task][known] != 0).float()
        torch.testing.assert_close(result.drop[task, task], expected.mean())
        torch.testing.assert_close(result.stderr[task, task], expected.std() / math.sqrt(expected.numel()))
        assert result.drop[1 - task, task] == 0 and result.stderr[1 - task, task] == 0
    assert result.significant()[0, 0] and not result.significant()[1, 0]


def test_per_token_correct_skips_ignored_tokens_and_checks_shapes():
    model = _TwoTaskProbe().eval()
    tokens = torch.zeros(2, 3, dtype=torch.long)
    targets = torch.full((2, 3, 2), IGNORE)
    targets[0, 0] = 0
    correct = per_token_correct(model, tokens, targets, IGNORE)
    assert [c.numel() for c in correct] == [1, 1]
    with pytest.raises(ValueError, match="targets must be"):
        per_token_correct(model, tokens, targets[:, :2], IGNORE)
