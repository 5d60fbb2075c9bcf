"""Chapter 4 — multi-head attention: h attention heads in parallel, each on its own subspace.

Shapes are ``batch_first``: a sequence batch is (B, T, C) with C = d_model = h · d_head.
Masks follow chapter 3 (and ``F.scaled_dot_product_attention``): a boolean mask is True where
a query MAY attend; a float mask is added to the scores. Note that ``torch.nn.MultiheadAttention``
uses the opposite boolean convention (True = blocked).

    head_i  = softmax(Q W_i^Q (K W_i^K)ᵀ / √d_head + mask) V W_i^V      (B, L, d_head)
    MHA(Q, K, V) = Concat(head_1, …, head_h) W^O                        (B, L, C)

The h projections W_i^Q (C × d_head) sit side by side in one C × C matrix, so one ``nn.Linear``
computes all heads' queries at once; :func:`split_heads` then cuts its output into heads.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .reference import reference


# ---------------------------------------------------------------- heads ↔ channels
def _split_heads(x: Tensor, n_heads: int) -> Tensor:
    if x.dim() != 3:
        raise ValueError(f"x must be (B, T, C); got shape {tuple(x.shape)}")
    B, T, C = x.shape
    if not isinstance(n_heads, int) or n_heads < 1:
        raise ValueError(f"n_heads must be a positive int; got {n_heads!r}")
    if C % n_heads:
        raise ValueError(f"C = {C} (x's last dim) must be divisible by n_heads = {n_heads}; got x {tuple(x.shape)}")
    return x.view(B, T, n_heads, C // n_heads).transpose(1, 2)  # (B, T, h, d) -> (B, h, T, d)


def _merge_heads(x: Tensor) -> Tensor:
    if x.dim() != 4:
        raise ValueError(f"x must be (B, h, T, d_head); got shape {tuple(x.shape)}")
    B, h, T, d = x.shape
    return x.transpose(1, 2).reshape(B, T, h * d)  # (B, h, T, d) -> (B, T, h, d) -> (B, T, h·d)


@reference
def split_heads(x: Tensor, n_heads: int) -> Tensor:
    """Cut the channels into ``n_heads`` heads: (B, T, C) → (B, h, T, C/h).

    Channel c of token t goes to head c // d_head, position c % d_head (d_head = C/h):
    view as (B, T, h, d_head) — the channels of one token stay together — then swap T and h.
    """
    return _split_heads(x, n_heads)


@reference
def merge_heads(x: Tensor) -> Tensor:
    """Inverse of :func:`split_heads`: (B, h, T, d) → (B, T, h·d), heads concatenated per token."""
    return _merge_heads(x)


# ---------------------------------------------------------------- masks
def _head_mask(mask: Optional[Tensor], B: int, L: int, S: int) -> Optional[Tensor]:
    """Check a mask and give it a head axis: (L, S) stays; (B, L|1, S) → (B, 1, L|1, S)."""
    if mask is None:
        return None
    if mask.dtype != torch.bool and not mask.is_floating_point():
        raise TypeError(f"mask must be bool (True = may attend) or float (added to the scores); got dtype {mask.dtype}")
    ok_2d = mask.dim() == 2 and tuple(mask.shape) == (L, S)
    ok_3d = mask.dim() == 3 and mask.shape[0] in (1, B) and mask.shape[1] in (1, L) and mask.shape[2] == S
    ok_4d = mask.dim() == 4 and mask.shape[0] in (1, B) and mask.shape[2] in (1, L) and mask.shape[3] == S
    if not (ok_2d or ok_3d or ok_4d):
        raise ValueError(f"mask must be (L, S) = {(L, S)}, (B, L, S) = {(B, L, S)} or (B, 1, S) = {(B, 1, S)} "
                         f"(or 4-D with a head axis); got mask {tuple(mask.shape)}")
    return mask[:, None] if mask.dim() == 3 else mask  # (B, 1, L|1, S): the same mask for every head


def _attend(q: Tensor, k: Tensor, v: Tensor, mask: Optional[Tensor], dropout: float,
            training: bool) -> tuple[Tensor, Tensor]:
    """Chapter 3's attention, written out (no reference calls): q (B, h, L, d), k/v (B, h, S, d)."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (B, h, L, S)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else scores + mask
    weights = torch.softmax(scores, dim=-1)  # over the keys
    if mask is not None and mask.dtype == torch.bool:
        weights = weights.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)  # fully masked rows: 0, not NaN
    dropped = F.dropout(weights, dropout, training) if dropout > 0 else weights
    return dropped @ v, weights  # (B, h, L, d), (B, h, L, S)


