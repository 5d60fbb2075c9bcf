"""Tests of course_lib.vit: patchify and the patch embedding against a stride-P convolution, and
the ViT against torchvision's VisionTransformer with every parameter randomised (torchvision's
head is zero-initialised and its LayerNorms start at γ = 1, β = 0)."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torchvision.models import VisionTransformer

from course_lib import vit

# ------------------------------------------------------------------------------ patchify


def test_patchify_shape_and_row_major_patch_order():
    x = torch.arange(2 * 3 * 4 * 6, dtype=torch.float32).view(2, 3, 4, 6)
    p = vit.patchify(x, 2)
    assert p.shape == (2, 6, 12)
    assert torch.equal(p[1, 4], x[1, :, 2:4, 2:4].reshape(-1))  # patch (row 1, col 2) in (c, p, q) order


@pytest.mark.parametrize("B, C, H, W, P", [(1, 1, 8, 8, 2), (2, 3, 12, 8, 4), (3, 2, 6, 9, 3), (1, 3, 5, 5, 1)])
def test_linear_on_patches_equals_stride_p_convolution(B, C, H, W, P):
    conv = nn.Conv2d(C, 7, kernel_size=P, stride=P)
    embed = vit.PatchEmbedding(C, P, 7)
    with torch.no_grad():
        embed.proj.weight.copy_(conv.weight.reshape(7, -1))
        embed.proj.bias.copy_(conv.bias)
    x = torch.randn(B, C, H, W)
    want = conv(x).flatten(2).transpose(1, 2)  # (B, N, D)
    torch.testing.assert_close(embed(x), want, atol=2e-6, rtol=1e-5)


def test_patchify_and_embedding_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"patch_size must divide.*patch_size=3 for H=8, W=8"):
        vit.patchify(torch.zeros(1, 1, 8, 8), 3)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\); got shape \(8, 8\)"):
        vit.patchify(torch.zeros(8, 8), 2)
    with pytest.raises(ValueError, match=r"in_channels=3.*\(2, 1, 8, 8\)"):
        vit.PatchEmbedding(3, 2, 16)(torch.zeros(2, 1, 8, 8))


# ------------------------------------------------------------------------------ ViT


def _torchvision_pair(
    image_size=16, patch_size=4, n_layers=2, n_heads=4, d_model=32, d_ff=64, n_classes=7, use_sdpa=True
):
    torch.manual_seed(0)
    tv = VisionTransformer(image_size, patch_size, n_layers, n_heads, d_model, d_ff, num_classes=n_classes).eval()
    with torch.no_grad():
        for p in tv.parameters():  # randomise everything: the zero head and the γ = 1, β = 0 LayerNorms too
            p.copy_(torch.randn_like(p) * 0.3)
    config = vit.ViTConfig(
        image_size=image_size,
        patch_size=patch_size,
        in_channels=3,
        n_classes=n_classes,
        d_model=d_model,
        n_layers=n_layers,
        n_heads=n_heads,
        d_ff=d_ff,
        use_sdpa=use_sdpa,
    )
    return tv, vit.load_torchvision_vit(vit.ViT(config).eval(), tv)


@pytest.mark.parametrize("use_sdpa", [False, True])
def test_vit_equals_torchvision_vision_transformer(use_sdpa):
    tv, model = _torchvision_pair(use_sdpa=use_sdpa)
    assert all(block.self_attn.use_sdpa is use_sdpa for block in model.blocks)  # the config reaches every layer
    x = torch.randn(3, 3, 16, 16)
    with torch.no_grad():
        want = tv(x)
        got = model(x)
    assert (got - want).abs().max().item() < 1e-5  # measured 2e-7 (3e-7 with SDPA), logits of size ~1
    assert want.abs().max() > 1  # the randomised head is not zero


def test_forward_features_are_the_normed_tokens_with_cls_first():
    tv, model = _torchvision_pair(n_layers=1)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        tokens = model.forward_features(x)
        z = tv._process_input(x)
        z = torch.cat([tv.class_token.expand(2, -1, -1), z], dim=1)
        want = tv.encoder(z)
    assert tokens.shape == (2, 17, 32)
    torch.testing.assert_close(tokens, want, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(model.head(tokens[:, 0]), model(x), atol=1e-6, rtol=0)


def test_vit_uses_eps_1e6_and_exact_gelu():
    model = vit.ViT(vit.ViTConfig())
    norms = [m for m in model.modules() if isinstance(m, nn.LayerNorm)]
    assert len(norms) == 2 * model.config.n_layers + 1 and all(m.eps == 1e-6 for m in norms)
    gelus = [m for m in model.modules() if isinstance(m, nn.GELU)]
    assert len(gelus) == model.config.n_layers and all(g.approximate == "none" for g in gelus)


def test_vit_without_positions_is_blind_to_patch_order():
    torch.manual_seed(0)
    model = vit.ViT(vit.ViTConfig(position="none")).eval()
    assert model.pos_embed is None
    x = torch.randn(2, 1, 8, 8)
    swapped = x.clone()
    swapped[..., :2, :2], swapped[..., 6:, 6:] = x[..., 6:, 6:], x[..., :2, :2]  # exchange two patches
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(swapped), atol=1e-5, rtol=1e-5)
        learned = vit.ViT(vit.ViTConfig()).eval()
        assert not torch.allclose(learned(x), learned(swapped), atol=1e-5)


def test_vit_rejects_bad_images_and_configs():
    model = vit.ViT(vit.ViTConfig())
    with pytest.raises(ValueError, match=r"in_channels=1, 8, 8.*\(2, 3, 8, 8\)"):
        model(torch.zeros(2, 3, 8, 8))
    with pytest.raises(ValueError, match="patch_size must divide image_size"):
        vit.ViT(vit.ViTConfig(image_size=8, patch_size=3))
    with pytest.raises(ValueError, match="position must be"):
        vit.ViT(vit.ViTConfig(position="sinusoidal"))


def test_attention_maps_and_mean_distance():
    torch.manual_seed(0)
    model = vit.ViT(vit.ViTConfig()).eval()
    maps = vit.attention_maps(model, torch.randn(3, 1, 8, 8))
    assert maps.shape == (4, 3, 4, 17, 17)
    torch.testing.assert_close(maps.sum(-1), torch.ones(4, 3, 4, 17))
    dist = vit.mean_attention_distance(maps, grid=4, patch_size=2)
    assert dist.shape == (4, 4) and (dist > 0).all() and (dist < 2 * 4 * 1.5).all()
    uniform = torch.full((1, 1, 1, 17, 17), 1 / 17)  # attending everywhere: the mean pairwise distance
    grid = torch.stack(torch.meshgrid(torch.arange(4.0), torch.arange(4.0), indexing="ij"), -1).view(16, 2) * 2
    want = torch.cdist(grid, grid).mean()
    torch.testing.assert_close(vit.mean_attention_distance(uniform, 4, 2)[0, 0], want)


# ------------------------------------------------------------------------------ variants


def test_conv_stem_gives_patchify_tokens_from_a_local_window():
    torch.manual_seed(0)
    stem = vit.ConvStem(in_channels=1, patch_size=4, d_model=32).eval()
    x = torch.randn(2, 1, 16, 16)
    assert stem(x).shape == vit.PatchEmbedding(1, 4, 32)(x).shape == (2, 16, 32)
    strides = [m.stride for m in stem.modules() if isinstance(m, nn.Conv2d)]
    assert strides == [(2, 2), (2, 2), (1, 1)], "two stride-2 3 × 3 convolutions, then a 1 × 1"
    far = x.clone()
    far[..., 12:, 12:] += 1.0  # bottom-right corner, outside token (0, 0)'s receptive field
    with torch.no_grad():
        torch.testing.assert_close(stem(far)[:, 0], stem(x)[:, 0])  # token 0 = top-left patch
        assert not torch.allclose(stem(far)[:, 15], stem(x)[:, 15])  # token 15 = bottom-right


def test_conv_stem_rejects_patch_sizes_that_are_not_powers_of_two():
    with pytest.raises(ValueError, match=r"power of 2.*patch_size=3, d_model=32"):
        vit.ConvStem(1, 3, 32)
    model = vit.ViT(vit.ViTConfig(image_size=16, patch_size=4, stem="conv"))
    assert isinstance(model.patch_embed, vit.ConvStem) and model(torch.zeros(2, 1, 16, 16)).shape == (2, 10)
    with pytest.raises(ValueError, match="stem must be"):
        vit.ViT(vit.ViTConfig(stem="resnet"))


def test_2d_position_embedding_is_a_row_half_and_a_column_half():
    torch.manual_seed(0)
    model = vit.ViT(vit.ViTConfig(image_size=8, patch_size=2, d_model=16, position="2d"))
    assert model.pos_embed is None
    grid = model.pos_grid
    table = grid()[0]  # (1 + 16, 16)
    assert table.shape == (17, 16) and torch.equal(table[0], grid.cls[0])
    for i in range(4):
        for j in range(4):  # patch (i, j) is token 1 + 4i + j in row-major order
            assert torch.equal(table[1 + 4 * i + j], torch.cat([grid.rows[i], grid.cols[j]]))
    rows_only = sum(p.numel() for p in grid.parameters())
    assert rows_only == 4 * 8 + 4 * 8 + 16, "2·g·D/2 + D parameters against (1 + g²)·D for 1-D"
    with pytest.raises(ValueError, match="even d_model; got d_model=15"):
        vit.GridPositionEmbedding(4, 15)
