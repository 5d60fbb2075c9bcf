"""Chapter 9 — CLIP-style contrastive pretraining of an image encoder and a text encoder.

Two encoders map a batch of B images and their B captions into one joint space of width E;
after L2 normalisation the B × B matrix of cosine similarities, times a learnable scale,
is read as logits twice: each image must pick its own caption among the B captions, and each
caption its own image (the symmetric InfoNCE loss of Radford et al. 2021, after van den Oord
et al. 2018). Zero-shot classification and retrieval reuse the same similarities.

The functions a student writes are marked ``@reference``; the models live in
:mod:`course_lib.clip_model`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .reference import reference

LOGIT_SCALE_INIT = math.log(1 / 0.07)  # CLIP's initial temperature τ = 0.07, stored as log(1/τ)
LOGIT_SCALE_MAX = 100.0  # the exponentiated scale is clamped here (τ ≥ 0.01)


def _check_pair(a: Tensor, b: Tensor, a_name: str, b_name: str) -> None:
    if a.dim() != 2 or b.dim() != 2:
        raise ValueError(
            f"{a_name} and {b_name} must be 2-D (B, E); got {a_name} {tuple(a.shape)} and {b_name} {tuple(b.shape)}"
        )
    if a.shape != b.shape:
        raise ValueError(
            f"{a_name} and {b_name} must have the same shape (B, E) (one caption per image); "
            f"got {a_name} {tuple(a.shape)} and {b_name} {tuple(b.shape)}"
        )


def new_logit_scale(init: float = LOGIT_SCALE_INIT) -> nn.Parameter:
    """The learnable temperature, stored as its log: a 0-D parameter equal to log(1/τ) = ``init``."""
    return nn.Parameter(torch.tensor(float(init)))


@reference
def clip_loss(image_features: Tensor, text_features: Tensor, logit_scale: Tensor) -> Tensor:
    """Symmetric InfoNCE: ½ [CE(s · Î Tᵀ, arange(B)) + CE(s · T Îᵀ, arange(B))].

    image_features: (B, E)  text_features: (B, E), row i of each describes pair i.
    logit_scale: 0-D tensor, log of the scale; s = min(exp(logit_scale), 100).
    Î, T are the L2-normalised rows.
    Returns a 0-D tensor (the mean of the two directions).
    """
    _check_pair(image_features, text_features, "image_features", "text_features")
    image = F.normalize(image_features, dim=-1)  # (B, E), unit rows
    text = F.normalize(text_features, dim=-1)  # (B, E), unit rows
    scale = logit_scale.exp().clamp(max=LOGIT_SCALE_MAX)
    logits_per_image = scale * image @ text.T  # (B, B): row i scores image i against every caption
    labels = torch.arange(image.shape[0], device=image.device)  # (B,): the pair sits on the diagonal
    loss_image = F.cross_entropy(logits_per_image, labels)  # each image picks its caption
    loss_text = F.cross_entropy(logits_per_image.T, labels)  # each caption picks its image
    return (loss_image + loss_text) / 2


@reference
def embed_text(hidden: Tensor, lengths: Tensor, projection: Tensor) -> Tensor:
    """Pool each caption at its end token, project into the joint space and
    L2-normalise.

    hidden: (B, T, C) the text encoder's output for captions padded to length T.
    lengths: (B,) int, caption b's length including its end token, so the end token sits
    at position lengths[b] - 1.  projection: (C, E).
    Returns (B, E) with unit rows: normalize(hidden[b, lengths[b] - 1] @ projection).
    """
    B, T, C = hidden.shape
    if lengths.shape != (B,):
        raise ValueError(f"lengths must have shape (B,) = ({B},); got {tuple(lengths.shape)}")
    if projection.dim() != 2 or projection.shape[0] != C:
        raise ValueError(f"projection must be (C, E) with C = {C}; got {tuple(projection.shape)}")
    if lengths.numel() and (int(lengths.min()) < 1 or int(lengths.max()) > T):
        raise ValueError(f"lengths must lie in [1, T = {T}]; got {lengths.tolist()}")
    rows = torch.arange(B, device=hidden.device)  # (B,)
    pooled = hidden[rows, lengths - 1]  # (B, C): the end token of each caption
    return F.normalize(pooled @ projection, dim=-1)  # (B, E)


@reference
def zero_shot_logits(image_features: Tensor, template_features: Tensor) -> Tensor:
    """Cosine similarity between each image and each class built from prompt templates.

    image_features: (N, E).
    template_features: (K, M, E): class k's caption under template m.
    Each template embedding is L2-normalised, the M of a class are averaged and the
    mean is normalised again: w_k = normalize(mean_m normalize(t_km)).
    Returns (N, K): cos(image n, w_k); the prediction is its argmax over K.
    """
    if image_features.dim() != 2 or template_features.dim() != 3:
        raise ValueError(
            f"need image_features (N, E) and template_features (K, M, E); got "
            f"{tuple(image_features.shape)} and {tuple(template_features.shape)}"
        )
    if image_features.shape[-1] != template_features.shape[-1]:
        raise ValueError(
            f"image_features and template_features must share E; got "
            f"{tuple(image_features.shape)} and {tuple(template_features.shape)}"
        )
    templates = F.normalize(template_features, dim=-1)  # (K, M, E)
    classes = F.normalize(templates.mean(dim=1), dim=-1)  # (K, E): one unit vector per class
    images = F.normalize(image_features, dim=-1)  # (N, E)
    return images @ classes.T  # (N, K)


@reference
def recall_at_k(similarity: Tensor, k: int) -> tuple[float, float]:
    """Retrieval recall@k in both directions for N matched pairs (pair i = image i,
    caption i).

    similarity: (N, N), entry [i, j] = score of image i with caption j.
    Image → text: the fraction of images whose own caption is among the k highest of
    their row; text → image: the fraction of captions whose own image is among the k
    highest of their column.
    Returns (image_to_text, text_to_image) as Python floats in [0, 1].
    """
    if similarity.dim() != 2 or similarity.shape[0] != similarity.shape[1]:
        raise ValueError(f"similarity must be square (N, N); got {tuple(similarity.shape)}")
    N = similarity.shape[0]
    if not 1 <= k <= N:
        raise ValueError(f"k must lie in [1, N = {N}]; got {k}")
    truth = torch.arange(N, device=similarity.device)[:, None]  # (N, 1)
    top_texts = similarity.topk(k, dim=1).indices  # (N, k): best captions of each image
    top_images = similarity.T.topk(k, dim=1).indices  # (N, k): best images of each caption
    image_to_text = (top_texts == truth).any(dim=1).float().mean().item()
    text_to_image = (top_images == truth).any(dim=1).float().mean().item()
    return image_to_text, text_to_image
