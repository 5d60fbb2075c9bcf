"""Chapter 9 — a small CLIP: captions for the drawn shapes, two encoders, training and evaluation.

- captions: :data:`TRAIN_TEMPLATES` mention a random subset of an image's attributes, so the
  text encoder sees "a red circle" as well as "a small red circle in the top left"; zero-shot
  classification uses :data:`ZERO_SHOT_TEMPLATES`, none of which appears in training;
- :class:`TextEncoder`: token + learned position embeddings, chapter 6's
  ``transformer.TransformerEncoder`` (Pre-LN, padding mask), pooled at each caption's end token
  and projected into the joint space (:func:`course_lib.clip.embed_text`);
- :class:`ImageEncoder`: chapter 7's ``vit.ViT`` features, pooled, projected, normalised;
- :class:`CLIP`: both encoders and the learnable temperature; :func:`train_clip` trains it
  with :func:`course_lib.clip.clip_loss`.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import clip, training
from .data.images import ATTRIBUTE_NAMES
from .data.vocab import PAD, Vocab, pad_batch, tokenize
from .transformer import TransformerEncoder
from .vit import ViT, ViTConfig

TRAIN_TEMPLATES: tuple[str, ...] = (
    "a {size} {colour} {shape} in the {position}",
    "a {colour} {shape} in the {position}",
    "a photo of a {colour} {shape}",
    "a picture of a {shape} in the {position}",
    "a {size} {shape}",
    "the {shape} is {colour}",
)
ZERO_SHOT_TEMPLATES: dict[str, tuple[str, ...]] = {  # never used as training captions
    "shape": ("a {shape}", "a picture of a {shape}", "a photo of the {shape}", "the {shape}"),
    "colour": ("a {colour} thing", "a picture of something {colour}", "the colour is {colour}"),
}


def caption_vocab() -> Vocab:
    """Every word of the templates and the attribute names (ids 0..3 are <pad> <bos> <eos> <unk>)."""
    templates = TRAIN_TEMPLATES + sum(ZERO_SHOT_TEMPLATES.values(), ())
    words = [w for t in templates for w in tokenize(re.sub(r"\{\w+\}", " ", t))]  # placeholders dropped
    words += [w for names in ATTRIBUTE_NAMES.values() for name in names for w in tokenize(name)]
    return Vocab(dict.fromkeys(words))  # unique, in order of first appearance


def random_captions(
    attributes: dict[str, Tensor], templates: Sequence[str] = TRAIN_TEMPLATES, seed: int = 0
) -> list[str]:
    """One caption per image: a random template filled with the image's attribute names."""
    rng = random.Random(seed)
    n = len(next(iter(attributes.values())))
    names = {k: [ATTRIBUTE_NAMES[k][int(i)] for i in v.tolist()] for k, v in attributes.items()}
    return [rng.choice(templates).format(**{k: names[k][i] for k in names}) for i in range(n)]


def tokenize_captions(captions: Sequence[str], vocab: Vocab, device=None) -> tuple[Tensor, Tensor]:
    """Token ids framed by <bos> … <eos>, right-padded: (ids (B, T) long, lengths (B,) long).

    The end token of caption b sits at position lengths[b] - 1.
    """
    ids, lengths = pad_batch([vocab.encode(c) for c in captions], pad_id=PAD)
    return ids.to(device), lengths.to(device)


@dataclass
class CLIPConfig:
    """A small CLIP for 32 × 32 drawn shapes; the presets :meth:`tiny` are for tests."""

    image_size: int = 32  # pixels per side
    patch_size: int = 8  # ViT patch side P: (32 / 8)² = 16 patches
    in_channels: int = 3  # RGB
    vocab_size: int = 64  # caption vocabulary (at least len(caption_vocab()))
    max_len: int = 16  # longest caption in tokens, <bos> and <eos> included
    d_model: int = 64  # width of both towers
    n_heads: int = 4  # attention heads in both towers
    d_ff: int = 128  # feed-forward width in both towers
    image_n_layers: int = 2  # ViT blocks
    text_n_layers: int = 2  # text-encoder blocks
    projection_dim: int = 32  # E, width of the joint space (Hugging Face CLIPConfig's name)
    image_pool: str = "mean"  # "mean" over patch tokens (position-blind) or "cls" (token 0)
    position: str = "learned"  # the ViT's position embedding: "learned", or "none" (the image side is position-blind)

    @classmethod
    def tiny(cls) -> "CLIPConfig":
        return cls(image_size=16, d_model=16, n_heads=2, d_ff=32, image_n_layers=1, text_n_layers=1, projection_dim=8)


