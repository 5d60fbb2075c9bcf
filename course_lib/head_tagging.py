"""Chapter 4's experiment: what do the heads learn? (§4.6)

``HeadTagger`` is the smallest model that shows it: token embeddings plus chapter 5's sinusoidal
positions, ONE multi-head self-attention layer, a residual connection and a LayerNorm, and one
linear read-out per per-token task (``course_lib.data.tagging``). The experiment model lives here,
beside the experiment, so that the concept modules (``multihead``, ``positional``) stay leaves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from torch import Tensor, nn

from .multihead import MultiHeadAttention
from .positional import SinusoidalPositionalEncoding


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
