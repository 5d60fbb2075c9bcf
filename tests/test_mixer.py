"""Tests of course_lib.mixer (chapter 7's MLP-Mixer) against the paper's block written out with
torch.nn.functional, and of what sets it apart from the ViT: no attention, no position
embedding, yet not blind to where a patch is."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from course_lib import mixer


def _block_by_formula(block: mixer.MixerBlock, x: torch.Tensor) -> torch.Tensor:
    """U = X + W₂ GELU(W₁ LN(X)ᵀ + b₁) + b₂ over tokens; Y = U + MLP(LN(U)) over channels."""
    t, c = block.token_mlp, block.channel_mlp
    y = F.layer_norm(x, x.shape[-1:], block.norm1.weight, block.norm1.bias, eps=1e-6)  # (B, N, D)
    h = F.gelu(torch.einsum("sn,bnd->bsd", t.fc1.weight, y) + t.fc1.bias[:, None])  # (B, S, D)
    u = x + torch.einsum("ns,bsd->bnd", t.fc2.weight, h) + t.fc2.bias[:, None]  # (B, N, D)
    y = F.layer_norm(u, u.shape[-1:], block.norm2.weight, block.norm2.bias, eps=1e-6)
    return u + F.gelu(y @ c.fc1.weight.T + c.fc1.bias) @ c.fc2.weight.T + c.fc2.bias


def test_mixer_block_equals_the_papers_formula():
    torch.manual_seed(0)
    block = mixer.MixerBlock(n_patches=9, d_model=12, d_token=7, d_ff=20)
    with torch.no_grad():
        for p in block.parameters():  # LayerNorms away from γ = 1, β = 0 too
            p.copy_(torch.randn_like(p) * 0.5)
    x = torch.randn(3, 9, 12)
    torch.testing.assert_close(block(x), _block_by_formula(block, x), atol=1e-5, rtol=1e-5)


def test_token_mixing_reaches_every_token_and_channel_mixing_none():
    torch.manual_seed(0)
    block = mixer.MixerBlock(n_patches=4, d_model=8, d_token=16, d_ff=16).eval()
    x = torch.randn(1, 4, 8)
    changed = x.clone()
    changed[0, 0] += torch.randn(8)  # change the first token only (not by a constant: LN removes it)
    with torch.no_grad():
        moved = (block(changed) - block(x)).abs().sum(-1)[0]  # (N,)
        assert (moved[1:] > 1e-4).all(), "token mixing must carry token 0's change to every token"
        block.token_mlp.fc2.weight.zero_()
        block.token_mlp.fc2.bias.zero_()  # now only channel mixing remains
        moved = (block(changed) - block(x)).abs().sum(-1)[0]
        assert (moved[1:] < 1e-6).all() and moved[0] > 1e-4


def test_mixer_needs_no_position_embedding_to_see_where_a_patch_is():
    torch.manual_seed(0)
    model = mixer.MLPMixer(mixer.MixerConfig(image_size=8, patch_size=2)).eval()
    assert not any("pos" in name for name, _ in model.named_parameters())
    x = torch.randn(2, 1, 8, 8)
    swapped = x.clone()
    swapped[..., :2, :2], swapped[..., 6:, 6:] = x[..., 6:, 6:], x[..., :2, :2]  # exchange two patches
    with torch.no_grad():
        assert model(x).shape == (2, 10)
        assert not torch.allclose(model(x), model(swapped), atol=1e-5)


def test_mixer_parameter_count_by_formula():
    c = mixer.MixerConfig(image_size=16, patch_size=4, d_model=64, n_layers=4, d_token=64, d_ff=128)
    N, D, S, H, P2 = 16, 64, 64, 128, 16
    per_block = 2 * 2 * D + (N * S + S + S * N + N) + (D * H + H + H * D + D)
    want = (P2 * D + D) + 4 * per_block + 2 * D + (D * 10 + 10)
    assert sum(p.numel() for p in mixer.MLPMixer(c).parameters()) == want


def test_mixer_rejects_bad_images_and_configs():
    with pytest.raises(ValueError, match=r"in_channels=1, 16, 16.*\(2, 1, 8, 8\)"):
        mixer.MLPMixer(mixer.MixerConfig())(torch.zeros(2, 1, 8, 8))
    with pytest.raises(ValueError, match="patch_size must divide image_size"):
        mixer.MLPMixer(mixer.MixerConfig(image_size=16, patch_size=3))