class TextEncoder(nn.Module):
    """Captions → unit vectors in the joint space, read at each caption's end token.

    ids: (B, T) long, right-padded with <pad>; lengths: (B,) including <eos>. Returns (B, E).
    """

    def __init__(self, config: CLIPConfig):
        super().__init__()
        c = config
        self.token_embedding = nn.Embedding(c.vocab_size, c.d_model)
        self.position_embedding = nn.Parameter(torch.randn(c.max_len, c.d_model) * 0.02)
        self.encoder = TransformerEncoder(
            d_model=c.d_model,
            n_heads=c.n_heads,
            d_ff=c.d_ff,
            n_layers=c.text_n_layers,
            norm_first=True,
            activation="gelu",
            use_sdpa=True,
        )  # SDPA: faster, same result
        self.projection = nn.Parameter(torch.randn(c.d_model, c.projection_dim) * c.d_model**-0.5)

    def forward(self, ids: Tensor, lengths: Tensor) -> Tensor:
        B, T = ids.shape
        if T > self.position_embedding.shape[0]:
            raise ValueError(f"captions may have at most max_len = {self.position_embedding.shape[0]} tokens; got {T}")
        x = self.token_embedding(ids) + self.position_embedding[:T]  # (B, T, C)
        keep = (ids != PAD)[:, None, :]  # (B, 1, T): True = a real token, may be attended to
        hidden = self.encoder(x, mask=keep)  # (B, T, C)
        return clip.embed_text(hidden, lengths, self.projection)  # (B, E)


class ImageEncoder(nn.Module):
    """Images → unit vectors in the joint space: ViT tokens, pooled, projected. (B, 3, H, W) → (B, E)."""

    def __init__(self, config: CLIPConfig):
        super().__init__()
        c = config
        self.vit = ViT(vit_config(c))
        self.pool = c.image_pool
        self.projection = nn.Parameter(torch.randn(c.d_model, c.projection_dim) * c.d_model**-0.5)

    def forward(self, images: Tensor) -> Tensor:
        tokens = self.vit.forward_features(images)  # (B, 1 + N, C), after the final norm
        pooled = tokens[:, 1:].mean(dim=1) if self.pool == "mean" else tokens[:, 0]  # (B, C)
        return F.normalize(pooled @ self.projection, dim=-1)  # (B, E)


class CLIP(nn.Module):
    """Image and text encoders and the learnable temperature (log(1/τ), init log(1/0.07))."""

    def __init__(self, config: CLIPConfig):
        super().__init__()
        if config.image_pool not in ("mean", "cls"):
            raise ValueError(f"image_pool must be 'mean' or 'cls'; got {config.image_pool!r}")
        self.config = config
        self.image_encoder = ImageEncoder(config)
        self.text_encoder = TextEncoder(config)
        self.logit_scale = clip.new_logit_scale()

    def forward(self, images: Tensor, ids: Tensor, lengths: Tensor) -> Tensor:
        """The symmetric InfoNCE loss of a batch of B (image, caption) pairs."""
        return clip.clip_loss(self.image_encoder(images), self.text_encoder(ids, lengths), self.logit_scale)


def vit_config(config: CLIPConfig) -> ViTConfig:
    """The ViT of the image side: chapter 7's model, without its classification head in use."""
    c = config
    return ViTConfig(
        image_size=c.image_size,
        patch_size=c.patch_size,
        in_channels=c.in_channels,
        n_classes=1,
        d_model=c.d_model,
        n_heads=c.n_heads,
        d_ff=c.d_ff,
        n_layers=c.image_n_layers,
        position=c.position,
    )


