"""Chapter 8 — the Swin Transformer: attention inside local windows, shifted every other block,
with patch merging between stages for a hierarchy of feature maps.

Feature maps are channels-last, ``x: (B, H, W, C)``, as in torchvision's Swin, which is this
module's oracle: :func:`shifted_window_attention` equals
``torchvision.models.swin_transformer.shifted_window_attention(..., training=False)`` exactly
(max |difference| 0.0 measured with copied weights), and :func:`patch_merging` equals its
``PatchMerging``. M is the window size (M × M tokens per window), s the shift.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .reference import reference


def _check_map(x: Tensor, window_size: int, name: str = "x") -> None:
    if x.dim() != 4:
        raise ValueError(f"{name} must be a channels-last feature map (B, H, W, C); got shape {tuple(x.shape)}")
    H, W = x.shape[1:3]
    if H % window_size or W % window_size:
        raise ValueError(
            f"window_size must divide H and W of {name}; got window_size={window_size} "
            f"for H={H}, W={W} ({name} {tuple(x.shape)})"
        )


# ------------------------------------------------------------------------------ windows


@reference
def window_partition(x: Tensor, window_size: int) -> Tensor:
    """Cut a feature map into non-overlapping M × M windows, each a sequence of M² tokens.

    x: (B, H, W, C) with M = window_size dividing H and W.
    Returns (B·nW, M², C) with nW = (H/M)·(W/M); windows in row-major order per image,
    tokens row-major inside each window.
    """
    _check_map(x, window_size)
    B, H, W, C = x.shape
    M = window_size
    x = x.view(B, H // M, M, W // M, M, C)  # (B, H/M, M, W/M, M, C)
    x = x.permute(0, 1, 3, 2, 4, 5)  # (B, H/M, W/M, M, M, C): window indices first
    return x.reshape(B * (H // M) * (W // M), M * M, C)  # (B·nW, M², C)


@reference
def window_reverse(windows: Tensor, window_size: int, H: int, W: int) -> Tensor:
    """Inverse of :func:`window_partition`: put the windows back into a feature map.

    windows: (B·nW, M², C) with nW = (H/M)·(W/M).  Returns (B, H, W, C).
    """
    M = window_size
    if windows.dim() != 3 or windows.shape[1] != M * M:
        raise ValueError(f"windows must be (B·nW, M², C) with M²={M * M}; got shape {tuple(windows.shape)}")
    if H % M or W % M or windows.shape[0] % ((H // M) * (W // M)):
        raise ValueError(
            f"H={H}, W={W} must be multiples of window_size={M} and windows.shape[0] a multiple "
            f"of nW; got windows {tuple(windows.shape)}"
        )
    C = windows.shape[-1]
    B = windows.shape[0] // ((H // M) * (W // M))
    x = windows.view(B, H // M, W // M, M, M, C)  # (B, H/M, W/M, M, M, C)
    x = x.permute(0, 1, 3, 2, 4, 5)  # (B, H/M, M, W/M, M, C)
    return x.reshape(B, H, W, C)


# ------------------------------------------------------------------------------ relative position bias


@reference
def relative_position_index(window_size: int, device: Optional[torch.device] = None) -> Tensor:
    """Index into the (2M−1)² × h bias table for every (query, key) pair of a window.

    Token i sits at (y_i, x_i) in the window (row-major, i = y_i·M + x_i). The pair (i, j) has
    offset (y_i − y_j, x_i − x_j) ∈ [−(M−1), M−1]²; shifted by M−1 to start at 0, it is
    flattened as (y_i − y_j + M − 1)·(2M − 1) + (x_i − x_j + M − 1).
    Returns int64 (M², M²), values in [0, (2M−1)²).
    """
    M = window_size
    if M < 1:
        raise ValueError(f"window_size must be ≥ 1; got {M}")
    coords = torch.stack(
        torch.meshgrid(torch.arange(M, device=device), torch.arange(M, device=device), indexing="ij")
    ).flatten(1)  # (2, M²): (y, x) of each token
    rel = coords[:, :, None] - coords[:, None, :]  # (2, M², M²): offsets query − key
    rel = rel + (M - 1)  # both offsets now in [0, 2M−2]
    return rel[0] * (2 * M - 1) + rel[1]  # (M², M²)


def gather_relative_bias(bias_table: Tensor, window_size: int) -> Tensor:
    """Look up the bias of every (query, key) pair: table ((2M−1)², h) → (h, M², M²)."""
    M = window_size
    if bias_table.dim() != 2 or bias_table.shape[0] != (2 * M - 1) ** 2:
        raise ValueError(
            f"bias_table must be ((2M−1)², h) = ({(2 * M - 1) ** 2}, h) for window_size={M}; "
            f"got {tuple(bias_table.shape)}"
        )
    index = relative_position_index(M, device=bias_table.device)  # (M², M²)
    return bias_table[index.flatten()].view(M * M, M * M, -1).permute(2, 0, 1)  # (h, M², M²)


# ------------------------------------------------------------------------------ attention


@reference
def window_attention(
    windows: Tensor,
    qkv_weight: Tensor,
    qkv_bias: Optional[Tensor],
    proj_weight: Tensor,
    proj_bias: Optional[Tensor],
    relative_bias: Tensor,
    n_heads: int,
    mask: Optional[Tensor] = None,
) -> Tensor:
    """Multi-head self-attention inside each window, with a relative position bias.

    softmax(q kᵀ / √d + relative_bias + mask) v per head, then the output projection.
    windows: (B·nW, N, C) with N = M² tokens; qkv_weight (3C, C), qkv_bias (3C,) or None
    (rows: all queries, then keys, then values); proj_weight (C, C), proj_bias (C,) or None;
    relative_bias: (h, N, N); mask: None or float (nW, N, N), added (0 or −100), the windows of
    each image in order. Returns (B·nW, N, C).
    """
    Bw, N, C = windows.shape
    if C % n_heads:
        raise ValueError(f"n_heads must divide C; got C={C}, n_heads={n_heads}")
    if relative_bias.shape != (n_heads, N, N):
        raise ValueError(f"relative_bias must be (h, N, N) = {(n_heads, N, N)}; got {tuple(relative_bias.shape)}")
    qkv = F.linear(windows, qkv_weight, qkv_bias)  # (Bw, N, 3C)
    qkv = qkv.reshape(Bw, N, 3, n_heads, C // n_heads).permute(2, 0, 3, 1, 4)  # (3, Bw, h, N, d)
    q, k, v = qkv[0], qkv[1], qkv[2]
    q = q * (C // n_heads) ** -0.5
    attn = q.matmul(k.transpose(-2, -1))  # (Bw, h, N, N)
    attn = attn + relative_bias
    if mask is not None:
        nW = mask.shape[0]
        attn = attn.view(Bw // nW, nW, n_heads, N, N) + mask.unsqueeze(1).unsqueeze(0)
        attn = attn.view(-1, n_heads, N, N)
    attn = F.softmax(attn, dim=-1)
    x = attn.matmul(v).transpose(1, 2).reshape(Bw, N, C)  # (Bw, N, C): heads side by side
    return F.linear(x, proj_weight, proj_bias)


@reference
def shift_regions(H: int, W: int, window_size: int, shift: int, device: Optional[torch.device] = None) -> Tensor:
    """Region label of every pixel of an (H, W) map rolled by −s: row bands [0, H−M), [H−M, H−s),
    [H−s, H) times the same three column bands, labelled 3·row band + column band.

    Returns float (H, W) with values in 0..8; :func:`shift_window_mask` compares them per window.
    """
    M, s = window_size, shift
    regions = torch.zeros(H, W, device=device)
    bands = (slice(0, -M), slice(-M, -s), slice(-s, None))
    for r, rows in enumerate(bands):
        for c, cols in enumerate(bands):
            regions[rows, cols] = 3 * r + c
    return regions


@reference
def shift_window_mask(H: int, W: int, window_size: int, shift: int, device: Optional[torch.device] = None) -> Tensor:
    """Additive mask for attention in shifted windows: 0 within a region, −100 across regions.

    After rolling the map by −s, a window at the bottom or right edge holds pixels that were
    far apart in the image. Label the rolled map's regions — rows [0, H−M), [H−M, H−s),
    [H−s, H) times the same three column bands — and let a token attend only to tokens of its
    own region. Returns float (nW, M², M²), nW = (H/M)·(W/M).
    """
    M, s = window_size, shift
    if H % M or W % M:
        raise ValueError(f"window_size must divide H and W; got window_size={M}, H={H}, W={W}")
    if not 0 < s < M:
        raise ValueError(f"shift must satisfy 0 < shift < window_size={M}; got {s}")
    regions = shift_regions(H, W, M, s, device)  # (H, W)
    regions = regions.view(H // M, M, W // M, M).permute(0, 2, 1, 3).reshape(-1, M * M)  # (nW, M²)
    diff = regions.unsqueeze(1) - regions.unsqueeze(2)  # (nW, M², M²)
    return diff.masked_fill(diff != 0, -100.0).masked_fill(diff == 0, 0.0)


@reference
def shifted_window_attention(
    x: Tensor,
    qkv_weight: Tensor,
    qkv_bias: Optional[Tensor],
    proj_weight: Tensor,
    proj_bias: Optional[Tensor],
    bias_table: Tensor,
    window_size: int,
    n_heads: int,
    shift: int = 0,
) -> Tensor:
    """(Shifted-)window multi-head self-attention on a feature map (W-MSA, or SW-MSA when shift > 0).

    roll by −s → window_partition → window_attention with the relative bias (and, when
    shifted, the region mask) → window_reverse → roll by +s.
    x: (B, H, W, C); bias_table ((2M−1)², h); weights as in :func:`window_attention`.
    Returns (B, H, W, C).
    """
    _check_map(x, window_size)
    B, H, W, C = x.shape
    if shift:
        x = torch.roll(x, shifts=(-shift, -shift), dims=(1, 2))
    windows = window_partition(x, window_size)  # (B·nW, M², C)
    bias = gather_relative_bias(bias_table, window_size)  # (h, M², M²)
    mask = shift_window_mask(H, W, window_size, shift, device=x.device) if shift else None
    windows = window_attention(windows, qkv_weight, qkv_bias, proj_weight, proj_bias, bias, n_heads, mask)
    x = window_reverse(windows, window_size, H, W)  # (B, H, W, C)
    if shift:
        x = torch.roll(x, shifts=(shift, shift), dims=(1, 2))
    return x


# ------------------------------------------------------------------------------ patch merging


@reference
def patch_merging(x: Tensor, norm_weight: Tensor, norm_bias: Tensor, reduction_weight: Tensor) -> Tensor:
    """Halve the resolution, double the channels: concat each 2 × 2 neighbourhood, LayerNorm, Linear.

    The four pixels are concatenated in torchvision's order x[0::2, 0::2], x[1::2, 0::2],
    x[0::2, 1::2], x[1::2, 1::2] (top-left, bottom-left, top-right, bottom-right).
    x: (B, H, W, C) with H, W even; norm_weight, norm_bias (4C,); reduction_weight (2C, 4C).
    Returns (B, H/2, W/2, 2C).
    """
    if x.dim() != 4 or x.shape[1] % 2 or x.shape[2] % 2:
        raise ValueError(f"x must be (B, H, W, C) with even H and W; got shape {tuple(x.shape)}")
    x0 = x[:, 0::2, 0::2, :]  # (B, H/2, W/2, C) top-left
    x1 = x[:, 1::2, 0::2, :]  # bottom-left
    x2 = x[:, 0::2, 1::2, :]  # top-right
    x3 = x[:, 1::2, 1::2, :]  # bottom-right
    x = torch.cat([x0, x1, x2, x3], dim=-1)  # (B, H/2, W/2, 4C)
    x = F.layer_norm(x, (x.shape[-1],), norm_weight, norm_bias, eps=1e-5)
    return F.linear(x, reduction_weight)  # (B, H/2, W/2, 2C)


def msa_flops(h: int, w: int, C: int) -> int:
    """Multiply-adds of global multi-head self-attention on an h × w map (Swin paper, eq. 1):
    4hwC² (the q, k, v and output projections) + 2(hw)²C (scores and weighted sum)."""
    return 4 * h * w * C**2 + 2 * (h * w) ** 2 * C


def wmsa_flops(h: int, w: int, C: int, M: int) -> int:
    """Multiply-adds of window attention with M × M windows (Swin paper, eq. 2): 4hwC² + 2M²hwC."""
    return 4 * h * w * C**2 + 2 * M**2 * h * w * C


# ------------------------------------------------------------------------------ modules


class WindowAttention(nn.Module):
    """W-MSA / SW-MSA as a module: parameters ``qkv`` (C → 3C), ``proj`` (C → C) and the
    ``relative_position_bias_table`` ((2M−1)², h), as in torchvision's ShiftedWindowAttention.

    x: (B, H, W, C) → (B, H, W, C). The shift is switched off when the map fits in one window.
    """

    def __init__(self, dim: int, n_heads: int, window_size: int, shift: int = 0):
        super().__init__()
        if dim % n_heads:
            raise ValueError(f"n_heads must divide dim; got dim={dim}, n_heads={n_heads}")
        self.n_heads, self.window_size, self.shift = n_heads, window_size, shift
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window_size - 1) ** 2, n_heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def forward(self, x: Tensor) -> Tensor:
        shift = self.shift if min(x.shape[1:3]) > self.window_size else 0
        return shifted_window_attention(
            x,
            self.qkv.weight,
            self.qkv.bias,
            self.proj.weight,
            self.proj.bias,
            self.relative_position_bias_table,
            self.window_size,
            self.n_heads,
            shift,
        )


class SwinBlock(nn.Module):
    """Pre-norm Swin block: x + attn(norm1(x)), then x + mlp(norm2(x)); mlp = fc1 → GELU → fc2.

    Same parameter layout as torchvision's SwinTransformerBlock (``norm1, attn, norm2, mlp``).
    x: (B, H, W, C) → (B, H, W, C).
    """

    def __init__(self, dim: int, n_heads: int, window_size: int, shift: int = 0, mlp_ratio: float = 4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, n_heads, window_size, shift)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchMerging(nn.Module):
    """:func:`patch_merging` as a module with ``norm`` (LayerNorm 4C) and ``reduction`` (4C → 2C,
    no bias), as in torchvision. x: (B, H, W, C) → (B, H/2, W/2, 2C)."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return patch_merging(x, self.norm.weight, self.norm.bias, self.reduction.weight)


