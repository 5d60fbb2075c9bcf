"""Learning-rate schedules: factors of the peak learning rate, one per optimizer step.

Each function returns ``factor(step)`` for ``torch.optim.lr_scheduler.LambdaLR(optimizer, factor)``
(LambdaLR counts steps from 0; the optimizer's lr is the peak learning rate):

- :func:`warmup_cosine`: linear warm-up to 1, then half a cosine down to 0 (chapters 6 and 7);
- :func:`warmup_inverse_sqrt`: the 2017 Transformer paper's warm-up, then ∝ 1/√step (chapter 6);
- :func:`warmup_constant`: the same warm-up, then 1 for good (chapter 6's warm-up experiment).
"""

from __future__ import annotations

import math
from typing import Callable

Schedule = Callable[[int], float]


def warmup_cosine(warmup_steps: int, total_steps: int, *, hold_peak: bool = False) -> Schedule:
    """Linear warm-up to 1 over ``warmup_steps`` steps, then a cosine decay to 0 at ``total_steps``.

    hold_peak=False (chapter 6): the decay starts right after the last warm-up step and reaches 0
    at step total_steps - 1. hold_peak=True (chapter 7's ViT runs, as they were recorded): the
    decay is counted from step warmup_steps, so the peak lasts two steps and the last step is just
    above 0. warmup_steps=0 means no warm-up.
    """
    if not 0 <= warmup_steps < total_steps:
        raise ValueError(
            f"need 0 <= warmup_steps < total_steps; got warmup_steps={warmup_steps}, total_steps={total_steps}"
        )
    decay_steps = total_steps - warmup_steps

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        if hold_peak:  # chapter 7's figures were recorded with this rounding (π·done/steps): keep it
            return 0.5 * (1 + math.cos(math.pi * (step - warmup_steps) / decay_steps))
        progress = min(1.0, (step + 1 - warmup_steps) / decay_steps)
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def warmup_inverse_sqrt(warmup_steps: int) -> Schedule:
    """step/warmup while warming up, then √(warmup/step): the peak 1 at the end of the warm-up.

    The 2017 Transformer paper's schedule, with its constant folded into the peak learning rate.
    """
    if warmup_steps < 1:
        raise ValueError(f"warmup_steps must be >= 1; got {warmup_steps}")

    def factor(step: int) -> float:
        step = step + 1  # LambdaLR counts from 0
        return min(step / warmup_steps, math.sqrt(warmup_steps / step))

    return factor


def warmup_constant(warmup_steps: int) -> Schedule:
    """Linear warm-up to 1, then 1 for good (no decay).

    Against a constant learning rate it changes one thing only: the first ``warmup_steps`` steps.
    """
    if warmup_steps < 1:
        raise ValueError(f"warmup_steps must be >= 1; got {warmup_steps}")

    def factor(step: int) -> float:
        return min(1.0, (step + 1) / warmup_steps)

    return factor
