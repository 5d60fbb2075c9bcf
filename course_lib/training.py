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


def run_epoch(model: nn.Module, batches: Iterable, step: StepFn, device: torch.device,
              optimizer: Optional[torch.optim.Optimizer] = None, desc: str = "") -> tuple[float, float]:
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


def fit(model: nn.Module, train_batches: Iterable, optimizer: torch.optim.Optimizer, epochs: int,
        device: torch.device, step: StepFn = classification_step,
        valid_batches: Optional[Iterable] = None, progress: bool = True) -> History:
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
