"""Chapter 8's experiments: the small Swin trained on digits, with and without the shift.

The notebook's own training cell shows the recipe; these functions repeat it for more seeds and
for the ablation that sets every block's shift to 0, so that only the shift changes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import Tensor

from course_lib import training
from course_lib.runtime import seed_everything
from course_lib.swin import Swin, SwinConfig


def set_shift(model: Swin, shift: int) -> int:
    """Set the shift of every window attention in ``model`` to ``shift``; return how many changed.

    ``set_shift(model, 0)`` turns every SW-MSA block into a W-MSA block, keeping the weights.
    """
    if shift < 0:
        raise ValueError(f"shift must be ≥ 0; got {shift}")
    changed = 0
    for stage in model.stages:
        for block in stage:
            changed += int(block.attn.shift != shift)
            block.attn.shift = shift
    return changed


def train_swin(
    config: SwinConfig,
    x_train: Tensor,
    y_train: Tensor,
    x_test: Tensor,
    y_test: Tensor,
    epochs: int,
    seed: int = 0,
    shift: bool = True,
    device=None,
) -> tuple[Swin, training.FitResult]:
    """Train a fresh Swin for ``epochs`` epochs with chapter 7's recipe, :func:`~course_lib.training.fit_classifier`.

    ``seed`` fixes both the initial weights (``seed_everything(seed)`` before the model is built)
    and the order of the batches (``fit_classifier``'s ``seed``), so ``shift=False`` changes nothing
    but the shift: same initial weights, same batches. x_*: (N, C, H, W), y_*: (N,).
    Returns the trained model and its :class:`~course_lib.training.FitResult`.
    """
    seed_everything(seed)
    model = Swin(config)
    if not shift:
        set_shift(model, 0)
    run = training.fit_classifier(model, x_train, y_train, x_test, y_test, epochs=epochs, seed=seed, device=device)
    return model, run


@dataclass
class PairedComparison:
    """Accuracies of two variants trained with the same seeds; ``differences`` = a − b per seed."""

    seeds: list
    a: list
    b: list

    @property
    def differences(self) -> list:
        return [x - y for x, y in zip(self.a, self.b)]

    @property
    def mean_difference(self) -> float:
        return sum(self.differences) / len(self.differences)

    @property
    def standard_error(self) -> float:
        """Standard error of the mean paired difference (sample std / √n); needs ≥ 2 seeds."""
        return mean_and_standard_error(self.differences)[1]

    @property
    def is_finding(self) -> bool:
        """The course's rule: a difference under twice its standard error is not a finding."""
        return abs(self.mean_difference) >= 2 * self.standard_error


def mean_and_standard_error(values: list) -> tuple[float, float]:
    """Mean and standard error of the mean (sample standard deviation / √n) of ≥ 2 values."""
    n = len(values)
    if n < 2:
        raise ValueError(f"values needs at least 2 entries for a standard error; got {n}")
    mean = sum(values) / n
    variance = sum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, math.sqrt(variance / n)
