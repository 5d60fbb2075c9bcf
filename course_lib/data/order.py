"""An order task for chapter 5: which of two marker words comes first?

Each sequence has ``length`` tokens drawn from ``n_fillers`` filler words, except two
positions that hold the markers A and B. The label is 1 when A comes before B, else 0.
Both orders use exactly the same tokens, so a model that ignores positions cannot beat 50%.
"""

from __future__ import annotations

import torch
from torch import Tensor

MARKER_A, MARKER_B = 0, 1  # token ids of the two markers; fillers are 2 … n_fillers + 1


def make_order_task(n: int, length: int = 16, n_fillers: int = 20, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Returns tokens (n, length) long and labels (n,) long (1 = A before B); deterministic per seed."""
    if n < 1 or length < 2 or n_fillers < 1:
        raise ValueError(f"need n ≥ 1, length ≥ 2, n_fillers ≥ 1; got n={n}, length={length}, n_fillers={n_fillers}")
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(2, 2 + n_fillers, (n, length), generator=g)  # (n, length)
    slots = torch.rand(n, length, generator=g).argsort(dim=1)[:, :2]  # two distinct positions per row
    a, b = slots[:, 0], slots[:, 1]
    rows = torch.arange(n)
    tokens[rows, a], tokens[rows, b] = MARKER_A, MARKER_B
    return tokens, (a < b).long()
