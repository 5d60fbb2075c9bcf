"""Figures the chapters share: attention heatmaps and training curves (matplotlib).

Readable in greyscale and by colour-blind readers: heatmaps use viridis (lightness rises with the
value), and curves that share an axis differ in line style and marker as well as in colour.
"""

from __future__ import annotations

from typing import Optional, Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.axes import Axes

from .training import History

HEATMAP_CMAP = "viridis"  # perceptually uniform, monotone in lightness: survives greyscale printing
# Train and validation differ in colour (blue, orange: not a red/green pair), line style and marker.
CURVE_STYLES = {
    "train": dict(color="C0", linestyle="-", marker="o", markersize=3),
    "validation": dict(color="C1", linestyle="--", marker="s", markersize=3),
}


def plot_attention(
    weights: torch.Tensor,
    queries: Sequence[str],
    keys: Sequence[str],
    title: str = "Attention weights",
    ax: Optional[Axes] = None,
    annotate: bool = True,
) -> Axes:
    """Heatmap of a (L, S) weight matrix: one row per query token, one column per key token."""
    if weights.dim() != 2:
        raise ValueError(f"weights must be 2-D (L, S); got shape {tuple(weights.shape)}")
    L, S = weights.shape
    if (len(queries), len(keys)) != (L, S):
        raise ValueError(
            f"need {L} query labels and {S} key labels for weights (L, S) = {(L, S)}; "
            f"got {len(queries)} and {len(keys)}"
        )
    if ax is None:
        _, ax = plt.subplots(figsize=(0.6 * S + 2.5, 0.5 * L + 1.5))
    w = weights.detach().float().cpu()
    image = ax.imshow(w.numpy(), cmap=HEATMAP_CMAP, vmin=0.0, vmax=max(float(w.max()), 1e-6))
    ax.set_xticks(range(S), keys, rotation=60, ha="right")
    ax.set_yticks(range(L), queries)
    ax.set_xlabel("key (attended to)")
    ax.set_ylabel("query (attending)")
    ax.set_title(title)
    if annotate and L * S <= 200:
        for i in range(L):
            for j in range(S):
                ax.text(
                    j,
                    i,
                    f"{w[i, j]:.2f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if w[i, j] < 0.6 * float(w.max()) else "black",
                )
    ax.figure.colorbar(image, ax=ax, label="weight")
    return ax


def plot_history(history: History, title: str = "Training") -> plt.Figure:
    """Loss and accuracy per epoch (train, and validation when recorded)."""
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.5))
    epochs = range(1, len(history.train_loss) + 1)
    ax_loss.plot(epochs, history.train_loss, label="train", **CURVE_STYLES["train"])
    ax_acc.plot(epochs, history.train_acc, label="train", **CURVE_STYLES["train"])
    if history.valid_loss:
        ax_loss.plot(epochs, history.valid_loss, label="validation", **CURVE_STYLES["validation"])
        ax_acc.plot(epochs, history.valid_acc, label="validation", **CURVE_STYLES["validation"])
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title=f"{title}: loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title=f"{title}: accuracy", ylim=(0, 1.02))
    for ax in (ax_loss, ax_acc):
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
