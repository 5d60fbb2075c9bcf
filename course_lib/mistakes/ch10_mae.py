"""Common mistakes of chapter 10 (MAE). Each fails the graded test cell it names."""

import math

import torch

from . import Catalogue

catalogue = Catalogue("10_mae")
mistake = catalogue.mistake


# --- to_patches / from_patches -------------------------------------------------------------------
@mistake(
    "patch-order-cpq",
    cell="test_patches",
    replaces="to_patches",
    explanation="Your patch vectors are in (c, p, q) order, chapter 7's order; this exercise asks for "
    "(p, q, c): all channels of pixel (0, 0) first.",
    hint="Permute to (B, h, w, p, q, C) before the final reshape: x.permute(0, 2, 4, 3, 5, 1).",
)
def to_patches_cpq(imgs, patch_size):
    B, C, H, W = imgs.shape
    P = patch_size
    x = imgs.reshape(B, C, H // P, P, W // P, P).permute(0, 2, 4, 1, 3, 5)  # (B, h, w, C, p, q)
    return x.reshape(B, (H // P) * (W // P), C * P * P)


@mistake(
    "patches-reshaped-without-permute",
    cell="test_patches",
    replaces="to_patches",
    explanation="A single reshape of (B, C, H, W) to (B, L, P²C) cuts the memory in consecutive chunks: "
    "those are strips of rows, not P × P patches.",
    hint="Reshape to (B, C, h, P, w, P), permute to (B, h, w, P, P, C), then reshape to (B, L, P²C).",
)
def to_patches_reshape_only(imgs, patch_size):
    B, C, H, W = imgs.shape
    P = patch_size
    return imgs.reshape(B, (H // P) * (W // P), P * P * C)


@mistake(
    "patch-grid-transposed",
    cell="test_patches",
    replaces="to_patches",
    explanation="Your patches run down the columns of the grid first; patch index l = i·(W/P) + j goes "
    "along each row first.",
    hint="Keep the grid axes in the order (h, w): permute(0, 2, 4, 3, 5, 1).",
)
def to_patches_grid_transposed(imgs, patch_size):
    B, C, H, W = imgs.shape
    P = patch_size
    x = imgs.reshape(B, C, H // P, P, W // P, P).permute(0, 4, 2, 3, 5, 1)  # (B, w, h, p, q, C)
    return x.reshape(B, (H // P) * (W // P), P * P * C)


@mistake(
    "unpatchify-without-permute",
    cell="test_patches",
    replaces="from_patches",
    explanation="A single reshape of (B, L, P²C) back to (B, C, H, W) does not undo the permute of "
    "to_patches, so the pixels land in the wrong places.",
    hint="Reshape to (B, h, w, P, P, C), permute to (B, C, h, P, w, P), then reshape to (B, C, H, W).",
)
def from_patches_reshape_only(patches, patch_size, grid=None):
    B, L, D = patches.shape
    P = patch_size
    C = D // (P * P)
    h, w = grid if grid is not None else (math.isqrt(L), math.isqrt(L))
    return patches.reshape(B, C, h * P, w * P)


@mistake(
    "unpatchify-p-q-swapped",
    cell="test_patches",
    replaces="from_patches",
    explanation="Your inverse swaps the pixel axes inside each patch, so every patch comes back transposed.",
    hint="Permute (B, h, w, p, q, C) to (B, C, h, p, w, q): permute(0, 5, 1, 3, 2, 4).",
)
def from_patches_pq_swapped(patches, patch_size, grid=None):
    B, L, D = patches.shape
    P = patch_size
    C = D // (P * P)
    h, w = grid if grid is not None else (math.isqrt(L), math.isqrt(L))
    x = patches.reshape(B, h, w, P, P, C).permute(0, 5, 1, 4, 2, 3)  # (B, C, h, q, w, p)
    return x.reshape(B, C, h * P, w * P)


# --- random_masking -----------------------------------------------------------------------------
def _masking(
    x,
    mask_ratio,
    noise,
    *,
    restore_is_shuffle=False,
    flip=False,
    descending=False,
    keep=None,
    expand=True,
    shuffled_mask=False,
):
    B, L, D = x.shape
    if noise is None:
        noise = torch.rand(B, L, device=x.device)
    len_keep = int(L * (1 - mask_ratio)) if keep is None else keep(L, mask_ratio)
    ids_shuffle = torch.argsort(noise, dim=1, descending=descending)
    ids_restore = ids_shuffle if restore_is_shuffle else torch.argsort(ids_shuffle, dim=1)
    index = ids_shuffle[:, :len_keep].unsqueeze(-1)
    if expand:
        index = index.expand(-1, -1, D)
    x_visible = torch.gather(x, 1, index)
    mask = torch.ones(B, L, device=x.device)
    mask[:, :len_keep] = 0
    if not shuffled_mask:
        mask = torch.gather(mask, 1, ids_restore)
    return x_visible, (1 - mask if flip else mask), ids_restore


@mistake(
    "ids-restore-is-ids-shuffle",
    cell="test_random_masking",
    replaces="random_masking",
    explanation="You return ids_shuffle as ids_restore; the inverse permutation is argsort(ids_shuffle).",
    hint="ids_restore = torch.argsort(ids_shuffle, dim=1).",
)
def masking_restore_is_shuffle(x, mask_ratio, noise=None):
    return _masking(x, mask_ratio, noise, restore_is_shuffle=True)


@mistake(
    "mask-keep-remove-flipped",
    cell="test_random_masking",
    replaces="random_masking",
    explanation="Your mask is 1 at the kept tokens; MAE's convention is 1 = removed (the patches the loss counts).",
    hint="Start from ones, set the first len_keep (kept) entries to 0, then unshuffle with ids_restore.",
)
def masking_flipped(x, mask_ratio, noise=None):
    return _masking(x, mask_ratio, noise, flip=True)


@mistake(
    "keeps-largest-noise",
    cell="test_random_masking",
    replaces="random_masking",
    explanation="You keep the tokens with the LARGEST noise; the convention is ascending: small noise is kept.",
    hint="torch.argsort(noise, dim=1) without descending=True.",
)
def masking_descending(x, mask_ratio, noise=None):
    return _masking(x, mask_ratio, noise, descending=True)


@mistake(
    "len-keep-rounded",
    cell="test_random_masking",
    replaces="random_masking",
    explanation="You round L·(1 − ratio); the definition truncates: len_keep = int(L·(1 − ratio)).",
    hint="len_keep = int(L * (1 - mask_ratio)).",
)
def masking_rounded(x, mask_ratio, noise=None):
    return _masking(x, mask_ratio, noise, keep=lambda L, r: round(L * (1 - r)))


@mistake(
    "gather-index-not-expanded",
    cell="test_random_masking",
    replaces="random_masking",
    explanation="Your gather index is (B, len_keep, 1): torch.gather then returns only channel 0 of each token.",
    hint="Expand the index over the channels: ids_keep.unsqueeze(-1).expand(-1, -1, D).",
)
def masking_not_expanded(x, mask_ratio, noise=None):
    return _masking(x, mask_ratio, noise, expand=False)


@mistake(
    "mask-in-shuffled-order",
    cell="test_random_masking",
    replaces="random_masking",
    explanation="Your mask is in the shuffled order (first len_keep zeros); it must be in the original token order.",
    hint="Unshuffle it: mask = torch.gather(mask, 1, ids_restore).",
)
def masking_shuffled_mask(x, mask_ratio, noise=None):
    return _masking(x, mask_ratio, noise, shuffled_mask=True)


# --- restore_sequence ---------------------------------------------------------------------------
def _restore(x, mask_token, ids_restore, *, index_from=None, include_cls=False, tokens_first=False, expand=True):
    B, n, D = x.shape
    L = ids_restore.shape[1]
    tokens = mask_token.reshape(1, 1, D).expand(B, L - (n - 1), D).to(x.dtype)
    body = x if include_cls else x[:, 1:]
    parts = [tokens, body] if tokens_first else [body, tokens]
    shuffled = torch.cat(parts, dim=1)
    ids = ids_restore if index_from is None else index_from(ids_restore)
    index = ids.unsqueeze(-1)
    if expand:
        index = index.expand(-1, -1, D)
    unshuffled = torch.gather(shuffled, 1, index)
    return torch.cat([x[:, :1], unshuffled], dim=1)


@mistake(
    "unshuffled-with-ids-shuffle",
    cell="test_restore_sequence",
    replaces="restore_sequence",
    explanation="You gather with argsort(ids_restore), i.e. ids_shuffle, which shuffles a second time "
    "instead of undoing the shuffle.",
    hint="torch.gather(tokens, 1, ids_restore[..., None].expand(-1, -1, D)).",
)
def restore_with_ids_shuffle(x, mask_token, ids_restore):
    return _restore(x, mask_token, ids_restore, index_from=lambda ids: torch.argsort(ids, dim=1))


@mistake(
    "restore-index-not-expanded",
    cell="test_restore_sequence",
    replaces="restore_sequence",
    explanation="Your gather index is (B, L, 1), so torch.gather keeps only the first channel of each token.",
    hint="Expand the index over D: ids_restore.unsqueeze(-1).expand(-1, -1, D).",
)
def restore_not_expanded(x, mask_token, ids_restore):
    B, n, D = x.shape
    L = ids_restore.shape[1]
    tokens = mask_token.reshape(1, 1, D).expand(B, L - (n - 1), D).to(x.dtype)
    shuffled = torch.cat([x[:, 1:], tokens], dim=1)
    unshuffled = torch.gather(shuffled, 1, ids_restore.unsqueeze(-1))  # (B, L, 1)
    return torch.cat([x[:, :1, :1], unshuffled], dim=1)  # (B, 1 + L, 1)


@mistake(
    "cls-shuffled-with-tokens",
    cell="test_restore_sequence",
    replaces="restore_sequence",
    explanation="You unshuffle the CLS token together with the patch tokens; it is not a patch and must stay "
    "at position 0, outside the gather.",
    hint="Gather x[:, 1:] (plus the mask tokens) and concatenate x[:, :1] in front afterwards.",
)
def restore_cls_in_gather(x, mask_token, ids_restore):
    B, n, D = x.shape
    L = ids_restore.shape[1]
    tokens = mask_token.reshape(1, 1, D).expand(B, L - (n - 1), D).to(x.dtype)
    shuffled = torch.cat([x, tokens], dim=1)  # (B, 1 + L, D), CLS first
    index = ids_restore.unsqueeze(-1).expand(-1, -1, D)
    unshuffled = torch.gather(shuffled, 1, index)  # CLS may move; the last token is lost
    return torch.cat([x[:, :1], unshuffled], dim=1)


@mistake(
    "mask-tokens-first",
    cell="test_restore_sequence",
    replaces="restore_sequence",
    explanation="You put the mask tokens before the visible ones; ids_restore assumes the order of ids_shuffle, "
    "kept tokens first.",
    hint="torch.cat([x[:, 1:], mask_tokens], dim=1), then gather.",
)
def restore_tokens_first(x, mask_token, ids_restore):
    return _restore(x, mask_token, ids_restore, tokens_first=True)


# --- mae_loss -----------------------------------------------------------------------------------
def _mae_loss(
    pred, target, mask, norm_pix_loss, *, weights="mask", unbiased=True, eps=1e-6, use_norm=True, denominator="mask"
):
    if norm_pix_loss and use_norm:
        mean = target.mean(dim=-1, keepdim=True)
        var = target.var(dim=-1, keepdim=True, unbiased=unbiased)
        target = (target - mean) / (var + eps) ** 0.5
    per_patch = ((pred - target) ** 2).mean(dim=-1)
    if weights == "all":
        return per_patch.mean()
    w = mask if weights == "mask" else 1 - mask
    return (per_patch * w).sum() / (w.sum() if denominator == "mask" else w.numel())


@mistake(
    "loss-over-all-patches",
    cell="test_mae_loss",
    replaces="mae_loss",
    explanation="You average the error over every patch; MAE counts only the removed ones (mask = 1), "
    "the visible ones are trivial to copy.",
    hint="(per_patch * mask).sum() / mask.sum().",
)
def mae_loss_all_patches(pred, target, mask, norm_pix_loss=False):
    return _mae_loss(pred, target, mask, norm_pix_loss, weights="all")


@mistake(
    "loss-on-visible-patches",
    cell="test_mae_loss",
    replaces="mae_loss",
    explanation="You count the visible patches (mask = 0) instead of the removed ones (mask = 1).",
    hint="Weight each patch's error by mask, not by 1 - mask.",
)
def mae_loss_visible(pred, target, mask, norm_pix_loss=False):
    return _mae_loss(pred, target, mask, norm_pix_loss, weights="visible")


@mistake(
    "divided-by-all-patches",
    cell="test_mae_loss",
    replaces="mae_loss",
    explanation="You sum the removed patches' errors but divide by the number of all patches, so the loss "
    "shrinks with the mask ratio.",
    hint="Divide by mask.sum(), the number of removed patches.",
)
def mae_loss_wrong_denominator(pred, target, mask, norm_pix_loss=False):
    return _mae_loss(pred, target, mask, norm_pix_loss, denominator="numel")


@mistake(
    "biased-variance",
    cell="test_mae_loss",
    replaces="mae_loss",
    explanation="Your per-patch variance divides by D; MAE's norm_pix_loss uses the unbiased variance "
    "(divides by D − 1), torch's default.",
    hint="target.var(dim=-1, keepdim=True) with the default unbiased=True.",
)
def mae_loss_biased_var(pred, target, mask, norm_pix_loss=False):
    return _mae_loss(pred, target, mask, norm_pix_loss, unbiased=False)


@mistake(
    "norm-pix-ignored",
    cell="test_mae_loss",
    replaces="mae_loss",
    explanation="With norm_pix_loss=True the targets must be standardised per patch; you use the raw pixels.",
    hint="if norm_pix_loss: target = (target - mean) / (var + 1e-6) ** 0.5, per patch (dim=-1).",
)
def mae_loss_ignores_norm(pred, target, mask, norm_pix_loss=False):
    return _mae_loss(pred, target, mask, norm_pix_loss, use_norm=False)


# Not named by the feedback: its answer is a NaN scalar, and a NaN is evidence for no one mistake
# (the NaN message of grading.assert_close already says "something divided by 0").
@mistake(
    "norm-without-eps",
    cell="test_mae_loss",
    replaces="mae_loss",
    explanation="Without the 1e-6 in √(var + 1e-6) a constant patch (a black background) divides 0 by 0.",
    hint="target = (target - mean) / (var + 1e-6) ** 0.5.",
    named=False,
)
def mae_loss_no_eps(pred, target, mask, norm_pix_loss=False):
    return _mae_loss(pred, target, mask, norm_pix_loss, eps=0.0)
