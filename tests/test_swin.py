"""Tests of course_lib.swin against torchvision's Swin (the oracle), with every parameter
randomised. Tolerance: exact equality (0.0) — the operations run in torchvision's order."""

from __future__ import annotations

import pytest
import torch
from torchvision.models import swin_transformer as tvs

from course_lib import swin


def _randomise(module: torch.nn.Module, std: float = 0.5) -> None:
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * std)


def _weights(C: int, h: int, M: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(3 * C, C, generator=g) / C**0.5,
        torch.randn(3 * C, generator=g),
        torch.randn(C, C, generator=g) / C**0.5,
        torch.randn(C, generator=g),
        torch.randn((2 * M - 1) ** 2, h, generator=g),
    )


# ------------------------------------------------------------------------------ windows


@pytest.mark.parametrize("B, H, W, C, M", [(1, 4, 4, 1, 2), (2, 8, 12, 3, 4), (3, 14, 7, 5, 7)])
def test_window_partition_matches_explicit_slicing_and_reverse_inverts_it(B, H, W, C, M):
    x = torch.randn(B, H, W, C)
    windows = swin.window_partition(x, M)
    assert windows.shape == (B * (H // M) * (W // M), M * M, C)
    k = 0
    for b in range(B):
        for i in range(H // M):
            for j in range(W // M):
                assert torch.equal(windows[k], x[b, i * M : (i + 1) * M, j * M : (j + 1) * M].reshape(M * M, C))
                k += 1
    assert torch.equal(swin.window_reverse(windows, M, H, W), x)


def test_window_functions_reject_maps_the_window_does_not_tile():
    with pytest.raises(ValueError, match=r"window_size must divide H and W.*window_size=4 for H=6, W=8"):
        swin.window_partition(torch.zeros(1, 6, 8, 3), 4)
    with pytest.raises(ValueError, match=r"\(B, H, W, C\)"):
        swin.window_partition(torch.zeros(6, 8, 3), 2)
    with pytest.raises(ValueError, match="M²=16"):
        swin.window_reverse(torch.zeros(4, 9, 3), 4, 8, 8)


# ------------------------------------------------------------------------------ relative position


@pytest.mark.parametrize("M", [1, 2, 4, 7])
def test_relative_position_index_matches_torchvision(M):
    attn = tvs.ShiftedWindowAttention(8, [M, M], [0, 0], 2)
    assert torch.equal(swin.relative_position_index(M), attn.relative_position_index.view(M * M, M * M))


def test_relative_position_index_is_a_function_of_the_offset_only():
    M = 3
    idx = swin.relative_position_index(M)
    assert idx.min() == 0 and idx.max() == (2 * M - 1) ** 2 - 1
    assert torch.all(idx.diagonal() == idx[0, 0])  # offset (0, 0) for every token with itself
    assert idx[0, 0] == (M - 1) * (2 * M - 1) + (M - 1)  # the centre of the table


def test_gather_relative_bias_checks_the_table_shape():
    with pytest.raises(ValueError, match=r"\(\(2M−1\)², h\) = \(49, h\)"):
        swin.gather_relative_bias(torch.zeros(48, 2), 4)


# ------------------------------------------------------------------------------ attention


@pytest.mark.parametrize(
    "B, H, W, C, h, M, s",
    [
        (2, 8, 8, 16, 2, 4, 0),
        (2, 8, 8, 16, 2, 4, 2),
        (1, 12, 8, 24, 3, 4, 1),
        (2, 14, 14, 8, 1, 7, 3),
        (1, 16, 16, 12, 4, 4, 3),
    ],
)
def test_shifted_window_attention_equals_torchvision_exactly(B, H, W, C, h, M, s):
    x = torch.randn(B, H, W, C)
    qkv_w, qkv_b, proj_w, proj_b, table = _weights(C, h, M, seed=H + s)
    bias = tvs._get_relative_position_bias(table, swin.relative_position_index(M).flatten(), [M, M])
    want = tvs.shifted_window_attention(
        x, qkv_w, proj_w, bias, [M, M], h, [s, s], qkv_bias=qkv_b, proj_bias=proj_b, training=False
    )
    got = swin.shifted_window_attention(x, qkv_w, qkv_b, proj_w, proj_b, table, M, h, s)
    assert (got - want).abs().max().item() == 0.0


def test_window_attention_on_one_window_is_unshifted_torchvision():
    B, M, C, h = 3, 4, 8, 2
    x = torch.randn(B, M, M, C)
    qkv_w, qkv_b, proj_w, proj_b, table = _weights(C, h, M, seed=1)
    bias = swin.gather_relative_bias(table, M)
    got = swin.window_attention(x.view(B, M * M, C), qkv_w, qkv_b, proj_w, proj_b, bias, h)
    want = tvs.shifted_window_attention(
        x, qkv_w, proj_w, bias.unsqueeze(0), [M, M], h, [0, 0], qkv_bias=qkv_b, proj_bias=proj_b, training=False
    )
    assert torch.equal(got, want.view(B, M * M, C))


def test_shift_window_mask_separates_the_wrapped_regions():
    mask = swin.shift_window_mask(8, 8, 4, 2)
    assert mask.shape == (4, 16, 16)
    assert torch.all(mask[0] == 0)  # the top-left window holds one region only
    assert set(mask.unique().tolist()) == {0.0, -100.0}
    # the bottom-right window holds 4 regions of 4 tokens: each token sees exactly 4 tokens
    assert torch.all((mask[3] == 0).sum(-1) == 4)
    # the top-right window: 2 regions (left/right halves of columns) of 8 tokens
    assert torch.all((mask[1] == 0).sum(-1) == 8)
    assert torch.equal(mask, mask.transpose(-2, -1))


def _near_in_the_original_map(H: int, W: int, M: int, s: int) -> torch.Tensor:
    """Independent rule: after the roll by −s, two tokens of a window may attend to each other iff
    their original pixels are less than M apart on both axes (wrapped-around pixels are not)."""
    rows, cols = (torch.arange(H) + s) % H, (torch.arange(W) + s) % W  # original row / column
    orig = torch.stack(torch.meshgrid(rows, cols, indexing="ij"), dim=-1).float()  # (H, W, 2)
    win = swin.window_partition(orig[None], M)  # (nW, M², 2)
    near = ((win[:, :, None] - win[:, None, :]).abs() < M).all(dim=-1)  # (nW, M², M²)
    return torch.where(near, 0.0, -100.0)


@pytest.mark.parametrize("H, W, M, s", [(12, 8, 4, 1), (8, 12, 4, 2), (12, 12, 4, 2), (6, 9, 3, 1), (16, 20, 4, 3)])
def test_shift_window_mask_on_maps_three_or_more_windows_wide_and_non_square(H, W, M, s):
    # two windows wide, a band boundary at M and one at H − M coincide; here they do not
    assert torch.equal(swin.shift_window_mask(H, W, M, s), _near_in_the_original_map(H, W, M, s))


def test_shift_regions_label_the_three_bands_of_each_axis():
    regions = swin.shift_regions(12, 8, 4, 1)  # rows [0, 8), [8, 11), [11, 12); columns [0, 4), [4, 7), [7, 8)
    assert regions[0].tolist() == [0, 0, 0, 0, 1, 1, 1, 2]
    assert regions[:, 0].tolist() == [0] * 8 + [3] * 3 + [6]
    assert regions[11, 7].item() == 8


def test_shift_window_mask_rejects_bad_shift():
    with pytest.raises(ValueError, match="0 < shift < window_size=4; got 4"):
        swin.shift_window_mask(8, 8, 4, 4)


# ------------------------------------------------------------------------------ merging, blocks, model


@pytest.mark.parametrize("shape", [(2, 4, 4, 8), (1, 6, 10, 3)])
def test_patch_merging_equals_torchvision(shape):
    ref = tvs.PatchMerging(shape[-1])
    _randomise(ref)
    ours = swin.PatchMerging(shape[-1])
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(shape)
    assert (ours(x) - ref(x)).abs().max().item() == 0.0


def test_patch_merging_rejects_odd_maps():
    with pytest.raises(ValueError, match=r"even H and W; got shape \(1, 5, 4, 8\)"):
        swin.patch_merging(torch.zeros(1, 5, 4, 8), torch.ones(32), torch.zeros(32), torch.zeros(16, 32))


def _tv_block_state(block: torch.nn.Module) -> dict:
    return {k.replace("mlp.3", "mlp.2"): v for k, v in block.state_dict().items() if "relative_position_index" not in k}


@pytest.mark.parametrize("shift", [0, 2])
def test_swin_block_equals_torchvision(shift):
    ref = tvs.SwinTransformerBlock(16, 2, [4, 4], [shift, shift], mlp_ratio=2.0).eval()
    _randomise(ref)
    ours = swin.SwinBlock(16, 2, 4, shift, mlp_ratio=2.0)
    ours.load_state_dict(_tv_block_state(ref))
    x = torch.randn(2, 8, 8, 16)
    assert (ours(x) - ref(x)).abs().max().item() == 0.0


def test_swin_model_equals_torchvision_swin_transformer():
    config = swin.SwinConfig(
        image_size=32,
        in_channels=3,
        patch_size=2,
        embed_dim=16,
        depths=(2, 2, 2),
        n_heads=(2, 2, 4),
        window_size=4,
        mlp_ratio=2.0,
        n_classes=5,
    )
    ref = tvs.SwinTransformer(
        [2, 2], 16, [2, 2, 2], [2, 2, 4], [4, 4], mlp_ratio=2.0, stochastic_depth_prob=0.0, num_classes=5
    ).eval()
    _randomise(ref, std=0.3)
    ours = swin.Swin(config).eval()
    mapping = {
        "patch_embed": "features.0.0",
        "patch_norm": "features.0.2",
        "stages.0": "features.1",
        "merges.0": "features.2",
        "stages.1": "features.3",
        "merges.1": "features.4",
        "stages.2": "features.5",
        "norm": "norm",
        "head": "head",
    }
    ref_state = ref.state_dict()
    state = {}
    for key in ours.state_dict():
        prefix = next(p for p in mapping if key.startswith(p + "."))
        tv_key = mapping[prefix] + key[len(prefix) :]
        tv_key = tv_key.replace("mlp.2", "mlp.3")
        state[key] = ref_state[tv_key]
    ours.load_state_dict(state)
    x = torch.randn(2, 3, 32, 32)
    # the last stage's 4 × 4 map fits in one window: both switch the shift off there
    assert (ours(x) - ref(x)).abs().max().item() < 1e-5


def test_swin_model_shapes_and_bad_input():
    model = swin.Swin(swin.SwinConfig(in_channels=1, image_size=16, n_classes=10))
    assert model(torch.randn(3, 1, 16, 16)).shape == (3, 10)
    assert model.forward_features(torch.randn(1, 1, 16, 16)).shape == (1, 4, 4, 64)
    with pytest.raises(ValueError, match=r"in_channels=1.*\(2, 3, 16, 16\)"):
        model(torch.randn(2, 3, 16, 16))


def test_attention_cost_formulas_match_the_swin_paper():
    h = w = 56
    C, M = 96, 7
    assert swin.msa_flops(h, w, C) - swin.wmsa_flops(h, w, C, M) == 2 * (h * w) ** 2 * C - 2 * M**2 * h * w * C
    assert swin.wmsa_flops(2 * h, 2 * w, C, M) == 4 * swin.wmsa_flops(h, w, C, M)  # linear in hw


def test_swin_shifts_odd_blocks_only():
    model = swin.Swin(swin.SwinConfig(depths=(4, 2), n_heads=(2, 4), window_size=4))
    assert [block.attn.shift for block in model.stages[0]] == [0, 2, 0, 2]  # W-MSA, SW-MSA, W-MSA, SW-MSA
    assert [block.attn.shift for block in model.stages[1]] == [0, 2]
