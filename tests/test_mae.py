"""course_lib.mae against torch's unfold/fold and closed forms written here (float32, tolerance 1e-6)."""

import pytest
import torch
import torch.nn.functional as F

from course_lib import mae

TOL = dict(atol=1e-6, rtol=1e-5)


def _g(seed):
    return torch.Generator().manual_seed(seed)


def _unfold_pqc(imgs, P):
    """Oracle: F.unfold gives (B, C·P·P, L) in (c, p, q) order; reorder the pixels to (p, q, c)."""
    B, C, H, W = imgs.shape
    cols = F.unfold(imgs, kernel_size=P, stride=P)  # (B, C·P·P, L)
    L = cols.shape[-1]
    return cols.reshape(B, C, P * P, L).permute(0, 3, 2, 1).reshape(B, L, P * P * C)


@pytest.mark.parametrize("shape, P", [((2, 3, 8, 8), 4), ((1, 1, 6, 9), 3), ((3, 2, 4, 4), 1), ((2, 3, 4, 4), 4)])
def test_to_patches_matches_unfold(shape, P):
    imgs = torch.randn(*shape, generator=_g(P))
    torch.testing.assert_close(mae.to_patches(imgs, P), _unfold_pqc(imgs, P), **TOL)


def test_to_patches_order_is_pqc():
    imgs = torch.arange(2 * 4 * 4.0).reshape(1, 2, 4, 4)  # C = 2, H = W = 4
    p = mae.to_patches(imgs, 2)
    assert p.shape == (1, 4, 8)
    # patch 1 is the top-right 2×2 block; pixel (p, q) = (0, 1), channel 1 is at (0·2 + 1)·2 + 1 = 3
    assert p[0, 1, 3] == imgs[0, 1, 0, 3]


@pytest.mark.parametrize("shape, P", [((2, 3, 8, 8), 4), ((1, 1, 6, 9), 3), ((3, 2, 4, 4), 2)])
def test_from_patches_inverts_to_patches(shape, P):
    imgs = torch.randn(*shape, generator=_g(3))
    grid = (shape[2] // P, shape[3] // P)
    assert torch.equal(mae.from_patches(mae.to_patches(imgs, P), P, grid), imgs)
    patches = torch.randn(2, grid[0] * grid[1], P * P * shape[1], generator=_g(4))
    assert torch.equal(mae.to_patches(mae.from_patches(patches, P, grid), P), patches)


def test_patch_functions_reject_bad_sizes():
    with pytest.raises(ValueError, match=r"patch_size must divide .* got patch_size 3 .* 8 × 8"):
        mae.to_patches(torch.randn(1, 1, 8, 8), 3)
    with pytest.raises(ValueError, match="square grid"):
        mae.from_patches(torch.randn(1, 6, 4), 2)
    with pytest.raises(ValueError, match="h·w = L"):
        mae.from_patches(torch.randn(1, 6, 4), 2, grid=(2, 2))
    with pytest.raises(ValueError, match="P² dividing"):
        mae.from_patches(torch.randn(1, 4, 6), 2)


@pytest.mark.parametrize("B, L, D, ratio", [(2, 16, 3, 0.75), (3, 7, 4, 0.75), (1, 5, 2, 0.0), (2, 10, 1, 0.5)])
def test_random_masking_keeps_the_smallest_noise(B, L, D, ratio):
    x = torch.randn(B, L, D, generator=_g(L))
    noise = torch.rand(B, L, generator=_g(D))
    visible, mask, ids_restore = mae.random_masking(x, ratio, noise)
    keep = int(L * (1 - ratio))
    assert visible.shape == (B, keep, D) and mask.shape == (B, L) and ids_restore.shape == (B, L)
    for b in range(B):
        order = sorted(range(L), key=lambda i: float(noise[b, i]))  # closed form: ascending noise
        kept = order[:keep]
        torch.testing.assert_close(visible[b], x[b, kept])
        expected_mask = torch.tensor([0.0 if i in kept else 1.0 for i in range(L)])
        torch.testing.assert_close(mask[b], expected_mask)
        assert [order.index(i) for i in range(L)] == ids_restore[b].tolist()


def test_random_masking_default_noise_and_bad_input():
    visible, mask, _ = mae.random_masking(torch.randn(4, 16, 8), 0.75)
    assert visible.shape == (4, 4, 8) and mask.sum(1).tolist() == [12.0] * 4
    for ratio in (1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match=rf"mask_ratio must lie in \[0, 1\); got {ratio}"):
            mae.random_masking(torch.randn(1, 4, 2), ratio)
    with pytest.raises(ValueError, match=r"noise must have shape \(B, L\) = \(1, 4\); got \(4,\)"):
        mae.random_masking(torch.randn(1, 4, 2), 0.5, torch.rand(4))


@pytest.mark.parametrize("B, L, D, ratio", [(2, 16, 5, 0.75), (1, 9, 3, 0.0), (3, 7, 2, 0.6)])
def test_restore_sequence_puts_tokens_back_and_keeps_cls(B, L, D, ratio):
    x = torch.randn(B, L, D, generator=_g(1))
    visible, mask, ids_restore = mae.random_masking(x, ratio, torch.rand(B, L, generator=_g(2)))
    cls = torch.randn(B, 1, D, generator=_g(3))
    token = torch.randn(D, generator=_g(4))
    out = mae.restore_sequence(torch.cat([cls, visible], 1), token, ids_restore)
    assert out.shape == (B, 1 + L, D)
    torch.testing.assert_close(out[:, 0], cls[:, 0])
    for b in range(B):
        for i in range(L):
            torch.testing.assert_close(out[b, 1 + i], token if mask[b, i] else x[b, i])


def test_restore_sequence_rejects_mismatched_batch():
    with pytest.raises(ValueError, match=r"ids_restore must be \(B, L\) with B = 2"):
        mae.restore_sequence(torch.randn(2, 3, 4), torch.zeros(4), torch.zeros(3, 8, dtype=torch.long))


def _loss_by_hand(pred, target, mask, norm):
    total, count = 0.0, 0.0
    B, L, D = pred.shape
    for b in range(B):
        for i in range(L):
            t = target[b, i]
            if norm:
                mean = t.sum() / D
                var = ((t - mean) ** 2).sum() / (D - 1)
                t = (t - mean) / (var + 1e-6) ** 0.5
            total += float(mask[b, i]) * float(((pred[b, i] - t) ** 2).sum() / D)
            count += float(mask[b, i])
    return torch.tensor(total / count)


@pytest.mark.parametrize("norm", [False, True])
@pytest.mark.parametrize("B, L, D", [(2, 5, 4), (1, 16, 12), (3, 4, 2)])
def test_mae_loss_counts_removed_patches_only(B, L, D, norm):
    pred, target = torch.randn(B, L, D, generator=_g(1)), 3 * torch.randn(B, L, D, generator=_g(2)) + 1
    _, mask, _ = mae.random_masking(pred, 0.5, torch.rand(B, L, generator=_g(3)))
    torch.testing.assert_close(
        mae.mae_loss(pred, target, mask, norm), _loss_by_hand(pred, target, mask, norm), atol=1e-5, rtol=1e-5
    )


def test_mae_loss_rejects_bad_shapes():
    with pytest.raises(ValueError, match="same shape"):
        mae.mae_loss(torch.randn(2, 4, 3), torch.randn(2, 4, 2), torch.ones(2, 4))
    with pytest.raises(ValueError, match=r"mask must have shape \(B, L\) = \(2, 4\)"):
        mae.mae_loss(torch.randn(2, 4, 3), torch.randn(2, 4, 3), torch.ones(4))
