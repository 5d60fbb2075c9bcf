"""Training, once for the whole course: the loop, a classifier fit, accuracy and parameter counts.

- :func:`train_steps`: THE loop. Every chapter's training calls it with its own batches and its own
  ``loss_fn`` (the chapter-specific part); it zeroes the gradients, back-propagates, optionally
  clips the gradient norm, steps the optimizer and the learning-rate scheduler, and shows progress
  with tqdm;
- :func:`run_epoch` / :func:`fit`: epochs over a data loader with a ``(loss, correct, items)`` step
  and a :class:`History` (chapters 3 and 5);
- :func:`fit_classifier`: AdamW, warm-up + cosine (:func:`~course_lib.schedules.warmup_cosine`),
  cross-entropy on image tensors, test accuracy every epoch (chapters 7 and 8);
- :func:`train_random_batches`: AdamW, one-cycle, on random index batches (chapters 9 and 10);
- :func:`accuracy`, :func:`count_parameters`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from .schedules import warmup_cosine

# A step function maps (model, batch) to (loss, number of correct predictions, number of items).
StepFn = Callable[[nn.Module, object], tuple[Tensor, int, int]]


def train_steps(
    model: nn.Module,
    batches: Iterable,
    loss_fn: Callable[[object], Tensor],
    optimizer: torch.optim.Optimizer,
    *,
    scheduler: Optional[torch.optim.lr_scheduler.LRScheduler] = None,
    clip_grad_norm: Optional[float] = None,
    total: Optional[int] = None,
    desc: str = "steps",
    progress: bool = True,
    leave: bool = True,
    postfix: Optional[Callable[[list[float]], Optional[dict]]] = None,
) -> list[float]:
    """One optimizer step per batch; returns the loss of every step. Leaves ``model`` in train mode.

    loss_fn(batch) is a 0-D loss tensor. clip_grad_norm: the largest gradient norm (None: no
    clipping). scheduler steps after every optimizer step. total: the number of batches, for the
    progress bar. postfix(losses so far) gives the bar's extra fields (None: leave them).
    """
    model.train()
    losses: list[float] = []
    bar = tqdm(batches, total=total, desc=desc, leave=leave, disable=not progress)
    for batch in bar:
        loss = loss_fn(batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip_grad_norm is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        losses.append(loss.item())
        fields = postfix(losses) if postfix else {"loss": f"{losses[-1]:.4f}"}
        if fields:
            bar.set_postfix(fields)
    return losses


@dataclass
class History:
    """Per-epoch averages recorded by :func:`fit`."""

    train_loss: list[float] = field(default_factory=list)  # mean training loss per epoch
    train_acc: list[float] = field(default_factory=list)  # training accuracy per epoch
    valid_loss: list[float] = field(default_factory=list)  # mean validation loss (if data given)
    valid_acc: list[float] = field(default_factory=list)  # validation accuracy (if data given)


def classification_step(model: nn.Module, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, int, int]:
    """Cross-entropy step for (x, y) batches: model(x) is (B, n_classes), y is (B,)."""
    x, y = batch
    logits = model(x)  # (B, n_classes)
    loss = nn.functional.cross_entropy(logits, y)
    correct = int((logits.argmax(dim=-1) == y).sum())
    return loss, correct, y.numel()


def _to_device(batch: object, device: torch.device) -> object:
    if isinstance(batch, Tensor):
        return batch.to(device)
    if isinstance(batch, (list, tuple)):
        moved = [_to_device(b, device) for b in batch]
        return type(batch)(*moved) if hasattr(batch, "_fields") else type(batch)(moved)
    if isinstance(batch, dict):
        return {key: _to_device(value, device) for key, value in batch.items()}
    return batch


def run_epoch(
    model: nn.Module,
    batches: Iterable,
    step: StepFn,
    device: torch.device,
    optimizer: Optional[torch.optim.Optimizer] = None,
    desc: str = "",
) -> tuple[float, float]:
    """One pass over ``batches``; trains when an optimizer is given. Returns (mean loss, accuracy)."""
    counts: list[tuple[int, int]] = []  # (correct, items) of every batch

    def loss_fn(batch: object) -> Tensor:
        loss, correct, items = step(model, _to_device(batch, device))
        counts.append((correct, items))
        return loss

    if optimizer is not None:
        losses = train_steps(model, batches, loss_fn, optimizer, desc=desc, progress=bool(desc), leave=False)
    else:
        model.eval()
        with torch.no_grad():
            losses = [loss_fn(batch).item() for batch in tqdm(batches, desc=desc, leave=False, disable=not desc)]
    total_loss, total_correct, total_items = 0.0, 0, 0
    for loss, (correct, items) in zip(losses, counts):
        total_loss += loss * items
        total_correct += correct
        total_items += items
    if total_items == 0:
        raise ValueError("batches yielded no items: is the data loader empty?")
    return total_loss / total_items, total_correct / total_items


def fit(
    model: nn.Module,
    train_batches: Iterable,
    optimizer: torch.optim.Optimizer,
    epochs: int,
    device: torch.device,
    step: StepFn = classification_step,
    valid_batches: Optional[Iterable] = None,
    progress: bool = True,
) -> History:
    """Train for ``epochs`` epochs and return the :class:`History` of losses and accuracies."""
    if epochs < 1:
        raise ValueError(f"epochs must be ≥ 1; got {epochs}")
    model.to(device)
    history = History()
    bar = tqdm(range(epochs), desc="epochs", disable=not progress)
    for _ in bar:
        loss, acc = run_epoch(model, train_batches, step, device, optimizer)
        history.train_loss.append(loss)
        history.train_acc.append(acc)
        if valid_batches is not None:
            v_loss, v_acc = run_epoch(model, valid_batches, step, device)
            history.valid_loss.append(v_loss)
            history.valid_acc.append(v_acc)
        bar.set_postfix(loss=f"{loss:.3f}", acc=f"{acc:.3f}")
    return history


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 512) -> float:
    """Fraction of x (N, ...) whose argmax logit is y (N,), in eval mode, batch by batch on the model's device."""
    model.eval()
    device = next(model.parameters()).device
    with torch.no_grad():
        correct = sum(
            int((model(x[i : i + batch_size].to(device)).argmax(-1) == y[i : i + batch_size].to(device)).sum())
            for i in range(0, len(x), batch_size)
        )
    return correct / len(x)


