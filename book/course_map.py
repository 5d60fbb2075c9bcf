"""Draw the course map (book/images/course-map.svg): the chapters and what each one builds on.

    python book/course_map.py

The SVG is committed; run this again after changing the plan below. Text is drawn as paths, so
the figure looks the same without any font installed, and the file has no date in it.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyBboxPatch  # noqa: E402

OUT = Path(__file__).resolve().parent / "images" / "course-map.svg"

# number: (title, what the student builds, (x, y) of the box centre); the map reads top to bottom
CHAPTERS = {
    1: ("1. Why RNNs forget", "RNN forward, vanishing gradients", (-1.25, 0.0)),
    2: ("2. Word embeddings", "cosine similarity, skip-gram", (1.25, 0.0)),
    3: ("3. Attention", "scores, scaled dot product, masks", (0.0, -1.15)),
    4: ("4. Multi-head attention", "heads, output map, cost vs RNN", (-1.25, -2.75)),
    5: ("5. Positional encoding", "sinusoids, learned positions", (1.25, -2.75)),
    6: ("6. The Transformer", "encoder, decoder, EN→ES", (0.0, -3.9)),
    7: ("7. Vision Transformer", "patches, CLS token, ViT", (0.0, -5.5)),
    8: ("8. Swin Transformer", "windows, shifts, merging", (-2.5, -6.65)),
    9: ("9. CLIP", "contrastive image–text", (2.5, -6.65)),
    10: ("10. Masked autoencoders", "masking, reconstruction", (0.0, -6.65)),
}
# (from, to): the later chapter uses what the earlier one built
PREREQUISITES = [(1, 3), (2, 3), (3, 4), (3, 5), (4, 6), (5, 6), (6, 7), (7, 8), (7, 9), (6, 9), (7, 10)]
PARTS = [  # (caption, y of the top row, y of the bottom row, colour)
    ("Sequences and attention", 0.0, -1.15, "#dbe9f6"),
    ("The Transformer", -2.75, -3.9, "#fde6cf"),
    ("Vision and pretraining", -5.5, -6.65, "#dcefd8"),
]
BOX_W, BOX_H = 2.4, 0.72


def draw() -> plt.Figure:
    fig, ax = plt.subplots(figsize=(8, 8.2))
    for caption, top, bottom, colour in PARTS:
        ax.add_patch(FancyBboxPatch((-3.8, bottom - 0.5), 7.6, top - bottom + 1.3,
                                    boxstyle="round,pad=0,rounding_size=0.1",
                                    facecolor=colour, edgecolor="none", alpha=0.6, zorder=0))
        ax.text(-3.6, top + 0.6, caption, ha="left", va="center", fontsize=12, fontweight="bold", color="#333")
    for start, end in PREREQUISITES:
        (x0, y0), (x1, y1) = CHAPTERS[start][2], CHAPTERS[end][2]
        if (start, end) == (6, 9):  # out of 6's right side and down, beside chapter 7
            start_xy, end_xy, style = (x0 + BOX_W / 2, y0), (x1 + 0.3, y1 + BOX_H / 2), "angle,angleA=0,angleB=90,rad=8"
        else:
            start_xy, end_xy, style = (x0, y0 - BOX_H / 2), (x1 - (0.3 if end == 9 else 0), y1 + BOX_H / 2), "arc3"
        ax.annotate("", xy=end_xy, xytext=start_xy, zorder=1,
                    arrowprops=dict(arrowstyle="-|>", color="#555", lw=1.3, shrinkA=1, shrinkB=1, connectionstyle=style))
    for title, builds, (x, y) in CHAPTERS.values():
        ax.add_patch(FancyBboxPatch((x - BOX_W / 2, y - BOX_H / 2), BOX_W, BOX_H,
                                    boxstyle="round,pad=0,rounding_size=0.08", facecolor="white",
                                    edgecolor="#444", lw=1.2, zorder=2))
        ax.text(x, y + 0.13, title, ha="center", va="center", fontsize=10, fontweight="bold", zorder=3)
        ax.text(x, y - 0.16, builds, ha="center", va="center", fontsize=8.5, color="#444", zorder=3)
    ax.set_xlim(-3.85, 3.85)
    ax.set_ylim(-7.2, 1.2)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title("Course map: an arrow leads to a chapter that uses what the earlier one built", fontsize=11)
    fig.tight_layout()
    return fig


def main() -> None:
    plt.rcParams.update({"svg.fonttype": "path", "svg.hashsalt": "course-map"})
    OUT.parent.mkdir(parents=True, exist_ok=True)
    draw().savefig(OUT, format="svg", metadata={"Date": None}, bbox_inches="tight")
    print(f"wrote {OUT.relative_to(Path.cwd()) if OUT.is_relative_to(Path.cwd()) else OUT}")


if __name__ == "__main__":
    main()
