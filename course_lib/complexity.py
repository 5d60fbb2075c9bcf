"""Chapter 4 — what a layer costs as the sequence grows: the four layer types of the
complexity table of Vaswani et al. (2017), timed on this machine.

    self-attention              O(n² · d)     every token against every token
    recurrent (RNN)             O(n · d²)     n sequential steps of a d × d matrix
    convolution (kernel k)      O(k · n · d²) each output mixes k neighbours through d × d maps
    restricted self-attention   O(r · n · d)  every token against its r nearest neighbours
"""
from __future__ import annotations

import math
import time
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn


def restricted_attention(q: Tensor, k: Tensor, v: Tensor, r: int) -> Tensor:
    """Self-attention where query i sees only keys j with |i − j| ≤ r // 2 (a band of width r + 1).

    q, k, v: (B, n, d). Builds a (B, n, r + 1, d) window of keys per query — O(r · n · d) work,
    never the (n, n) matrix. Positions outside the sequence are masked. Returns (B, n, d).
    """
    B, n, d = q.shape
    half = r // 2
    pad = (0, 0, half, half)  # pad the sequence dim on both sides
    k_win = F.pad(k, pad).unfold(1, 2 * half + 1, 1).transpose(-2, -1)  # (B, n, w, d)
    v_win = F.pad(v, pad).unfold(1, 2 * half + 1, 1).transpose(-2, -1)  # (B, n, w, d)
    scores = (q[:, :, None, :] * k_win).sum(-1) / math.sqrt(d)  # (B, n, w)
    offsets = torch.arange(-half, half + 1, device=q.device)  # (w,)
    pos = torch.arange(n, device=q.device)[:, None] + offsets  # (n, w): key index of each window slot
    scores = scores.masked_fill(~((pos >= 0) & (pos < n)), float("-inf"))
    weights = scores.softmax(-1)  # (B, n, w)
    return (weights[..., None] * v_win).sum(-2)  # (B, n, d)


def layer_runners(d: int, k: int = 3, r: int = 16, device: torch.device | str = "cpu") -> dict[str, Callable[[Tensor], Tensor]]:
    """One callable per row of the table, each mapping x (B, n, d) → (B, n, d)."""
    rnn = nn.RNN(d, d, batch_first=True).to(device)
    conv = nn.Conv1d(d, d, k, padding=k // 2).to(device)
    proj = nn.Linear(d, 3 * d).to(device)

    def self_attention(x: Tensor) -> Tensor:
        q, kk, v = proj(x).chunk(3, dim=-1)  # (B, n, d) each
        weights = torch.softmax(q @ kk.transpose(-2, -1) / math.sqrt(d), dim=-1)  # (B, n, n)
        return weights @ v

    def restricted(x: Tensor) -> Tensor:
        q, kk, v = proj(x).chunk(3, dim=-1)
        return restricted_attention(q, kk, v, r)

    return {"self-attention": self_attention, "recurrent (nn.RNN)": lambda x: rnn(x)[0],
            f"convolution (k={k})": lambda x: conv(x.transpose(1, 2)).transpose(1, 2),
            f"restricted attention (r={r})": restricted}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def time_layers(runners: dict[str, Callable[[Tensor], Tensor]], lengths: Sequence[int], d: int,
                batch: int = 1, repeats: int = 5, device: torch.device | str = "cpu") -> dict[str, list[float]]:
    """Median seconds of one forward pass of each runner for x (batch, n, d), n in ``lengths``."""
    device = torch.device(device)
    times: dict[str, list[float]] = {name: [] for name in runners}
    for n in lengths:
        x = torch.randn(batch, n, d, device=device)
        for name, run in runners.items():
            run(x)  # warm-up
            _sync(device)
            samples = []
            for _ in range(repeats):
                start = time.perf_counter()
                run(x)
                _sync(device)
                samples.append(time.perf_counter() - start)
            times[name].append(float(np.median(samples)))
    return times


def loglog_slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of log y against log x: the exponent p in y ∝ x^p."""
    if len(xs) != len(ys) or len(xs) < 2:
        raise ValueError(f"need at least two (x, y) pairs of equal length; got {len(xs)} xs and {len(ys)} ys")
    return float(np.polyfit(np.log(np.asarray(xs, float)), np.log(np.asarray(ys, float)), 1)[0])
