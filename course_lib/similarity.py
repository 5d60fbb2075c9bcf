"""Chapter 3 — how a query is compared with keys, and attention as a soft database lookup.

Four classic similarity functions score a query q against keys k (Luong et al. 2015,
Bahdanau et al. 2015, Vaswani et al. 2017). All return (..., L, S) for q (..., L, d_q) and
k (..., S, d_k).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def dot_similarity(q: Tensor, k: Tensor) -> Tensor:
    """q kᵀ. q: (..., L, d)  k: (..., S, d)  Returns (..., L, S)."""
    return q @ k.transpose(-2, -1)


def scaled_dot_similarity(q: Tensor, k: Tensor) -> Tensor:
    """q kᵀ / √d. q: (..., L, d)  k: (..., S, d)  Returns (..., L, S)."""
    return dot_similarity(q, k) / math.sqrt(q.shape[-1])


def general_similarity(q: Tensor, k: Tensor, W: Tensor) -> Tensor:
    """q W kᵀ, a learned bilinear form. q: (..., L, d_q)  W: (d_q, d_k)  k: (..., S, d_k)."""
    if W.shape != (q.shape[-1], k.shape[-1]):
        raise ValueError(f"W must be (d_q, d_k) = {(q.shape[-1], k.shape[-1])}; got {tuple(W.shape)}")
    return q @ W @ k.transpose(-2, -1)


def additive_similarity(q: Tensor, k: Tensor, W_q: Tensor, W_k: Tensor, w: Tensor) -> Tensor:
    """wᵀ tanh(W_q q + W_k k) (Bahdanau). W_q: (h, d_q)  W_k: (h, d_k)  w: (h,)  Returns (..., L, S)."""
    hq = q @ W_q.T  # (..., L, h)
    hk = k @ W_k.T  # (..., S, h)
    return torch.tanh(hq.unsqueeze(-2) + hk.unsqueeze(-3)) @ w  # (..., L, S)


def hard_lookup(query: Tensor, keys: Tensor, values: Tensor) -> Tensor:
    """A database lookup: return the value of the single best-matching key (argmax).

    query: (d,)  keys: (S, d)  values: (S, d_v)  Returns (d_v,).
    """
    return values[dot_similarity(query[None], keys)[0].argmax()]


def soft_lookup(query: Tensor, keys: Tensor, values: Tensor, temperature: float = 1.0) -> tuple[Tensor, Tensor]:
    """Attention as a soft lookup: a softmax-weighted average of all values.

    query: (d,)  keys: (S, d)  values: (S, d_v)
    Returns (result (d_v,), weights (S,)); as temperature → 0 it becomes :func:`hard_lookup`.
    """
    weights = torch.softmax(dot_similarity(query[None], keys)[0] / temperature, dim=-1)  # (S,)
    return weights @ values, weights
