"""Chapter 10 — masked autoencoders (He et al. 2022): the operations, one function per idea.

An image becomes L patches; a random 75% of them are removed; the encoder sees only the
visible ones; a light decoder gets the encoded visible tokens plus a learned mask token in
every removed slot, puts them back in the original order, and predicts the pixels of every
patch; the loss counts the removed patches only.

Patches here are flattened in (p, q, c) order — row in the patch, column, then channel — as
in the MAE reference code. Chapter 7's ``vit.patchify`` uses (c, p, q), the order a stride-P
convolution's weight has. Any fixed order works as long as prediction and target agree; the
names differ so that the two exercises stay apart. The models live in :mod:`course_lib.mae_model`.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor

from .reference import reference


def _check_patch_size(H: int, W: int, patch_size: int) -> None:
    if not isinstance(patch_size, int) or patch_size < 1:
        raise ValueError(f"patch_size must be a positive int; got {patch_size!r}")
    if H % patch_size or W % patch_size:
        raise ValueError(
            f"patch_size must divide the image size; got patch_size {patch_size} for an image of H × W = {H} × {W}"
        )


@reference
def to_patches(imgs: Tensor, patch_size: int) -> Tensor:
    """Cut images into non-overlapping P × P patches, each flattened in (p, q, c) order.

    imgs: (B, C, H, W) with P dividing H and W.
    Returns (B, L, P·P·C) with L = (H/P)·(W/P), patches in row-major order over the
    grid:
    out[b, i·(W/P) + j, (p·P + q)·C + c] = imgs[b, c, i·P + p, j·P + q].
    """
    B, C, H, W = imgs.shape
    P = patch_size
    _check_patch_size(H, W, P)
    h, w = H // P, W // P
    x = imgs.reshape(B, C, h, P, w, P)  # (B, C, h, p, w, q)
    x = x.permute(0, 2, 4, 3, 5, 1)  # (B, h, w, p, q, C)
    return x.reshape(B, h * w, P * P * C)  # (B, L, P²C)


@reference
def from_patches(patches: Tensor, patch_size: int, grid: Optional[tuple[int, int]] = None) -> Tensor:
    """The exact inverse of :func:`to_patches`.

    patches: (B, L, P·P·C) in (p, q, c) order.
    grid: (h, w) with h·w = L; default a square grid.
    Returns (B, C, h·P, w·P).
    """
    B, L, D = patches.shape
    P = patch_size
    if not isinstance(P, int) or P < 1 or D % (P * P):
        raise ValueError(f"patch_size P must be a positive int with P² dividing the patch length {D}; got {P!r}")
    C = D // (P * P)
    if grid is None:
        h = math.isqrt(L)
        if h * h != L:
            raise ValueError(f"L = {L} patches do not form a square grid; pass grid=(h, w)")
        grid = (h, h)
    h, w = grid
    if h * w != L:
        raise ValueError(f"grid (h, w) must satisfy h·w = L = {L}; got {grid}")
    x = patches.reshape(B, h, w, P, P, C)  # (B, h, w, p, q, C)
    x = x.permute(0, 5, 1, 3, 2, 4)  # (B, C, h, p, w, q)
    return x.reshape(B, C, h * P, w * P)  # (B, C, H, W)


@reference
def random_masking(x: Tensor, mask_ratio: float, noise: Optional[Tensor] = None) -> tuple[Tensor, Tensor, Tensor]:
    """Keep a random subset of len_keep = int(L·(1 − mask_ratio)) tokens of each
    sequence.

    x: (B, L, D).  noise: (B, L) in any range (default uniform [0, 1)); the len_keep
    tokens with the smallest noise are kept.
    ids_shuffle = argsort(noise), ids_restore = argsort(ids_shuffle).
    Returns x_visible (B, len_keep, D) in ids_shuffle order, mask (B, L) float with
    1 = removed and 0 = kept in the ORIGINAL order, and ids_restore (B, L).
    """
    B, L, D = x.shape
    if not 0 <= mask_ratio < 1:
        raise ValueError(f"mask_ratio must lie in [0, 1); got {mask_ratio}")
    if noise is None:
        noise = torch.rand(B, L, device=x.device)
    elif noise.shape != (B, L):
        raise ValueError(f"noise must have shape (B, L) = {(B, L)}; got {tuple(noise.shape)}")
    len_keep = int(L * (1 - mask_ratio))
    ids_shuffle = torch.argsort(noise, dim=1)  # (B, L): smallest noise first = kept
    ids_restore = torch.argsort(ids_shuffle, dim=1)  # (B, L): where each original token went
    ids_keep = ids_shuffle[:, :len_keep]  # (B, len_keep)
    index = ids_keep.unsqueeze(-1).expand(-1, -1, D)  # (B, len_keep, D)
    x_visible = torch.gather(x, dim=1, index=index)  # (B, len_keep, D)
    mask = torch.ones(B, L, device=x.device)  # (B, L) in shuffled order: 0 for kept, 1 removed
    mask[:, :len_keep] = 0
    mask = torch.gather(mask, dim=1, index=ids_restore)  # (B, L) back in the original order
    return x_visible, mask, ids_restore


@reference
def restore_sequence(x: Tensor, mask_token: Tensor, ids_restore: Tensor) -> Tensor:
    """Append mask tokens to the visible tokens and undo the shuffle; the CLS token
    stays first.

    x: (B, 1 + K, D), a CLS token then K visible tokens in ids_shuffle order.
    mask_token: (D,) or broadcastable to (1, 1, D).
    ids_restore: (B, L) from random_masking.
    Returns (B, 1 + L, D): CLS, then token l of the original order, a mask token where
    removed.
    """
    B, one_plus_K, D = x.shape
    L = ids_restore.shape[1]
    if ids_restore.shape[0] != B or one_plus_K - 1 > L:
        raise ValueError(
            f"ids_restore must be (B, L) with B = {B} and L ≥ K = {one_plus_K - 1}; got {tuple(ids_restore.shape)}"
        )
    n_masked = L - (one_plus_K - 1)
    mask_tokens = mask_token.reshape(1, 1, D).expand(B, n_masked, D)  # (B, L - K, D)
    shuffled = torch.cat([x[:, 1:, :], mask_tokens.to(x.dtype)], dim=1)  # (B, L, D), ids_shuffle order
    index = ids_restore.unsqueeze(-1).expand(-1, -1, D)  # (B, L, D)
    unshuffled = torch.gather(shuffled, dim=1, index=index)  # (B, L, D), original order
    return torch.cat([x[:, :1, :], unshuffled], dim=1)  # (B, 1 + L, D)


@reference
def mae_loss(pred: Tensor, target: Tensor, mask: Tensor, norm_pix_loss: bool = False) -> Tensor:
    """Mean squared error per patch, averaged over the removed patches only.

    pred, target: (B, L, D) patch pixels.
    mask: (B, L), 1 = removed (counted), 0 = visible.
    With ``norm_pix_loss`` each target patch is standardised first:
    (t − mean) / √(var + 1e-6), mean and UNBIASED variance over its D pixels.
    Returns a 0-D tensor: Σ_{b,l} mask·mean_d (pred − target)² / Σ mask.
    """
    if pred.shape != target.shape:
        raise ValueError(
            f"pred and target must have the same shape (B, L, D); got {tuple(pred.shape)} and {tuple(target.shape)}"
        )
    if mask.shape != pred.shape[:2]:
        raise ValueError(f"mask must have shape (B, L) = {tuple(pred.shape[:2])}; got {tuple(mask.shape)}")
    if norm_pix_loss:
        mean = target.mean(dim=-1, keepdim=True)  # (B, L, 1)
        var = target.var(dim=-1, keepdim=True)  # (B, L, 1), unbiased (divides by D − 1)
        target = (target - mean) / (var + 1e-6) ** 0.5
    per_patch = ((pred - target) ** 2).mean(dim=-1)  # (B, L)
    return (per_patch * mask).sum() / mask.sum()