@dataclass
class SwinConfig:
    """A small hierarchical Swin; defaults fit 32 × 32 images on a CPU."""

    image_size: int = 32  # input height = width
    in_channels: int = 3  # image channels
    patch_size: int = 2  # stride-P patch embedding: (image_size/P)² tokens in stage 1
    embed_dim: int = 32  # channels C of stage 1; stage i has C·2^i
    depths: tuple[int, ...] = (2, 2)  # blocks per stage (pairs: W-MSA then SW-MSA)
    n_heads: tuple[int, ...] = (2, 4)  # heads per stage
    window_size: int = 4  # M: attention inside M × M windows, shift M // 2 in odd blocks
    mlp_ratio: float = 2.0  # hidden width of the MLP / C
    n_classes: int = 10  # classifier outputs


class Swin(nn.Module):
    """Patch embedding (conv + LayerNorm) → stages of Swin blocks with patch merging between
    them → LayerNorm → global average pool → linear head; torchvision's SwinTransformer layout.

    x: (B, in_channels, H, W) → logits (B, n_classes); ``forward_features`` gives the last
    stage's map (B, H', W', C') after the final norm.
    """

    def __init__(self, config: SwinConfig):
        super().__init__()
        c = config
        if len(c.depths) != len(c.n_heads):
            raise ValueError(f"depths and n_heads need one entry per stage; got {c.depths} and {c.n_heads}")
        self.config = c
        self.patch_embed = nn.Conv2d(c.in_channels, c.embed_dim, kernel_size=c.patch_size, stride=c.patch_size)
        self.patch_norm = nn.LayerNorm(c.embed_dim)
        self.stages, self.merges = nn.ModuleList(), nn.ModuleList()
        dim = c.embed_dim
        for i, (depth, heads) in enumerate(zip(c.depths, c.n_heads)):
            shifts = [0 if j % 2 == 0 else c.window_size // 2 for j in range(depth)]  # shift odd blocks
            self.stages.append(nn.Sequential(*[SwinBlock(dim, heads, c.window_size, s, c.mlp_ratio) for s in shifts]))
            if i < len(c.depths) - 1:
                self.merges.append(PatchMerging(dim))
                dim *= 2
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, c.n_classes)

    def forward_features(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.config.in_channels:
            raise ValueError(f"x must be (B, in_channels={self.config.in_channels}, H, W); got {tuple(x.shape)}")
        x = self.patch_norm(self.patch_embed(x).permute(0, 2, 3, 1))  # (B, H/P, W/P, C)
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i < len(self.merges):
                x = self.merges[i](x)  # (B, H/2, W/2, 2C)
        return self.norm(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.forward_features(x).mean(dim=(1, 2)))  # (B, n_classes)
