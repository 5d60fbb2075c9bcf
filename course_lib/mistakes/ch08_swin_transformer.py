"""Common mistakes of chapter 8 (Swin). Each fails the graded test cell it names.

Self-contained: ``_swin_parts`` re-implements the correct pieces privately, so a mistake never
calls course_lib's references (they are locked while a student's code runs)."""

import torch
import torch.nn.functional as F

from . import Catalogue
from ._swin_parts import (
    _index,
    _merge,
    _partition,
    _region_mask,
    shifted_window_attention_with,
    window_attention_with,
)

catalogue = Catalogue("08_swin_transformer")
mistake = catalogue.mistake


# --- window_partition / window_reverse --------------------------------------------------------
@mistake(
    "partition-without-permute",
    cell="test_window_partition",
    replaces="window_partition",
    explanation="You reshape (B, H/M, M, W/M, M, C) straight to (-1, M², C) without moving the two window "
    "indices in front, so a 'window' is a strip of M rows that spans the whole width.",
    hint="permute(0, 1, 3, 2, 4, 5) to (B, H/M, W/M, M, M, C) before the reshape.",
)
def partition_without_permute(x, window_size):
    return _partition(x, window_size, permute=False)


@mistake(
    "partition-column-major",
    cell="test_window_partition",
    replaces="window_partition",
    explanation="Your windows come out column by column (down the first column of windows first); "
    "Swin numbers them row by row, like the pixels.",
    hint="Keep the window-row index before the window-column index: permute(0, 1, 3, 2, 4, 5).",
)
def partition_column_major(x, window_size):
    return _partition(x, window_size, column_major=True)


