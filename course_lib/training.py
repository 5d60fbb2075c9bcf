"""A small, readable training loop shared by the chapters (progress with tqdm, a history)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

# A step function maps (model, batch) to (loss, number of correct predictions, number of items).
StepFn = Callable[[nn.Module, object], tuple[Tensor, int, int]]


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
    model.train(optimizer is not None)
    total_loss, total_correct, total_items = 0.0, 0, 0
    with torch.set_grad_enabled(optimizer is not None):
        for batch in tqdm(batches, desc=desc, leave=False, disable=not desc):
            loss, correct, items = step(model, _to_device(batch, device))
            if optimizer is not None:
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            total_loss += loss.item() * items
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
    losses = []
    model.train()
    bar = tqdm(range(steps), desc=desc, disable=not progress)
    for _ in bar:
        batch = torch.randint(n_items, (batch_size,), generator=generator).to(device)  # (B,)
        loss = batch_loss(batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        bar.set_postfix(postfix(losses[-1]) if postfix else {"loss": f"{losses[-1]:.4f}"})
    model.eval()
    return losses
