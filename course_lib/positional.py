"""Chapter 5 — positional encoding: telling a permutation-equivariant layer where each token is.

Self-attention treats its input as a set: permute the tokens and the outputs are permuted
the same way. Adding a position-dependent vector to each token breaks that symmetry.

    PE(pos, 2i)   = sin(pos / 10000^(2i/d))
    PE(pos, 2i+1) = cos(pos / 10000^(2i/d))        pos = 0, 1, …;  i = 0, …, d/2 − 1

Each pair of channels (2i, 2i+1) is a point on a circle turning at frequency
ω_i = 10000^(−2i/d), so PE(pos + k) is PE(pos) rotated pair by pair: PE(pos + k) = M_k · PE(pos).
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor, nn

from .reference import reference


# ---------------------------------------------------------------- naive schemes
def _check_positive(**kwargs: int) -> None:
    for name, value in kwargs.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int; got {value!r}")


@reference
def index_encoding(T: int, device: Optional[torch.device] = None) -> Tensor:
    """Position as its index: (T,) float [0, 1, …, T−1]. Unbounded: grows with the length."""
    _check_positive(T=T)
    return torch.arange(T, dtype=torch.float32, device=device)


@reference
def normalized_encoding(T: int, device: Optional[torch.device] = None) -> Tensor:
    """Position divided by the length: (T,) float pos / T, in [0, 1).

    Bounded, but the same value means different positions in sequences of different lengths
    (position 4 of 6 and position 2 of 3 both give 2/3).
    """
    _check_positive(T=T)
    return torch.arange(T, dtype=torch.float32, device=device) / T


@reference
def binary_encoding(T: int, n_bits: int, device: Optional[torch.device] = None) -> Tensor:
    """Position in binary: (T, n_bits) float 0/1, column b = bit b of pos (least significant first).

    Positions ≥ 2^n_bits wrap around (they collide with pos mod 2^n_bits).
    """
    _check_positive(T=T, n_bits=n_bits)
    pos = torch.arange(T, device=device)  # (T,)
    bits = torch.arange(n_bits, device=device)  # (n_bits,)
    return ((pos[:, None] >> bits[None, :]) & 1).float()  # (T, n_bits)


def colliding_pairs(codes: Tensor) -> list[tuple[int, int]]:
    """Pairs (i, j), i < j, of rows of ``codes`` (T,) or (T, d) that are equal: positions it cannot tell apart."""
    rows = codes.reshape(codes.shape[0], -1)
    same = (rows[:, None, :] == rows[None, :, :]).all(dim=-1).triu(diagonal=1)  # (T, T)
    return [tuple(p) for p in same.nonzero().tolist()]


# ---------------------------------------------------------------- permutation equivariance
@reference
def permutation_equivariance_gap(attn: nn.Module, x: Tensor, perm: Tensor) -> float:
    """max |attn(x[:, perm]) − attn(x)[:, perm]| over all entries — about 0 (float rounding) for
    self-attention without positions.

    attn: maps (B, T, C) → (B, T, C)   x: (B, T, C)   perm: (T,) a permutation of range(T).
    """
    if x.dim() != 3 or perm.shape != (x.shape[1],):
        raise ValueError(f"x must be (B, T, C) and perm (T,); got x {tuple(x.shape)} and perm {tuple(perm.shape)}")
    with torch.no_grad():
        return (attn(x[:, perm]) - attn(x)[:, perm]).abs().max().item()


# ---------------------------------------------------------------- sinusoidal encoding
@reference
def sinusoidal_encoding(T: int, d: int, device: Optional[torch.device] = None) -> Tensor:
    """The sinusoidal table (T, d): PE[pos, 2i] = sin(pos ω_i), PE[pos, 2i+1] = cos(pos ω_i),
    ω_i = 10000^(−2i/d), positions from 0. ``d`` must be even (a ValueError otherwise)."""
    _check_positive(T=T, d=d)
    if d % 2:
        raise ValueError(f"d must be even (sin and cos come in pairs (2i, 2i+1)); got d={d}")
    pos = torch.arange(T, dtype=torch.float32, device=device)[:, None]  # (T, 1)
    two_i = torch.arange(0, d, 2, dtype=torch.float32, device=device)  # (d/2,) = 0, 2, 4, …
    omega = torch.exp(-math.log(10000.0) * two_i / d)  # (d/2,) = 10000^(−2i/d)
    pe = torch.empty(T, d, device=device)
    pe[:, 0::2] = torch.sin(pos * omega)  # even channels
    pe[:, 1::2] = torch.cos(pos * omega)  # odd channels
    return pe


class SinusoidalPositionalEncoding(nn.Module):
    """Adds the fixed sinusoidal table to token embeddings: x (B, T, d) → x + PE[:T].

    The table is a buffer, not a parameter: it moves with ``.to(device)`` and is saved in the
    state dict, but the optimiser never changes it.
    """

    def __init__(self, d_model: int, max_len: int = 512, dropout: float = 0.0):
        super().__init__()
        self.d_model, self.max_len = d_model, max_len
        self.register_buffer("pe", sinusoidal_encoding(max_len, d_model))  # (max_len, d_model)
        self.drop = nn.Dropout(dropout)

    @reference
    def forward(self, x: Tensor) -> Tensor:
        """x (B, T, d_model) → x + pe[:T] (B, T, d_model)."""
        _check_tokens(x, self.d_model, self.max_len)
        return self.drop(x + self.pe[: x.shape[1]])  # (T, d) broadcasts over B


class LearnedPositionalEmbedding(nn.Module):
    """A trained vector per position (BERT, GPT-2, ViT): x (B, T, d) → x + P[:T], P a Parameter.

    ``P`` starts as N(0, 0.02²) noise; positions never seen in training stay noise.
    """

    def __init__(self, max_len: int, d_model: int, dropout: float = 0.0):
        super().__init__()
        self.d_model, self.max_len = d_model, max_len
        self.embedding = nn.Embedding(max_len, d_model)  # weight (max_len, d_model)
        nn.init.normal_(self.embedding.weight, std=0.02)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        """x (B, T, d_model) → x + P[:T] (B, T, d_model)."""
        _check_tokens(x, self.d_model, self.max_len)
        return self.drop(x + self.embedding.weight[: x.shape[1]])


def _check_tokens(x: Tensor, d_model: int, max_len: int) -> None:
    if x.dim() != 3 or x.shape[-1] != d_model:
        raise ValueError(f"x must be (B, T, d_model={d_model}); got x {tuple(x.shape)}")
    if x.shape[1] > max_len:
        raise ValueError(
            f"sequence length T={x.shape[1]} exceeds max_len={max_len}; build the module with a larger max_len"
        )


# ---------------------------------------------------------------- relative offsets
@reference
def offset_rotation(k: int, d: int, device: Optional[torch.device] = None) -> Tensor:
    """The (d, d) matrix M_k with PE(pos + k) = M_k · PE(pos) for every pos.

    Block diagonal: block i acts on channels (2i, 2i+1) = (sin, cos) of angle pos·ω_i and
    rotates them by k·ω_i:  [[cos kω_i, sin kω_i], [−sin kω_i, cos kω_i]]. It does not depend on pos.
    """
    _check_positive(d=d)
    if d % 2:
        raise ValueError(f"d must be even; got d={d}")
    omega = torch.exp(-math.log(10000.0) * torch.arange(0, d, 2, dtype=torch.float32, device=device) / d)  # (d/2,)
    c, s = torch.cos(k * omega), torch.sin(k * omega)  # (d/2,) each
    M = torch.zeros(d, d, device=device)
    idx = torch.arange(0, d, 2, device=device)
    M[idx, idx], M[idx, idx + 1] = c, s  # sin(a + b) = sin a cos b + cos a sin b
    M[idx + 1, idx], M[idx + 1, idx + 1] = -s, c  # cos(a + b) = cos a cos b − sin a sin b
    return M


# ---------------------------------------------------------------- RoPE (optional extension)
def rotary_embedding(x: Tensor, base: float = 10000.0) -> Tensor:
    """RoPE: rotate each channel pair (2i, 2i+1) of x (..., T, d) by pos·ω_i, ω_i = base^(−2i/d).

    Applied to queries and keys, q_m · k_n then depends on the positions only through m − n.
    """
    T, d = x.shape[-2], x.shape[-1]
    if d % 2:
        raise ValueError(f"x's last dim d must be even; got x {tuple(x.shape)}")
    omega = torch.exp(-math.log(base) * torch.arange(0, d, 2, dtype=torch.float32, device=x.device) / d)
    angle = torch.arange(T, dtype=torch.float32, device=x.device)[:, None] * omega  # (T, d/2)
    cos, sin = torch.cos(angle).to(x.dtype), torch.sin(angle).to(x.dtype)
    x1, x2 = x[..., 0::2], x[..., 1::2]  # (..., T, d/2) each
    out = torch.empty_like(x)
    out[..., 0::2] = x1 * cos - x2 * sin
    out[..., 1::2] = x1 * sin + x2 * cos
    return out
