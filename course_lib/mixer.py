"""Chapter 7's attention-free comparison: the MLP-Mixer (Tolstikhin et al. 2021).

The same patches as the ViT, but no attention: each block mixes information *across tokens*
with an MLP applied to every channel (its weights are tied to token positions, so no position
embedding is needed), then *within each token* with an MLP applied to every patch:

    U = X + W₂ σ(W₁ LayerNorm(X)ᵀ)ᵀ        token mixing,    over the N patches
    Y = U + MLP(LayerNorm(U))               channel mixing,  over the D channels
    logits = head(mean over patches of LayerNorm(Y_L))

The paper's point is that neither convolution nor attention is necessary: with enough
pre-training data, or strong regularisation, plain MLPs come close to both. Chapter 7 trains it
beside the ViT and the CNN, with the same recipe and seeds.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from .transformer import FeedForward
from .vit import LN_EPS, PatchEmbedding, check_images


@dataclass
class MixerConfig:
    """A small MLP-Mixer; the defaults match chapter 7's ViT on 16 × 16 digits."""

    image_size: int = 16  # input height = width
    patch_size: int = 4  # P: N = (image_size / P)² patches
    in_channels: int = 1  # C
    n_classes: int = 10  # outputs of the head
    d_model: int = 64  # token width D
    n_layers: int = 4  # Mixer blocks
    d_token: int = 64  # hidden width of the token-mixing MLP (the paper's D_S)
    d_ff: int = 128  # hidden width of the channel-mixing MLP (the paper's D_C)

    @property
    def n_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2


class MixerBlock(nn.Module):
    """Token mixing then channel mixing, each pre-norm with a residual: (B, N, D) → (B, N, D)."""

    def __init__(self, n_patches: int, d_model: int, d_token: int, d_ff: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model, eps=LN_EPS)
        self.token_mlp = FeedForward(n_patches, d_token, activation="gelu")  # acts on (…, N)
        self.norm2 = nn.LayerNorm(d_model, eps=LN_EPS)
        self.channel_mlp = FeedForward(d_model, d_ff, activation="gelu")  # acts on (…, D)

    def forward(self, x: Tensor) -> Tensor:
        B, N, D = x.shape
        mixed = self.token_mlp(self.norm1(x).transpose(1, 2))  # (B, D, N): one MLP per channel
        x = x + mixed.transpose(1, 2)  # (B, N, D)
        return x + self.channel_mlp(self.norm2(x))  # (B, N, D)


class MLPMixer(nn.Module):
    """Patch embedding (chapter 7's), Mixer blocks, LayerNorm, mean over patches, linear head.

    (B, C, H, W) → logits (B, n_classes). No [CLS] token and no position embedding.
    """

    def __init__(self, config: MixerConfig):
        super().__init__()
        c = config
        if c.image_size % c.patch_size:
            raise ValueError(
                f"patch_size must divide image_size; got patch_size={c.patch_size}, image_size={c.image_size}"
            )
        self.config = c
        self.patch_embed = PatchEmbedding(c.in_channels, c.patch_size, c.d_model)
        self.blocks = nn.ModuleList([MixerBlock(c.n_patches, c.d_model, c.d_token, c.d_ff) for _ in range(c.n_layers)])
        self.norm = nn.LayerNorm(c.d_model, eps=LN_EPS)
        self.head = nn.Linear(c.d_model, c.n_classes)

    def forward(self, x: Tensor) -> Tensor:
        check_images(x, self.config)
        z = self.patch_embed(x)  # (B, N, D)
        for block in self.blocks:
            z = block(z)
        return self.head(self.norm(z).mean(dim=1))  # (B, n_classes)