@dataclass
class FitResult:
    """What :func:`fit_classifier` measured: per-epoch training loss and test accuracy, CPU/GPU seconds."""

    train_loss: list
    test_acc: list
    seconds: float


def fit_classifier(
    model: nn.Module,
    x_train: Tensor,
    y_train: Tensor,
    x_test: Tensor,
    y_test: Tensor,
    epochs: int,
    lr: float = 1e-3,
    batch_size: int = 64,
    weight_decay: float = 0.05,
    warmup_fraction: float = 0.1,
    seed: int = 0,
    device=None,
    progress: bool = False,
    eval_every_epoch: bool = True,
) -> FitResult:
    """Train with AdamW, linear warm-up then cosine decay, cross-entropy; score the test set.

    x_*: (N, C, H, W), y_*: (N,). Batches are drawn from tensors on ``device`` (no DataLoader),
    shuffled by a generator seeded with ``seed``, so a run is reproducible. With
    ``eval_every_epoch=False`` the test set is scored only after the last epoch (``test_acc`` has
    one entry); training is the same either way.
    """
    device = device or x_train.device
    model.to(device)
    x_train, y_train, x_test, y_test = (t.to(device) for t in (x_train, y_train, x_test, y_test))
    steps_per_epoch = math.ceil(len(x_train) / batch_size)
    total = epochs * steps_per_epoch
    # foreach: one kernel per step for all parameters (CPU's default loops over them; same result)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay, foreach=True)
    factor = warmup_cosine(int(warmup_fraction * total), total, hold_peak=True)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    gen = torch.Generator().manual_seed(seed)

    def loss_fn(idx: Tensor) -> Tensor:  # idx: (B,) indices of training images
        return nn.functional.cross_entropy(model(x_train[idx]), y_train[idx])

    result, start = FitResult([], [], 0.0), time.perf_counter()
    for epoch in range(epochs):
        order = torch.randperm(len(x_train), generator=gen).to(device)  # (N,)
        batches = (order[i * batch_size : (i + 1) * batch_size] for i in range(steps_per_epoch))
        desc = f"epoch {epoch + 1}/{epochs}"
        losses = train_steps(
            model, batches, loss_fn, optimizer, scheduler=schedule, total=steps_per_epoch, desc=desc, progress=progress
        )
        result.train_loss.append(sum(losses) / len(losses))
        if eval_every_epoch or epoch == epochs - 1:
            result.test_acc.append(accuracy(model, x_test, y_test))
    result.seconds = time.perf_counter() - start
    return result


def train_random_batches(
    model: nn.Module,
    n_items: int,
    batch_loss: Callable[[Tensor], Tensor],
    steps: int,
    batch_size: int,
    lr: float,
    device: torch.device,
    seed: int = 0,
    betas: tuple[float, float] = (0.9, 0.999),
    desc: str = "steps",
    progress: bool = True,
    postfix: Optional[Callable[[float], dict]] = None,
    param_groups: Optional[list[dict]] = None,
) -> list[float]:
    """AdamW (weight decay 0.05) with a one-cycle schedule (10% warm-up) on ``steps`` random batches.

    ``param_groups`` (AdamW's parameter groups, e.g. some with ``weight_decay`` 0) replaces the
    default of every parameter of ``model`` with weight decay 0.05.

    Each step draws ``batch_size`` indices in [0, n_items) from a generator seeded with ``seed``,
    moves them to ``device`` and minimises ``batch_loss(indices)`` (a 0-D tensor). ``postfix(loss)``
    gives extra fields for the progress bar. Returns the loss of every step; ends in eval mode.
    """
    params = model.parameters() if param_groups is None else param_groups
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.05, betas=betas)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, lr, total_steps=steps, pct_start=0.1)
    generator = torch.Generator().manual_seed(seed)
    batches = (torch.randint(n_items, (batch_size,), generator=generator).to(device) for _ in range(steps))  # (B,)
    losses = train_steps(
        model,
        batches,
        batch_loss,
        optimizer,
        scheduler=schedule,
        total=steps,
        desc=desc,
        progress=progress,
        postfix=(lambda losses: postfix(losses[-1])) if postfix else None,
    )
    model.eval()
    return losses