# ---------------------------------------------------------------- the layer
class MultiHeadAttention(nn.Module):
    """Multi-head attention with separate Q, K, V projections and an output projection W^O.

    Args:
        d_model: C, the width of queries, keys, values and output.
        n_heads: h; each head works on d_head = C / h channels.
        bias: whether the four projections have biases.
        dropout: dropout on the attention weights (training only).
        use_sdpa: compute attention with ``F.scaled_dot_product_attention`` (faster; same result).
    """

    def __init__(self, d_model: int, n_heads: int, bias: bool = True, dropout: float = 0.0,
                 use_sdpa: bool = False):
        super().__init__()
        if d_model < 1 or n_heads < 1 or d_model % n_heads:
            raise ValueError(f"d_model must be a positive multiple of n_heads; got d_model={d_model}, n_heads={n_heads}")
        self.d_model, self.n_heads, self.d_head = d_model, n_heads, d_model // n_heads
        self.dropout, self.use_sdpa = dropout, use_sdpa
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)  # [W_1^Q … W_h^Q] side by side
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)  # W^O

    def _check(self, query: Tensor, key: Tensor, value: Tensor) -> None:
        for name, t in (("query", query), ("key", key), ("value", value)):
            if t.dim() != 3 or t.shape[-1] != self.d_model:
                raise ValueError(f"{name} must be (B, T, d_model={self.d_model}); got {name} {tuple(t.shape)}")
        if not (query.shape[0] == key.shape[0] == value.shape[0]):
            raise ValueError(f"query, key and value must share the batch size B; got query {tuple(query.shape)}, "
                             f"key {tuple(key.shape)}, value {tuple(value.shape)}")
        if key.shape[1] != value.shape[1]:
            raise ValueError(f"key and value must have the same length S; got key {tuple(key.shape)} "
                             f"and value {tuple(value.shape)}")

    @reference
    def forward(self, query: Tensor, key: Optional[Tensor] = None, value: Optional[Tensor] = None,
                mask: Optional[Tensor] = None, need_weights: bool = False
                ) -> Union[Tensor, tuple[Tensor, Tensor]]:
        """query (B, L, C), key/value (B, S, C) (default: the query — self-attention).

        mask: bool, True = may attend (or float, added), shaped (L, S), (B, L, S) or (B, 1, S).
        Returns (B, L, C), or (output, weights (B, h, L, S)) when ``need_weights``.
        """
        key = query if key is None else key
        value = key if value is None else value
        self._check(query, key, value)
        B, L, _ = query.shape
        S = key.shape[1]
        mask = _head_mask(mask, B, L, S)  # (L, S) or (B, 1, L|1, S)
        q = _split_heads(self.q_proj(query), self.n_heads)  # (B, h, L, d_head)
        k = _split_heads(self.k_proj(key), self.n_heads)  # (B, h, S, d_head)
        v = _split_heads(self.v_proj(value), self.n_heads)  # (B, h, S, d_head)
        p = self.dropout if self.training else 0.0
        if self.use_sdpa and not need_weights:
            heads, weights = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p), None
        else:
            heads, weights = _attend(q, k, v, mask, p, self.training)  # (B, h, L, d_head), (B, h, L, S)
        out = self.out_proj(_merge_heads(heads))  # (B, L, C)
        return (out, weights) if need_weights else out


