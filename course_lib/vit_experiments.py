"""Chapter 7's experiments: the ViT against a small CNN over several seeds, and the data-size
curve under one training budget.

Each function changes one thing and keeps the rest of chapter 7's recipe
(:func:`course_lib.training.fit_classifier`): a seed fixes both the initial weights and the order of
the batches.
"""

from __future__ import annotations

from typing import Callable

from torch import Tensor, nn

from course_lib.runtime import seed_everything
from course_lib.swin_experiments import mean_and_standard_error
from course_lib.training import FitResult, fit_classifier

__all__ = ["seed_runs", "seed_accuracies", "epochs_for_budget", "data_size_curve", "mean_and_standard_error"]


def seed_runs(
    make_model: Callable[[], nn.Module],
    x_train: Tensor,
    y_train: Tensor,
    x_test: Tensor,
    y_test: Tensor,
    seeds: list,
    epochs: int,
    device=None,
    **fit_kwargs,
) -> list[FitResult]:
    """``make_model()`` trained once per seed: one :class:`~course_lib.training.FitResult` (per-epoch
    loss and test accuracy) per seed, in the order of ``seeds``.

    For each seed s: ``seed_everything(s)``, build the model, train with batches shuffled by s.
    x_*: (N, C, H, W), y_*: (N,). ``fit_kwargs`` go to :func:`~course_lib.training.fit_classifier`.
    """
    if not seeds:
        raise ValueError("seeds must name at least one seed; got an empty list")
    runs = []
    for seed in seeds:
        seed_everything(seed)
        model = make_model()
        runs.append(
            fit_classifier(
                model, x_train, y_train, x_test, y_test, epochs=epochs, seed=seed, device=device, **fit_kwargs
            )
        )
    return runs


def seed_accuracies(
    make_model: Callable[[], nn.Module],
    x_train: Tensor,
    y_train: Tensor,
    x_test: Tensor,
    y_test: Tensor,
    seeds: list,
    epochs: int,
    device=None,
    **fit_kwargs,
) -> list:
    """Final test accuracy of each of :func:`seed_runs`' runs, in the order of ``seeds`` (the test
    set is scored once per run, after its last epoch)."""
    fit_kwargs.setdefault("eval_every_epoch", False)
    runs = seed_runs(make_model, x_train, y_train, x_test, y_test, seeds, epochs, device=device, **fit_kwargs)
    return [run.test_acc[-1] for run in runs]


def epochs_for_budget(n_train: int, images_seen: int) -> int:
    """Epochs that show a model about ``images_seen`` training images from a set of ``n_train``:
    round(images_seen / n_train), at least 1. The one budget rule of the data-size curve."""
    if n_train < 1 or images_seen < 1:
        raise ValueError(f"n_train and images_seen must be ≥ 1; got n_train={n_train}, images_seen={images_seen}")
    return max(1, round(images_seen / n_train))


def data_size_curve(
    models: dict,
    x_train: Tensor,
    y_train: Tensor,
    x_test: Tensor,
    y_test: Tensor,
    sizes: list,
    images_seen: int,
    batch_size: int = 32,
    seed: int = 0,
    device=None,
) -> dict:
    """Test accuracy of each model family trained on the first n training images, for n in sizes.

    ``models`` maps a name to a zero-argument constructor. Every point gets the same budget:
    :func:`epochs_for_budget` (about ``images_seen`` images) in batches of ``batch_size``, the
    same seed. Returns {name: [accuracy per size]}.
    """
    curve = {name: [] for name in models}
    for n in sizes:
        if n > len(x_train):
            raise ValueError(f"sizes must not exceed the {len(x_train)} training images; got {n}")
        epochs = epochs_for_budget(n, images_seen)
        for name, make_model in models.items():
            curve[name] += seed_accuracies(
                make_model,
                x_train[:n],
                y_train[:n],
                x_test,
                y_test,
                [seed],
                epochs,
                device=device,
                batch_size=batch_size,
            )
    return curve
