"""Chapter 4's experiment: remove one head at a time and measure what each task loses.

Looking at where a head's attention peaks (its argmax) says where it looks, not whether the
model needs what it finds there. Ablation asks the second question: set one head's output to
zero before W^O mixes the heads (Michel et al. 2019 mask heads the same way), run the trained
model again on the same test tokens, and compare the per-task accuracy with the intact model.

The drop is a paired difference over the same tokens, so its standard error is the standard
deviation of the per-token differences over √(number of tokens).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import torch
from torch import Tensor, nn


@contextlib.contextmanager
def heads_removed(attn: nn.Module, heads: Sequence[int]) -> Iterator[None]:
    """Inside the block, ``attn`` (a MultiHeadAttention) outputs zero for the listed heads.

    The merged heads (B, L, h·d_head) enter ``attn.out_proj``; a forward pre-hook zeroes the
    channels [i·d_head, (i+1)·d_head) of head i there. Nothing else of the layer changes.
    """
    n_heads, d_head = attn.n_heads, attn.d_head
    bad = [i for i in heads if not 0 <= i < n_heads]
    if bad:
        raise ValueError(f"heads must be in range(n_heads={n_heads}); got {list(heads)}")

    def zero_heads(module: nn.Module, args: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        merged = args[0].clone()  # (B, L, h·d_head)
        for i in heads:
            merged[..., i * d_head : (i + 1) * d_head] = 0.0
        return (merged, *args[1:])

    handle = attn.out_proj.register_forward_pre_hook(zero_heads)
    try:
        yield
    finally:
        handle.remove()


def per_token_correct(
    model: Callable[[Tensor], list[Tensor]], tokens: Tensor, targets: Tensor, ignore: int
) -> list[Tensor]:
    """For each task i: a bool (N_i,) tensor, True where the model's argmax is the target.

    model: tokens (B, T) → list of logits (B, T, n_classes_i)   targets: (B, T, n_tasks),
    ``ignore`` where a task has no answer (those tokens are left out).
    """
    if targets.dim() != 3 or targets.shape[:2] != tokens.shape:
        raise ValueError(
            f"targets must be (B, T, n_tasks) with (B, T) = tokens.shape "
            f"{tuple(tokens.shape)}; got targets {tuple(targets.shape)}"
        )
    with torch.no_grad():
        logits = model(tokens)
    correct = []
    for i, out in enumerate(logits):
        target = targets[..., i]  # (B, T)
        known = target != ignore
        correct.append((out.argmax(-1) == target)[known].cpu())  # (N_i,)
    return correct


@dataclass
class AblationResult:
    """Accuracy of the intact model and of the model without each head, per task.

    base: (n_tasks,)   drop, stderr: (n_heads, n_tasks) — drop = base − accuracy without the head.
    """

    base: Tensor
    drop: Tensor
    stderr: Tensor

    def significant(self) -> Tensor:
        """(n_heads, n_tasks) bool: drops larger than twice their standard error."""
        return self.drop.abs() > 2 * self.stderr


def head_ablation(model: nn.Module, attn: nn.Module, tokens: Tensor, targets: Tensor, ignore: int) -> AblationResult:
    """Remove each head of ``attn`` (a layer of ``model``) in turn; see :class:`AblationResult`."""
    was_training = model.training
    model.eval()
    intact = per_token_correct(model, tokens, targets, ignore)  # n_tasks × (N_i,)
    n_tasks = len(intact)
    drop = torch.zeros(attn.n_heads, n_tasks)
    stderr = torch.zeros(attn.n_heads, n_tasks)
    for head in range(attn.n_heads):
        with heads_removed(attn, [head]):
            ablated = per_token_correct(model, tokens, targets, ignore)
        for task in range(n_tasks):
            diff = intact[task].float() - ablated[task].float()  # (N_i,) in {−1, 0, 1}
            drop[head, task] = diff.mean()
            stderr[head, task] = diff.std() / diff.numel() ** 0.5
    model.train(was_training)
    base = torch.stack([c.float().mean() for c in intact])
    return AblationResult(base, drop, stderr)