# ---------------------------------------------------------------- cost
@reference
def mha_param_count(d_model: int, n_heads: int, bias: bool = True) -> int:
    """Parameters of one MHA layer: four C × C matrices (+ four biases of C) = 4C² + 4C.

    The number of heads does not appear: h heads of width C/h use the same matrices as one wide head.
    """
    _check_cost_args(d_model=d_model, n_heads=n_heads)
    return 4 * d_model * d_model + (4 * d_model if bias else 0)


@reference
def mha_flops(n: int, d_model: int, n_heads: int) -> int:
    """Matrix-multiply FLOPs of one MHA self-attention layer on n tokens (1 multiply-add = 2 FLOPs).

    projections Q, K, V, O: 4 · (n × C) @ (C × C)           = 8 n C²
    scores, per head (n × d_h) @ (d_h × n), h heads        = 2 n² C
    weights @ values, per head (n × n) @ (n × d_h), h heads = 2 n² C
    total 8 n C² + 4 n² C (softmax, scaling and biases are O(n² h + n C): left out).
    """
    _check_cost_args(n=n, d_model=d_model, n_heads=n_heads)
    return 8 * n * d_model ** 2 + 4 * n ** 2 * d_model


def _check_cost_args(**kwargs: int) -> None:
    for name, value in kwargs.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int; got {value!r}")
    if kwargs["d_model"] % kwargs["n_heads"]:
        raise ValueError(f"d_model must be divisible by n_heads; got d_model={kwargs['d_model']}, "
                         f"n_heads={kwargs['n_heads']}")


def copy_from_torch(ours: MultiHeadAttention, theirs: nn.MultiheadAttention) -> MultiHeadAttention:
    """Copy ``nn.MultiheadAttention``'s weights into ours (in_proj_weight = [W_q; W_k; W_v])."""
    C = ours.d_model
    with torch.no_grad():
        for i, proj in enumerate((ours.q_proj, ours.k_proj, ours.v_proj)):
            proj.weight.copy_(theirs.in_proj_weight[i * C:(i + 1) * C])
            if proj.bias is not None:
                proj.bias.copy_(theirs.in_proj_bias[i * C:(i + 1) * C])
        ours.out_proj.weight.copy_(theirs.out_proj.weight)
        if ours.out_proj.bias is not None:
            ours.out_proj.bias.copy_(theirs.out_proj.bias)
    return ours


# ---------------------------------------------------------------- a small model to look at heads
@dataclass
class HeadTaggerConfig:
    """One multi-head self-attention layer over token embeddings, one linear read-out per task."""

    vocab_size: int = 64  # number of token ids (0 = <pad>)
    n_classes: tuple[int, ...] = (64,)  # classes of each per-token task
    d_model: int = 64  # width C
    n_heads: int = 4  # h
    max_len: int = 64  # longest sequence (sinusoidal positions)


class HeadTagger(nn.Module):
    """tokens (B, T) → one logits tensor (B, T, n_classes[i]) per task; ``last_weights`` (B, h, T, T)."""

    def __init__(self, config: HeadTaggerConfig):
        super().__init__()
        from .positional import SinusoidalPositionalEncoding  # chapter 5's module, imported late

        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.d_model, padding_idx=0)
        self.pos = SinusoidalPositionalEncoding(config.d_model, config.max_len)
        self.attn = MultiHeadAttention(config.d_model, config.n_heads)
        self.norm = nn.LayerNorm(config.d_model)
        self.readouts = nn.ModuleList(nn.Linear(config.d_model, n) for n in config.n_classes)
        self.last_weights: Optional[Tensor] = None

    def forward(self, tokens: Tensor) -> list[Tensor]:
        x = self.pos(self.embed(tokens))  # (B, T, C)
        keep = (tokens != 0)[:, None, :]  # (B, 1, T): no query looks at <pad>
        out, weights = self.attn(x, mask=keep, need_weights=True)  # (B, T, C), (B, h, T, T)
        self.last_weights = weights.detach()
        h = self.norm(x + out)  # (B, T, C)
        return [readout(h) for readout in self.readouts]
