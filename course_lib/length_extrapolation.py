"""Chapter 5's experiments: how far apart are the position codes, and do they work at lengths
never seen in training?

1. :func:`min_pairwise_distance` — the smallest Euclidean distance between the codes of two
   different positions. Exact equality (``colliding_pairs``) is the wrong test for float codes:
   two codes 1e-6 apart are "different" yet useless to a model.
2. :class:`LengthClassifier` — chapter 5's order classifier with three kinds of positions:
   ``"sinusoidal"`` and ``"learned"`` are added to the token embeddings; ``"rotary"`` rotates
   each head's queries and keys (RoPE). Trained on length 16 and tested on 32 and 64, it shows
   how each kind extrapolates. The learned table has a row for every position up to
   ``max_len``, but rows beyond the training length never receive a gradient: they stay at
   their initial noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .multihead import MultiHeadAttention, merge_heads, split_heads
from .order_task import OrderClassifierConfig
from .positional import LearnedPositionalEmbedding, SinusoidalPositionalEncoding, rotary_embedding

POSITIONS = ("sinusoidal", "learned", "rotary")


def min_pairwise_distance(codes: Tensor) -> float:
    """min over positions p ≠ q of ‖code_p − code_q‖₂; codes (T,) or (T, d), T ≥ 2.

    0 means two positions share a code; a value near float rounding means they nearly do.
    """
    if codes.shape[0] < 2:
        raise ValueError(f"codes must hold at least 2 positions (T ≥ 2); got codes {tuple(codes.shape)}")
    rows = codes.reshape(codes.shape[0], -1).double()  # (T, d)
    dist = torch.cdist(rows, rows)  # (T, T)
    dist.fill_diagonal_(math.inf)
    return dist.min().item()


class RotarySelfAttention(MultiHeadAttention):
    """Multi-head self-attention with RoPE: each head's q and k are rotated by pos·ω_i.

    x (B, T, C) → (B, T, C). The scores then depend on positions only through their offset.
    """

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        q = rotary_embedding(split_heads(self.q_proj(x), self.n_heads))  # (B, h, T, d_head)
        k = rotary_embedding(split_heads(self.k_proj(x), self.n_heads))  # (B, h, T, d_head)
        v = split_heads(self.v_proj(x), self.n_heads)  # (B, h, T, d_head)
        p = self.dropout if self.training else 0.0
        heads = F.scaled_dot_product_attention(q, k, v, dropout_p=p)  # (B, h, T, d_head)
        return self.out_proj(merge_heads(heads))  # (B, T, C)


@dataclass
class LengthClassifierConfig(OrderClassifierConfig):
    """Chapter 5's order-task encoder (:class:`OrderClassifierConfig`'s fields) with room for longer
    test sequences; ``position`` is "sinusoidal", "learned" or "rotary"."""

    max_len: int = 64  # longest test sequence (the learned table's rows)


class LengthClassifier(nn.Module):
    """tokens (B, T) → logits (B, 2): embed, positions, n_layers × (MHA, FFN), mean over tokens."""

    def __init__(self, config: LengthClassifierConfig):
        super().__init__()
        if config.position not in POSITIONS:
            raise ValueError(f"position must be one of {POSITIONS}; got {config.position!r}")
        self.config = config
        C, rotary = config.d_model, config.position == "rotary"
        self.embed = nn.Embedding(config.vocab_size, C)
        self.pos = {
            "sinusoidal": lambda: SinusoidalPositionalEncoding(C, config.max_len),
            "learned": lambda: LearnedPositionalEmbedding(config.max_len, C),
            "rotary": nn.Identity,
        }[config.position]()
        attn = RotarySelfAttention if rotary else MultiHeadAttention
        self.attns = nn.ModuleList(attn(C, config.n_heads, use_sdpa=True) for _ in range(config.n_layers))
        self.norms = nn.ModuleList(nn.LayerNorm(C) for _ in range(config.n_layers))
        self.ffs = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(C), nn.Linear(C, 4 * C), nn.ReLU(), nn.Linear(4 * C, C))
            for _ in range(config.n_layers)
        )
        self.head = nn.Linear(C, 2)

    def forward(self, tokens: Tensor) -> Tensor:
        if tokens.dim() != 2 or tokens.shape[1] > self.config.max_len:
            raise ValueError(
                f"tokens must be (B, T) with T ≤ max_len={self.config.max_len}; got tokens {tuple(tokens.shape)}"
            )
        x = self.pos(self.embed(tokens))  # (B, T, C)
        for norm, attn, ff in zip(self.norms, self.attns, self.ffs):
            x = x + attn(norm(x))  # Pre-LN residual blocks (chapter 6)
            x = x + ff(x)
        return self.head(x.mean(dim=1))  # (B, 2)
