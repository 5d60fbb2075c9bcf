"""Chapter 3 — attention: scores, masks, softmax weights and the weighted sum of values.

Conventions follow ``torch.nn.functional.scaled_dot_product_attention``:
q is (..., L, d_k) for L queries, k is (..., S, d_k) and v is (..., S, d_v) for S keys.
A boolean mask is True where a query MAY attend; a float mask is added to the scores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor, nn

from .reference import reference


def _check_qk(q: Tensor, k: Tensor) -> None:
    if q.dim() < 2 or k.dim() < 2:
        raise ValueError(f"q and k need at least 2 dims (..., L, d_k); got q {tuple(q.shape)} and k {tuple(k.shape)}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q and k must share the last dim d_k; got q {tuple(q.shape)} and k {tuple(k.shape)}")


def _check_kv(k: Tensor, v: Tensor) -> None:
    if v.dim() < 2 or k.shape[-2] != v.shape[-2]:
        raise ValueError(
            f"k and v must have the same number of keys S in dim -2; got k {tuple(k.shape)} and v {tuple(v.shape)}"
        )


def _check_mask(mask: Tensor, scores: Tensor) -> None:
    try:
        torch.broadcast_shapes(mask.shape, scores.shape)
    except RuntimeError:
        raise ValueError(
            f"mask must broadcast to the scores' shape (..., L, S) = {tuple(scores.shape)}; "
            f"got mask {tuple(mask.shape)}"
        ) from None
    if mask.dtype != torch.bool and not mask.is_floating_point():
        raise TypeError(f"mask must be bool (True = may attend) or float (added to scores); got dtype {mask.dtype}")


@reference
def attention_scores(q: Tensor, k: Tensor) -> Tensor:
    """Scaled dot-product scores q kᵀ / √d_k.

    q: (..., L, d_k)  k: (..., S, d_k)
    Returns (..., L, S): entry [i, j] says how well query i matches key j.
    """
    _check_qk(q, k)
    d_k = q.shape[-1]
    scores = q @ k.transpose(-2, -1)  # (..., L, S)
    return scores.div_(math.sqrt(d_k))  # in place: saves a copy of the (L, S) matrix


def apply_mask(scores: Tensor, mask: Optional[Tensor]) -> Tensor:
    """Blocked positions (False in a bool mask) become -inf; a float mask is added.

    scores: (..., L, S)  mask: broadcastable to (..., L, S), bool or float.
    """
    if mask is None:
        return scores
    _check_mask(mask, scores)
    if mask.dtype == torch.bool:
        return scores.masked_fill(~mask, float("-inf"))
    return scores + mask


def _apply_mask_(scores: Tensor, mask: Optional[Tensor]) -> Tensor:
    """In-place :func:`apply_mask` for a scores tensor nobody else holds (saves a copy)."""
    if mask is None:
        return scores
    _check_mask(mask, scores)
    if mask.device != scores.device:  # in-place masked_fill_ would not catch it on every device
        raise ValueError(f"mask must be on the scores' device {scores.device}; got mask on {mask.device}")
    if scores.shape != torch.broadcast_shapes(scores.shape, mask.shape):
        return apply_mask(scores, mask)  # the mask adds dimensions: cannot write in place
    if mask.dtype == torch.bool:
        return scores.masked_fill_(~mask, float("-inf"))
    return scores.add_(mask)


@reference
def scaled_dot_product_attention(q: Tensor, k: Tensor, v: Tensor, mask: Optional[Tensor] = None) -> Tensor:
    """softmax(q kᵀ / √d_k + mask) v.

    q: (..., L, d_k)  k: (..., S, d_k)  v: (..., S, d_v)
    mask: bool (..., L, S), True where a query may attend; or float, added to the scores.
    Returns (..., L, d_v).
    """
    _check_kv(k, v)
    return attention_weights(q, k, mask) @ v  # (..., L, d_v)


def attention_weights(q: Tensor, k: Tensor, mask: Optional[Tensor] = None) -> Tensor:
    """softmax over keys of the masked scores; each row sums to 1.

    q: (..., L, d_k)  k: (..., S, d_k)  mask: as in scaled_dot_product_attention.
    Returns (..., L, S). A query row whose keys are all masked gets weights 0 (as torch does).
    """
    scores = _apply_mask_(attention_scores(q, k), mask)  # (..., L, S)
    weights = torch.softmax(scores, dim=-1)
    if mask is not None and mask.dtype == torch.bool:
        nothing_allowed = ~mask.any(dim=-1, keepdim=True)  # (..., L, 1), as small as the mask
        # softmax of an all -inf row is NaN; torch returns zeros (meta tensors hold no values to test)
        if nothing_allowed.is_meta or nothing_allowed.any():
            weights = weights.masked_fill(nothing_allowed, 0.0)
    return weights


def attention(q: Tensor, k: Tensor, v: Tensor, mask: Optional[Tensor] = None) -> tuple[Tensor, Tensor]:
    """Like :func:`scaled_dot_product_attention` but also returns the weights for plotting.

    Returns (output (..., L, d_v), weights (..., L, S)).
    """
    _check_kv(k, v)
    weights = attention_weights(q, k, mask)
    return weights @ v, weights


@reference
def causal_mask(L: int, S: Optional[int] = None, device: Optional[torch.device] = None) -> Tensor:
    """Look-ahead mask: query i may attend to keys j ≤ i.

    Returns bool (L, S) (S defaults to L), True on and below the diagonal,
    the same as the mask ``F.scaled_dot_product_attention(..., is_causal=True)`` uses.
    """
    S = L if S is None else S
    if L < 1 or S < 1:
        raise ValueError(f"L and S must be positive; got L={L}, S={S}")
    return torch.ones(L, S, dtype=torch.bool, device=device).tril()


@reference
def padding_mask(lengths: Tensor, S: int) -> Tensor:
    """Key-padding mask for a batch of sequences padded to length S.

    lengths: (B,) int, the true length of each sequence (≤ S).
    Returns bool (B, 1, S), True at real tokens (j < length); broadcasts against (B, L, S).
    """
    if lengths.dim() != 1:
        raise ValueError(f"lengths must be 1-D (B,); got shape {tuple(lengths.shape)}")
    if lengths.numel() and int(lengths.max()) > S:
        raise ValueError(f"every length must be ≤ S={S}; got max length {int(lengths.max())}")
    positions = torch.arange(S, device=lengths.device)  # (S,)
    return (positions[None, :] < lengths[:, None])[:, None, :]  # (B, 1, S)


@reference
def dot_product_variance(
    d_k: int, n_samples: int = 20_000, scaled: bool = False, generator: Optional[torch.Generator] = None
) -> float:
    """Empirical variance of q·k (or q·k/√d_k if ``scaled``) for q, k ~ N(0, I_{d_k}).

    Theory: Var(q·k) = d_k, so Var(q·k/√d_k) = 1 whatever the dimension.
    """
    q = torch.randn(n_samples, d_k, generator=generator)  # (n, d_k)
    k = torch.randn(n_samples, d_k, generator=generator)  # (n, d_k)
    dots = (q * k).sum(dim=-1)  # (n,)
    if scaled:
        dots = dots / math.sqrt(d_k)
    return dots.var().item()


@dataclass
class AttentionClassifierConfig:
    """A one-layer attention model: the last token queries the whole sequence."""

    vocab_size: int = 64  # number of token ids
    d_model: int = 32  # embedding width = d_k = d_v
    n_classes: int = 2  # output classes


class AttentionClassifier(nn.Module):
    """Embed tokens, let the LAST token attend to all tokens, classify what it gathered.

    x: (B, T) token ids  →  logits (B, n_classes); ``self.last_weights`` keeps (B, T).
    """

    def __init__(self, config: AttentionClassifierConfig):
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.d_model)
        self.q_proj = nn.Linear(config.d_model, config.d_model)
        self.k_proj = nn.Linear(config.d_model, config.d_model)
        self.v_proj = nn.Linear(config.d_model, config.d_model)
        self.head = nn.Linear(config.d_model, config.n_classes)
        self.last_weights: Optional[Tensor] = None

    def forward(self, x: Tensor) -> Tensor:
        h = self.embed(x)  # (B, T, C)
        q = self.q_proj(h[:, -1:, :])  # (B, 1, C): the final token asks the question
        k, v = self.k_proj(h), self.v_proj(h)  # (B, T, C) each
        out, weights = attention(q, k, v)  # (B, 1, C), (B, 1, T)
        self.last_weights = weights[:, 0].detach()  # (B, T)
        return self.head(out[:, 0])  # (B, n_classes)
