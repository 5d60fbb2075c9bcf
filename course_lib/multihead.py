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

from typing import Optional, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .attention import attention_weights
from .reference import reference


# ---------------------------------------------------------------- heads ↔ channels
@reference
def split_heads(x: Tensor, n_heads: int) -> Tensor:
    """Cut the channels into ``n_heads`` heads: (B, T, C) → (B, h, T, C/h).

    Channel c of token t goes to head c // d_head, position c % d_head (d_head = C/h):
    view as (B, T, h, d_head) — the channels of one token stay together — then swap T and h.
    """
    if x.dim() != 3:
        raise ValueError(f"x must be (B, T, C); got shape {tuple(x.shape)}")
    B, T, C = x.shape
    if not isinstance(n_heads, int) or n_heads < 1:
        raise ValueError(f"n_heads must be a positive int; got {n_heads!r}")
    if C % n_heads:
        raise ValueError(f"C = {C} (x's last dim) must be divisible by n_heads = {n_heads}; got x {tuple(x.shape)}")
    return x.view(B, T, n_heads, C // n_heads).transpose(1, 2)  # (B, T, h, d) -> (B, h, T, d)


@reference
def merge_heads(x: Tensor) -> Tensor:
    """Inverse of :func:`split_heads`: (B, h, T, d) → (B, T, h·d), heads concatenated per token."""
    if x.dim() != 4:
        raise ValueError(f"x must be (B, h, T, d_head); got shape {tuple(x.shape)}")
    B, h, T, d = x.shape
    return x.transpose(1, 2).reshape(B, T, h * d)  # (B, h, T, d) -> (B, T, h, d) -> (B, T, h·d)


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
        raise ValueError(
            f"mask must be (L, S) = {(L, S)}, (B, L, S) = {(B, L, S)} or (B, 1, S) = {(B, 1, S)} "
            f"(or 4-D with a head axis); got mask {tuple(mask.shape)}"
        )
    return mask[:, None] if mask.dim() == 3 else mask  # (B, 1, L|1, S): the same mask for every head


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

    def __init__(self, d_model: int, n_heads: int, bias: bool = True, dropout: float = 0.0, use_sdpa: bool = False):
        super().__init__()
        if d_model < 1 or n_heads < 1 or d_model % n_heads:
            raise ValueError(
                f"d_model must be a positive multiple of n_heads; got d_model={d_model}, n_heads={n_heads}"
            )
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
            raise ValueError(
                f"query, key and value must share the batch size B; got query {tuple(query.shape)}, "
                f"key {tuple(key.shape)}, value {tuple(value.shape)}"
            )
        if key.shape[1] != value.shape[1]:
            raise ValueError(
                f"key and value must have the same length S; got key {tuple(key.shape)} and value {tuple(value.shape)}"
            )

    @reference
    def forward(
        self,
        query: Tensor,
        key: Optional[Tensor] = None,
        value: Optional[Tensor] = None,
        mask: Optional[Tensor] = None,
        need_weights: bool = False,
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
        q = split_heads(self.q_proj(query), self.n_heads)  # (B, h, L, d_head)
        k = split_heads(self.k_proj(key), self.n_heads)  # (B, h, S, d_head)
        v = split_heads(self.v_proj(value), self.n_heads)  # (B, h, S, d_head)
        p = self.dropout if self.training else 0.0
        if self.use_sdpa and not need_weights:
            heads, weights = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p), None
        else:
            weights = attention_weights(q, k, mask)  # (B, h, L, S), chapter 3's softmax over the keys
            dropped = F.dropout(weights, p, self.training) if p > 0 else weights
            heads = dropped @ v  # (B, h, L, d_head)
        out = self.out_proj(merge_heads(heads))  # (B, L, C)
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
    return 8 * n * d_model**2 + 4 * n**2 * d_model


def _check_cost_args(**kwargs: int) -> None:
    for name, value in kwargs.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int; got {value!r}")
    if kwargs["d_model"] % kwargs["n_heads"]:
        raise ValueError(
            f"d_model must be divisible by n_heads; got d_model={kwargs['d_model']}, n_heads={kwargs['n_heads']}"
        )


def copy_from_torch(ours: MultiHeadAttention, theirs: nn.MultiheadAttention) -> MultiHeadAttention:
    """Copy ``nn.MultiheadAttention``'s weights into ours (in_proj_weight = [W_q; W_k; W_v])."""
    C = ours.d_model
    with torch.no_grad():
        for i, proj in enumerate((ours.q_proj, ours.k_proj, ours.v_proj)):
            proj.weight.copy_(theirs.in_proj_weight[i * C : (i + 1) * C])
            if proj.bias is not None:
                proj.bias.copy_(theirs.in_proj_bias[i * C : (i + 1) * C])
        ours.out_proj.weight.copy_(theirs.out_proj.weight)
        if ours.out_proj.bias is not None:
            ours.out_proj.bias.copy_(theirs.out_proj.bias)
    return ours
