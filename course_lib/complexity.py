"""Chapter 4 — what a layer costs as the sequence grows: the four layer types of the
complexity table of Vaswani et al. (2017), timed on this machine.

    self-attention              O(n² · d)     every token against every token
    recurrent (RNN)             O(n · d²)     n sequential steps of a d × d matrix
    convolution (kernel k)      O(k · n · d²) each output mixes k neighbours through d × d maps
    restricted self-attention   O(r · n · d)  every token against a neighbourhood of about r tokens
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
    """Self-attention restricted to a neighbourhood: the sequence is cut into blocks of r tokens
    and a query sees the keys of its own block and of the two neighbouring blocks (≤ 3r keys).

    q, k, v: (B, n, d). Three (r × 3r) products per block — O(r · n · d) work and memory — never
    the (n, n) matrix. Returns (B, n, d).
    """
    B, n, d = q.shape
    nb = -(-n // r)  # number of blocks, the last one padded
    pad = nb * r - n
    q, k, v = (F.pad(t, (0, 0, 0, pad)) for t in (q, k, v))  # (B, nb·r, d)
    qb = q.view(B, nb, r, d)  # (B, nb, r, d)

    def neighbours(t: Tensor) -> Tensor:  # (B, nb, 3r, d): previous, own and next block
        blocks = F.pad(t.view(B, nb, r, d), (0, 0, 0, 0, 1, 1))  # (B, nb + 2, r, d)
        return torch.cat([blocks[:, :-2], blocks[:, 1:-1], blocks[:, 2:]], dim=2)

    kb, vb = neighbours(k), neighbours(v)
    key_pos = (torch.arange(nb, device=q.device)[:, None] - 1) * r + torch.arange(3 * r, device=q.device)  # (nb, 3r)
    valid = (key_pos >= 0) & (key_pos < n)  # outside the sequence or padding: blocked
    scores = qb @ kb.transpose(-2, -1) / math.sqrt(d)  # (B, nb, r, 3r)
    weights = scores.masked_fill(~valid[:, None, :], float("-inf")).softmax(-1)
    return (weights @ vb).reshape(B, nb * r, d)[:, :n]  # (B, n, d)


def layer_runners(
    d: int, k: int = 3, r: int = 16, device: torch.device | str = "cpu"
) -> dict[str, Callable[[Tensor], Tensor]]:
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

    return {
        "self-attention": self_attention,
        "recurrent (nn.RNN)": lambda x: rnn(x)[0],
        f"convolution (k={k})": lambda x: conv(x.transpose(1, 2)).transpose(1, 2),
        f"restricted attention (r={r})": restricted,
    }


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def time_layers(
    runners: dict[str, Callable[[Tensor], Tensor]],
    lengths: Sequence[int],
    d: int,
    batch: int = 1,
    repeats: int = 5,
    device: torch.device | str = "cpu",
) -> dict[str, list[float]]:
    """Fastest of ``repeats`` timings (seconds) of one forward pass of each runner for x (batch, n, d),
    n in ``lengths``."""
    device = torch.device(device)
    times: dict[str, list[float]] = {name: [] for name in runners}
    for n in lengths:
        x = torch.randn(batch, n, d, device=device)
        for name, run in runners.items():
            run(x)  # warm-up
            _sync(device)
            samples = []  # the minimum over repeats: the least disturbed by other processes
            for _ in range(repeats):
                start = time.perf_counter()
                run(x)
                _sync(device)
                samples.append(time.perf_counter() - start)
            times[name].append(min(samples))
    return times


def loglog_slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of log y against log x: the exponent p in y ∝ x^p."""
    if len(xs) != len(ys) or len(xs) < 2:
        raise ValueError(f"need at least two (x, y) pairs of equal length; got {len(xs)} xs and {len(ys)} ys")
    return float(np.polyfit(np.log(np.asarray(xs, float)), np.log(np.asarray(ys, float)), 1)[0])