@mistake(
    "partition-tokens-transposed",
    cell="test_window_partition",
    replaces="window_partition",
    explanation="Inside each window your tokens run column by column (the two M axes are swapped), so "
    "the relative positions no longer match the bias table.",
    hint="Use permute(0, 1, 3, 2, 4, 5): the within-window row axis before the within-window column axis.",
)
def partition_tokens_transposed(x, window_size):
    B, H, W, C = x.shape
    M = window_size
    return x.view(B, H // M, M, W // M, M, C).permute(0, 1, 3, 4, 2, 5).reshape(-1, M * M, C)


@mistake(
    "reverse-without-permute",
    cell="test_window_reverse",
    replaces="window_reverse",
    explanation="You reshape the windows (B, H/M, W/M, M, M, C) straight to (B, H, W, C), which lays each "
    "window out as M² consecutive pixels of a row instead of an M × M square.",
    hint="permute(0, 1, 3, 2, 4, 5) to (B, H/M, M, W/M, M, C) before the reshape.",
)
def reverse_without_permute(windows, window_size, H, W):
    C = windows.shape[-1]
    return windows.reshape(-1, H, W, C)


@mistake(
    "reverse-column-major",
    cell="test_window_reverse",
    replaces="window_reverse",
    explanation="You place the windows column by column; window_partition numbered them row by row.",
    hint="View the windows as (B, H/M, W/M, M, M, C) — window rows first — then permute(0, 1, 3, 2, 4, 5).",
)
def reverse_column_major(windows, window_size, H, W):
    M, C = window_size, windows.shape[-1]
    B = windows.shape[0] // ((H // M) * (W // M))
    return windows.view(B, W // M, H // M, M, M, C).permute(0, 2, 3, 1, 4, 5).reshape(B, H, W, C)


# --- relative_position_index ------------------------------------------------------------------
@mistake(
    "relative-index-no-offset",
    cell="test_relative_position_index",
    replaces="relative_position_index",
    explanation="You do not shift the offsets by M − 1, so they run from −(M − 1) and some indices are "
    "negative (they would read the table from its end).",
    hint="Add window_size − 1 to both offsets before combining them.",
)
def relative_index_no_offset(window_size, device=None):
    return _index(window_size, offset=0).to(device)


@mistake(
    "relative-index-off-by-one",
    cell="test_relative_position_index",
    replaces="relative_position_index",
    explanation="You shift the offsets by M instead of M − 1, so the largest index falls off the end of "
    "the (2M − 1)² table.",
    hint="The offsets lie in [−(M − 1), M − 1]: add M − 1.",
)
def relative_index_off_by_one(window_size, device=None):
    return _index(window_size, offset=window_size).to(device)


@mistake(
    "relative-index-row-stride-M",
    cell="test_relative_position_index",
    replaces="relative_position_index",
    explanation="You multiply the row offset by M; it takes 2M − 1 values per axis, so different offsets "
    "collide on the same table entry.",
    hint="Combine as (dy + M − 1)·(2M − 1) + (dx + M − 1).",
)
def relative_index_row_stride_m(window_size, device=None):
    return _index(window_size, stride=window_size).to(device)


@mistake(
    "relative-index-key-minus-query",
    cell="test_relative_position_index",
    replaces="relative_position_index",
    explanation="Your offsets are key − query; the convention (and torchvision's table) uses query − key, "
    "so your index is the transpose of the right one.",
    hint="rel = coords[:, :, None] − coords[:, None, :] (query i along dim 1, key j along dim 2).",
)
def relative_index_key_minus_query(window_size, device=None):
    return _index(window_size, sign=-1).to(device)


# --- window_attention -------------------------------------------------------------------------
window_attention_no_bias = mistake(
    "window-attention-no-bias",
    cell="test_window_attention",
    replaces="window_attention",
    explanation="You never add the relative position bias to the attention scores.",
    hint="scores = q kᵀ/√d + relative_bias (shape (h, N, N) broadcasts over the windows), before the softmax.",
)(window_attention_with(use_bias=False))


window_attention_scaled_by_c = mistake(
    "window-attention-scaled-by-C",
    cell="test_window_attention",
    replaces="window_attention",
    explanation="You scale the scores by 1/√C; each head's dot products have d = C / h terms, so the "
    "scale is 1/√(C/h).",
    hint="q = q * (C // n_heads) ** -0.5.",
)(window_attention_with(scale_by_width=True))


window_attention_bias_transposed = mistake(
    "window-attention-bias-transposed",
    cell="test_window_attention",
    replaces="window_attention",
    explanation="You add the bias transposed: entry (i, j) must be the bias of query i looking at key j.",
    hint="Add relative_bias as given, (h, N_query, N_key).",
)(window_attention_with(transpose_bias=True))


window_attention_heads_not_transposed = mistake(
    "window-attention-heads-not-transposed",
    cell="test_window_attention",
    replaces="window_attention",
    explanation="You reshape the heads' outputs (Bw, h, N, d) straight to (Bw, N, C), mixing tokens and heads.",
    hint="transpose(1, 2) to (Bw, N, h, d) first, then reshape to (Bw, N, C).",
)(window_attention_with(merge_transposed=False))


# --- shift_window_mask ------------------------------------------------------------------------
@mistake(
    "shift-mask-inverted",
    cell="test_shift_window_mask",
    replaces="shift_window_mask",
    explanation="Your mask is −100 between tokens of the same region and 0 across regions: the opposite.",
    hint="0 where the region labels are equal, −100 where they differ.",
)
def shift_mask_inverted(H, W, window_size, shift, device=None):
    return _region_mask(H, W, window_size, shift, device, inverted=True)


@mistake(
    "shift-mask-bands-at-start",
    cell="test_shift_window_mask",
    replaces="shift_window_mask",
    explanation="Your regions start at the top-left ([0, s), [s, M), ...); after the roll by −s the "
    "pixels that wrapped around sit at the bottom and right edges.",
    hint="Use the bands [0, H−M), [H−M, H−s), [H−s, H) (slices (0, −M), (−M, −s), (−s, None)).",
)
def shift_mask_bands_at_start(H, W, window_size, shift, device=None):
    M, s = window_size, shift
    return _region_mask(H, W, M, s, device, bands=(slice(0, s), slice(s, M), slice(M, None)))


@mistake(
    "shift-mask-not-windowed",
    cell="test_shift_window_mask",
    replaces="shift_window_mask",
    explanation="You reshape the (H, W) region map to (nW, M²) without grouping pixels by window, so each "
    "'window' of labels is a strip of a row.",
    hint="view(H/M, M, W/M, M).permute(0, 2, 1, 3).reshape(-1, M²) — the same partition as the tokens.",
)
def shift_mask_not_windowed(H, W, window_size, shift, device=None):
    return _region_mask(H, W, window_size, shift, device, windowed=False)


@mistake(
    "shift-mask-bands-from-top",
    cell="test_shift_window_mask",
    replaces="shift_window_mask",
    explanation="You place the band borders at M and M + s, counted from the top-left; they coincide with "
    "H − M and H − s only on a map two windows wide. On a wider map the border at M + s cuts an "
    "inner window in two, and the wrapped-around pixels at the bottom and right stay unmasked.",
    hint="Count the bands from the bottom and right edges: slice(0, -M), slice(-M, -s), slice(-s, None).",
)
def shift_mask_bands_from_top(H, W, window_size, shift, device=None):
    M, s = window_size, shift
    return _region_mask(H, W, M, s, device, bands=(slice(0, M), slice(M, M + s), slice(M + s, None)))


@mistake(
    "shift-mask-square-map",
    cell="test_shift_window_mask",
    replaces="shift_window_mask",
    explanation="You build the column bands from H instead of W, as if every map were square; on a map wider "
    "or taller than it is long the column border at W − s lands in the wrong place.",
    hint="Rows: bands of H (H − M, H − s); columns: bands of W (W − M, W − s). Negative slices do both.",
)
def shift_mask_square_map(H, W, window_size, shift, device=None):
    M, s = window_size, shift
    regions = torch.zeros(H, W, device=device)
    bands = (slice(0, H - M), slice(H - M, H - s), slice(H - s, H))
    for r, rows in enumerate(bands):
        for c, cols in enumerate(bands):
            regions[rows, cols] = 3 * r + c
    regions = regions.view(H // M, M, W // M, M).permute(0, 2, 1, 3).reshape(-1, M * M)
    same = regions.unsqueeze(1) == regions.unsqueeze(2)
    return torch.where(same, 0.0, -100.0)


# --- shifted_window_attention -----------------------------------------------------------------
swa_roll_sign_flipped = mistake(
    "roll-sign-flipped",
    cell="test_shifted_window_attention",
    replaces="shifted_window_attention",
    explanation="You roll by +s before the attention and −s after; Swin rolls by −s first (the map moves "
    "up and left), which is what the region mask assumes.",
    hint="torch.roll(x, shifts=(-shift, -shift), dims=(1, 2)) before, (+shift, +shift) after.",
)(shifted_window_attention_with(before=1, after=-1))


swa_no_roll_back = mistake(
    "no-roll-back",
    cell="test_shifted_window_attention",
    replaces="shifted_window_attention",
    explanation="You never roll the result back by +s, so every output pixel sits s places up and left "
    "of its input pixel.",
    hint="After window_reverse, torch.roll(x, shifts=(shift, shift), dims=(1, 2)).",
)(shifted_window_attention_with(after=0))


swa_no_shift_mask = mistake(
    "no-shift-mask",
    cell="test_shifted_window_attention",
    replaces="shifted_window_attention",
    explanation="Without the region mask, the windows at the bottom and right edges let pixels that were "
    "on opposite sides of the image attend to each other after the roll.",
    hint="When shift > 0, add shift_window_mask(H, W, M, shift) to the scores of each image's windows.",
)(shifted_window_attention_with(use_mask=False))


swa_no_roll = mistake(
    "no-roll",
    cell="test_shifted_window_attention",
    replaces="shifted_window_attention",
    explanation="You mask the regions but never roll the map, so the windows are not shifted at all and "
    "the mask cuts the wrong pixels apart.",
    hint="Roll by −s before window_partition and by +s after window_reverse.",
)(shifted_window_attention_with(before=0, after=0))


# --- patch_merging ----------------------------------------------------------------------------
@mistake(
    "merge-row-major-concat",
    cell="test_patch_merging",
    replaces="patch_merging",
    explanation="You concatenate the 2 × 2 neighbours row by row (top-left, top-right, bottom-left, "
    "bottom-right); Swin (and torchvision) go down first: x[0::2, 0::2], x[1::2, 0::2], "
    "x[0::2, 1::2], x[1::2, 1::2].",
    hint="torch.cat([x0, x1, x2, x3], -1) with x1 = x[:, 1::2, 0::2] and x2 = x[:, 0::2, 1::2].",
)
def merge_row_major(x, norm_weight, norm_bias, reduction_weight):
    return _merge(x, ("tl", "tr", "bl", "br"), norm_weight, norm_bias, reduction_weight)


@mistake(
    "merge-norm-after-reduction",
    cell="test_patch_merging",
    replaces="patch_merging",
    explanation="You apply the linear reduction before the LayerNorm (Swin V2's order); Swin V1 normalises "
    "the 4C concatenation first.",
    hint="LayerNorm over the 4C features, then the Linear 4C → 2C.",
)
def merge_norm_after_reduction(x, norm_weight, norm_bias, reduction_weight):
    return _merge(x, ("tl", "bl", "tr", "br"), norm_weight, norm_bias, reduction_weight, norm_first=False)


@mistake(
    "merge-reshape",
    cell="test_patch_merging",
    replaces="patch_merging",
    explanation="You reshape (B, H, W, C) to (B, H/2, W/2, 4C), which groups 4 consecutive pixels of a row, "
    "not a 2 × 2 square.",
    hint="Gather the square with strided slices: x[:, 0::2, 0::2], x[:, 1::2, 0::2], ...",
)
def merge_reshape(x, norm_weight, norm_bias, reduction_weight):
    B, H, W, C = x.shape
    x = x.reshape(B, H // 2, W // 2, 4 * C)
    return F.linear(F.layer_norm(x, (4 * C,), norm_weight, norm_bias), reduction_weight)
