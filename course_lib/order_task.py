"""Chapter 5's experiment: is A before B? (§5.5)

``OrderClassifier`` is a small encoder that classifies a whole sequence of the order task
(``course_lib.data.order``); three copies differ only in the positions they add: none,
sinusoidal or learned. The experiment model lives here, beside the experiment, so that the
concept modules (``multihead``, ``positional``) stay leaves.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from .multihead import MultiHeadAttention
from .positional import LearnedPositionalEmbedding, SinusoidalPositionalEncoding


@dataclass
class OrderClassifierConfig:
    """A small encoder that classifies a whole sequence; ``position`` picks the encoding."""

    vocab_size: int = 22  # token ids
    max_len: int = 16  # longest sequence
    d_model: int = 32  # width C
    n_heads: int = 4  # heads per layer
    n_layers: int = 2  # attention + feed-forward blocks
    position: str = "sinusoidal"  # "sinusoidal", "learned" or "none"


class OrderClassifier(nn.Module):
    """tokens (B, T) → logits (B, 2): embed, add positions, n_layers × (MHA, FFN), mean over tokens."""

    def __init__(self, config: OrderClassifierConfig):
        super().__init__()
        if config.position not in ("sinusoidal", "learned", "none"):
            raise ValueError(f"position must be 'sinusoidal', 'learned' or 'none'; got {config.position!r}")
        self.config = config
        C = config.d_model
        self.embed = nn.Embedding(config.vocab_size, C)
        self.pos = {
            "sinusoidal": lambda: SinusoidalPositionalEncoding(C, config.max_len),
            "learned": lambda: LearnedPositionalEmbedding(config.max_len, C),
            "none": nn.Identity,
        }[config.position]()
        self.attns = nn.ModuleList(MultiHeadAttention(C, config.n_heads, use_sdpa=True) for _ in range(config.n_layers))
        self.ffs = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(C), nn.Linear(C, 4 * C), nn.ReLU(), nn.Linear(4 * C, C))
            for _ in range(config.n_layers)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(C) for _ in range(config.n_layers))
        self.head = nn.Linear(C, 2)

    def forward(self, tokens: Tensor) -> Tensor:
        x = self.pos(self.embed(tokens))  # (B, T, C)
        for norm, attn, ff in zip(self.norms, self.attns, self.ffs):
            x = x + attn(norm(x))  # Pre-LN residual blocks (chapter 6)
            x = x + ff(x)
        return self.head(x.mean(dim=1))  # (B, 2): the mean forgets where each token was
