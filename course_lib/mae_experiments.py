"""Chapter 10 experiments on a pretrained MAE encoder: fine-tuning with few labels, and where
its [CLS] token looks.

- :class:`EncoderClassifier` puts a linear head on :class:`~course_lib.mae_model.MAE`'s encoder
  (the decoder is not used); :func:`finetune` trains all of it on labelled images, the same
  way whether the encoder was pretrained or freshly initialised, so that the two differ in
  their starting weights only.
- :func:`labels_per_class` picks a balanced labelled subset.
- :func:`cls_attention` reads the last encoder block's attention of the [CLS] token over the
  patches, and :func:`attention_on_object` measures how much of it falls on the object.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import mae, training
from .mae_model import MAE


class EncoderClassifier(nn.Module):
    """MAE's encoder, unmasked, average-pooled over the patch tokens, then LayerNorm and a
    linear head (MAE's fine-tuning recipe: global pool + fc_norm + head).

    forward(imgs (B, C, H, W)) → logits (B, n_classes).
    """

    def __init__(self, model: MAE, n_classes: int):
        super().__init__()
        if n_classes < 2:
            raise ValueError(f"n_classes must be ≥ 2; got {n_classes}")
        self.mae = copy.deepcopy(model)  # the caller's model is left untouched
        self.mae.decoder = self.mae.decoder_embed = self.mae.decoder_pred = None  # encoder only
        d = model.config.d_model
        self.fc_norm = nn.LayerNorm(d, eps=1e-6)
        self.head = nn.Linear(d, n_classes)

    def forward(self, imgs: Tensor) -> Tensor:
        latent, _, _ = self.mae.forward_encoder(imgs, 0.0)  # (B, 1 + L, d), nothing masked
        pooled = latent[:, 1:].mean(dim=1)  # (B, d)
        return self.head(self.fc_norm(pooled))  # (B, n_classes)


def labels_per_class(y: Tensor, n: int | None, seed: int = 0) -> Tensor:
    """Indices of ``n`` random examples of every class of ``y`` (B,); all indices when n is None."""
    if n is None:
        return torch.arange(len(y))
    if n < 1:
        raise ValueError(f"n (labels per class) must be ≥ 1 or None; got {n}")
    generator = torch.Generator().manual_seed(seed)
    picked = []
    for c in torch.unique(y).tolist():
        members = (y == c).nonzero().squeeze(1)  # (n_c,)
        if len(members) < n:
            raise ValueError(f"class {c} has only {len(members)} examples; asked for n={n}")
        picked.append(members[torch.randperm(len(members), generator=generator)[:n]])
    return torch.cat(picked)


def finetune(
    model: MAE, x: Tensor, y: Tensor, steps: int, batch_size: int = 64, lr: float = 1e-3, seed: int = 0
) -> EncoderClassifier:
    """Fine-tune a copy of ``model``'s encoder and a new head on (x (N, C, H, W), y (N,)) with
    cross-entropy (AdamW, one-cycle; every weight trains). Returns the classifier in eval mode."""
    if len(x) != len(y):
        raise ValueError(f"x and y must pair up; got {len(x)} images and {len(y)} labels")
    torch.manual_seed(seed)  # the head's initial weights
    classifier = EncoderClassifier(model, int(y.max()) + 1).to(x.device)
    y = y.to(x.device)
    training.train_random_batches(
        classifier,
        len(x),
        lambda b: F.cross_entropy(classifier(x[b]), y[b]),
        steps,
        batch_size,
        lr,
        x.device,
        seed=seed,
        progress=False,
    )
    return classifier


@torch.no_grad()
def accuracy(classifier: nn.Module, x: Tensor, y: Tensor) -> float:
    """Fraction of x (N, C, H, W) whose argmax logit is y (N,)."""
    classifier.eval()
    return (classifier(x).argmax(dim=1).cpu() == y.cpu()).float().mean().item()


@torch.no_grad()
def cls_attention(model: MAE, imgs: Tensor) -> Tensor:
    """The last encoder block's attention of the [CLS] query over the L patches, averaged over
    heads, on unmasked images. imgs (B, C, H, W) → (B, L), rows summing to 1 − (weight on CLS)."""
    model.eval()
    c = model.config
    x = model.patch_embed(imgs) + model.pos_embed[:, 1:]  # (B, L, d)
    cls = (model.cls_token + model.pos_embed[:, :1]).expand(x.shape[0], -1, -1)  # (B, 1, d)
    x = torch.cat([cls, x], dim=1)  # (B, 1 + L, d)
    *earlier, last = model.encoder.layers
    for layer in earlier:
        x = layer(x)  # (B, 1 + L, d)
    h = last.norm1(x) if last.norm_first else x
    _, weights = last.self_attn(h, h, h, need_weights=True)  # (B, heads, 1 + L, 1 + L)
    if weights.shape[-1] != 1 + c.n_patches:
        raise RuntimeError(f"expected attention over 1 + L = {1 + c.n_patches} tokens; got {weights.shape}")
    return weights[:, :, 0, 1:].mean(dim=1)  # (B, L): CLS query, patch keys


def patch_coverage(object_mask: Tensor, patch_size: int) -> Tensor:
    """Fraction of each patch's pixels inside the object: object_mask (B, H, W) → (B, L)."""
    return mae.to_patches(object_mask[:, None].float(), patch_size).mean(dim=-1)  # (B, L)


def attention_on_object(attention: Tensor, coverage: Tensor, threshold: float = 0.5) -> tuple[Tensor, Tensor]:
    """Per image: the share of the patch attention that falls on object patches, and the share
    of patches that are object patches (what uniform attention would give).

    attention: (B, L) non-negative; coverage: (B, L) in [0, 1]; a patch is an object patch when
    its coverage is at least ``threshold``. Returns two (B,) tensors.
    """
    if attention.shape != coverage.shape:
        raise ValueError(
            f"attention and coverage must have the same shape (B, L); got "
            f"{tuple(attention.shape)} and {tuple(coverage.shape)}"
        )
    on_object = (coverage >= threshold).float()  # (B, L)
    share = (attention * on_object).sum(1) / attention.sum(1)  # (B,)
    return share, on_object.mean(1)