def decay_groups(model: nn.Module, weight_decay: float = 0.05) -> list[dict]:
    """AdamW parameter groups in open_clip's rule: weight decay on matrices (ndim ≥ 2) only.

    Gains and biases of LayerNorm and Linear layers, and the 0-D ``logit_scale``, get none:
    decay pulls every weight towards 0, and for ``logit_scale`` = log(1/τ) that means towards
    τ = 1, a temperature far too soft for the contrastive loss.
    """
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def train_clip(
    model: CLIP,
    images: Tensor,
    ids: Tensor,
    lengths: Tensor,
    steps: int,
    batch_size: int = 128,
    lr: float = 2e-3,
    seed: int = 0,
    progress: bool = True,
) -> list[float]:
    """AdamW with a one-cycle schedule on random batches of (image, caption) pairs; returns the losses.

    Weight decay 0.05 on weight matrices only (:func:`decay_groups`; not on ``logit_scale``).

    images: (N, 3, H, W), ids: (N, T), lengths: (N,), all on the model's device.
    """
    if not (len(images) == len(ids) == len(lengths)):
        raise ValueError(
            f"images, ids and lengths must hold the same N pairs; got {len(images)}, {len(ids)}, {len(lengths)}"
        )
    if steps < 1 or batch_size < 2:
        raise ValueError(f"need steps ≥ 1 and batch_size ≥ 2; got steps={steps}, batch_size={batch_size}")

    def batch_loss(batch: Tensor) -> Tensor:  # batch: (B,) indices of pairs
        T = int(lengths[batch].max())  # trim the padding this batch does not need
        return model(images[batch], ids[batch, :T], lengths[batch])

    def postfix(loss: float) -> dict:
        return {"loss": f"{loss:.3f}", "scale": f"{model.logit_scale.exp().item():.1f}"}

    return training.train_random_batches(
        model,
        len(images),
        batch_loss,
        steps,
        batch_size,
        lr,
        images.device,
        seed=seed,
        desc="CLIP steps",
        progress=progress,
        postfix=postfix,
        param_groups=decay_groups(model),
    )


@torch.no_grad()
def encode_images(model: CLIP, images: Tensor, batch_size: int = 512) -> Tensor:
    """(N, 3, H, W) → (N, E) unit vectors, in eval mode."""
    model.eval()
    return torch.cat([model.image_encoder(images[i : i + batch_size]) for i in range(0, len(images), batch_size)])


@torch.no_grad()
def encode_captions(model: CLIP, captions: Sequence[str], vocab: Vocab) -> Tensor:
    """A list of N captions → (N, E) unit vectors, in eval mode."""
    model.eval()
    device = model.logit_scale.device
    ids, lengths = tokenize_captions(captions, vocab, device)
    return model.text_encoder(ids, lengths)


@torch.no_grad()
def class_template_features(
    model: CLIP, attribute: str, vocab: Vocab, templates: Optional[Sequence[str]] = None
) -> Tensor:
    """(K, M, E): class k of ``attribute`` written with each of the M templates, encoded."""
    names = ATTRIBUTE_NAMES[attribute]
    templates = ZERO_SHOT_TEMPLATES[attribute] if templates is None else templates
    captions = [t.format(**{attribute: name}) for name in names for t in templates]
    return encode_captions(model, captions, vocab).reshape(len(names), len(templates), -1)


@torch.no_grad()
def zero_shot_accuracy(
    model: CLIP, images: Tensor, labels: Tensor, attribute: str, vocab: Vocab, templates: Optional[Sequence[str]] = None
) -> float:
    """Fraction of images whose attribute (e.g. "shape") the prompts classify correctly."""
    if len(images) != len(labels):
        raise ValueError(f"images and labels must have the same length; got {len(images)} and {len(labels)}")
    logits = clip.zero_shot_logits(
        encode_images(model, images), class_template_features(model, attribute, vocab, templates)
    )  # (N, K)
    return (logits.argmax(dim=1) == labels.to(logits.device)).float().mean().item()
