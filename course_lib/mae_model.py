"""Chapter 10 — a small masked autoencoder, its pretraining loop and a linear probe.

The model follows MAE's ``models_mae.py`` (He et al. 2022), one method per idea:
``forward_encoder`` (patch embedding from chapter 7, position embedding, random masking,
CLS token, chapter 6's Pre-LN encoder on the VISIBLE tokens only), ``forward_decoder``
(a narrower encoder stack over visible tokens + mask tokens in the original order, a linear
head predicting every patch's pixels) and ``forward_loss`` (on the removed patches only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor, nn

from . import mae, training
from .transformer import TransformerEncoder
from .vit import PatchEmbedding


@dataclass
class MAEConfig:
    """A small MAE for scikit-learn's 8 × 8 digits; :meth:`tiny` is for tests."""

    image_size: int = 8  # pixels per side
    patch_size: int = 2  # P: (8 / 2)² = 16 patches of 4 pixels
    in_channels: int = 1  # grey digits
    d_model: int = 64  # encoder width
    n_heads: int = 4  # encoder heads
    n_layers: int = 3  # encoder blocks
    decoder_d_model: int = 48  # the decoder is narrower ...
    decoder_n_heads: int = 4
    decoder_n_layers: int = 1  # ... and shallower ("asymmetric" design)
    mask_ratio: float = 0.75  # fraction of patches removed during pretraining
    norm_pix_loss: bool = False  # standardise each target patch (MAE's better default on ImageNet)

    @property
    def n_patches(self) -> int:
        """L = (image_size / patch_size)², the name ViTConfig uses."""
        return (self.image_size // self.patch_size) ** 2

    @classmethod
    def tiny(cls) -> "MAEConfig":
        return cls(
            image_size=8,
            patch_size=4,
            d_model=16,
            n_heads=2,
            n_layers=1,
            decoder_d_model=8,
            decoder_n_heads=2,
            decoder_n_layers=1,
        )


def _vit_blocks(d_model: int, n_heads: int, n_layers: int) -> TransformerEncoder:
    """ViT-style blocks (pre-norm, GELU, LayerNorm eps 1e-6, MLP 4·d) of the encoder and the decoder.
    SDPA: the same result as the course's attention, faster."""
    return TransformerEncoder(
        d_model=d_model,
        n_heads=n_heads,
        d_ff=4 * d_model,
        n_layers=n_layers,
        norm_first=True,
        activation="gelu",
        eps=1e-6,
        use_sdpa=True,
    )


class MAE(nn.Module):
    """Masked autoencoder. forward(imgs (B, C, H, W)) → (loss, pred (B, L, P²C), mask (B, L))."""

    def __init__(self, config: MAEConfig):
        super().__init__()
        c = config
        if c.image_size % c.patch_size:
            raise ValueError(
                f"patch_size must divide image_size; got patch_size {c.patch_size} and image_size {c.image_size}"
            )
        self.config = c
        L = c.n_patches
        self.patch_embed = PatchEmbedding(c.in_channels, c.patch_size, c.d_model)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, c.d_model))
        self.pos_embed = nn.Parameter(torch.randn(1, 1 + L, c.d_model) * 0.02)
        self.encoder = _vit_blocks(c.d_model, c.n_heads, c.n_layers)
        self.decoder_embed = nn.Linear(c.d_model, c.decoder_d_model)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, c.decoder_d_model))
        self.decoder_pos_embed = nn.Parameter(torch.randn(1, 1 + L, c.decoder_d_model) * 0.02)
        self.decoder = _vit_blocks(c.decoder_d_model, c.decoder_n_heads, c.decoder_n_layers)
        self.decoder_pred = nn.Linear(c.decoder_d_model, c.patch_size**2 * c.in_channels)
        nn.init.normal_(self.mask_token, std=0.02)
        nn.init.normal_(self.cls_token, std=0.02)

    def forward_encoder(
        self, imgs: Tensor, mask_ratio: float, noise: Optional[Tensor] = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """imgs (B, C, H, W) → (latent (B, 1 + len_keep, d), mask (B, L), ids_restore (B, L))."""
        x = self.patch_embed(imgs) + self.pos_embed[:, 1:]  # (B, L, d): positions added BEFORE masking
        x, mask, ids_restore = mae.random_masking(x, mask_ratio, noise)  # (B, len_keep, d)
        cls = (self.cls_token + self.pos_embed[:, :1]).expand(x.shape[0], -1, -1)  # (B, 1, d)
        x = torch.cat([cls, x], dim=1)  # (B, 1 + len_keep, d)
        return self.encoder(x), mask, ids_restore  # the encoder never sees a mask token

    def forward_decoder(self, latent: Tensor, ids_restore: Tensor) -> Tensor:
        """latent (B, 1 + len_keep, d) → predicted pixels of every patch (B, L, P²C)."""
        x = self.decoder_embed(latent)  # (B, 1 + len_keep, d_dec)
        x = mae.restore_sequence(x, self.mask_token, ids_restore)  # (B, 1 + L, d_dec), original order
        x = self.decoder(x + self.decoder_pos_embed)  # (B, 1 + L, d_dec)
        return self.decoder_pred(x[:, 1:])  # (B, L, P²C), CLS dropped

    def forward_loss(self, imgs: Tensor, pred: Tensor, mask: Tensor) -> Tensor:
        """Mean squared error on the removed patches (pixels, or standardised with norm_pix_loss)."""
        target = mae.to_patches(imgs, self.config.patch_size)  # (B, L, P²C), (p, q, c) order
        return mae.mae_loss(pred, target, mask, self.config.norm_pix_loss)

    def forward(
        self, imgs: Tensor, mask_ratio: Optional[float] = None, noise: Optional[Tensor] = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        ratio = self.config.mask_ratio if mask_ratio is None else mask_ratio
        latent, mask, ids_restore = self.forward_encoder(imgs, ratio, noise)
        pred = self.forward_decoder(latent, ids_restore)
        return self.forward_loss(imgs, pred, mask), pred, mask

    @torch.no_grad()
    def features(self, imgs: Tensor) -> Tensor:
        """Frozen features for a linear probe: the encoder's patch tokens of the unmasked image,
        averaged (global average pooling). (B, C, H, W) → (B, d)."""
        self.eval()
        latent, _, _ = self.forward_encoder(imgs, 0.0)  # (B, 1 + L, d)
        return latent[:, 1:].mean(dim=1)


def reconstruct(model: MAE, imgs: Tensor, pred: Tensor, mask: Tensor, fill: float = 0.35) -> tuple[Tensor, Tensor]:
    """Images for a figure: (masked input, reconstruction with the visible patches pasted back).

    imgs (B, C, H, W); pred (B, L, P²C) as returned by the model; mask (B, L), 1 = removed.
    Removed patches of the masked input are a flat ``fill`` (grey, so they differ from background).
    With norm_pix_loss the prediction is un-standardised with each patch's own mean and std.
    """
    c = model.config
    target = mae.to_patches(imgs, c.patch_size)  # (B, L, P²C)
    if c.norm_pix_loss:
        mean, var = target.mean(-1, keepdim=True), target.var(-1, keepdim=True)
        pred = pred * (var + 1e-6) ** 0.5 + mean
    m = mask.unsqueeze(-1)  # (B, L, 1)
    masked = mae.from_patches(target * (1 - m) + fill * m, c.patch_size)  # removed patches flat grey
    pasted = mae.from_patches(target * (1 - m) + pred * m, c.patch_size)  # visible patches are the input's
    return masked, pasted.clamp(0, 1)


def pretrain(
    model: MAE,
    images: Tensor,
    steps: int,
    batch_size: int = 256,
    lr: float = 2e-3,
    seed: int = 0,
    progress: bool = True,
) -> list[float]:
    """AdamW with a one-cycle schedule on random batches of ``images`` (on the model's device)."""
    if steps < 1 or batch_size < 1:
        raise ValueError(f"need steps ≥ 1 and batch_size ≥ 1; got steps={steps}, batch_size={batch_size}")
    return training.train_random_batches(
        model,
        len(images),
        lambda batch: model(images[batch])[0],
        steps,
        batch_size,
        lr,
        images.device,
        seed=seed,
        betas=(0.9, 0.95),
        desc="MAE steps",
        progress=progress,
    )


def linear_probe(train_x: Tensor, train_y: Tensor, test_x: Tensor, test_y: Tensor) -> float:
    """Test accuracy of a logistic regression (scikit-learn) on standardised frozen features.

    train_x: (N, F), train_y: (N,), test_x: (M, F), test_y: (M,). Returns a float in [0, 1].
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if len(train_x) != len(train_y) or len(test_x) != len(test_y):
        raise ValueError(
            f"features and labels must pair up; got {len(train_x)} vs {len(train_y)} and {len(test_x)} vs {len(test_y)}"
        )
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000))
    probe.fit(train_x.flatten(1).cpu().numpy(), train_y.cpu().numpy())
    return float(probe.score(test_x.flatten(1).cpu().numpy(), test_y.cpu().numpy()))
