"""Chapter 1's experiment: accuracy on the long-range agreement task against the distance
between the noun and the question, for a vanilla RNN, an LSTM and one attention layer.

Every model gets the same budget, counted in optimizer steps (not seconds, so the result does
not depend on the machine), the same data and the same optimizer; only the architecture differs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from .attention import AttentionClassifier, AttentionClassifierConfig
from .data.agreement import AGREEMENT_VOCAB, make_agreement_task
from .rnn import RecurrentClassifier, RecurrentClassifierConfig
from .runtime import single_cpu_thread


@dataclass
class DistanceExperimentConfig:
    """Knobs of :func:`accuracy_vs_distance`; the defaults are chapter 1's full mode."""

    distances: tuple[int, ...] = (5, 10, 20, 30, 45, 60, 80)  # filler words between noun and <query>
    seeds: tuple[int, ...] = (0, 1)  # one training run per seed (initialisation and data)
    steps: int = 300  # optimizer steps per run: the same budget for every model
    batch_size: int = 32  # sequences per step
    lr: float = 1e-2  # AdamW's learning rate, the same for every model
    weight_decay: float = 0.0  # AdamW's decoupled weight decay, the same for every model
    hidden_size: int = 32  # RNN/LSTM state width and attention width
    n_valid: int = 512  # fresh validation sequences per distance


def make_model(kind: str, hidden_size: int = 32) -> nn.Module:
    """'rnn', 'lstm' or 'attention': a small classifier of agreement sequences (B, T) → (B, 2)."""
    vocab = len(AGREEMENT_VOCAB)
    if kind in ("rnn", "lstm"):
        return RecurrentClassifier(RecurrentClassifierConfig(vocab_size=vocab, d_embed=16,
                                                             hidden_size=hidden_size, cell=kind))
    if kind == "attention":
        return AttentionClassifier(AttentionClassifierConfig(vocab_size=vocab, d_model=hidden_size))
    raise ValueError(f"kind must be 'rnn', 'lstm' or 'attention'; got {kind!r}")


def train_and_evaluate(model: nn.Module, distance: int, seed: int, cfg: DistanceExperimentConfig,
                       device: torch.device) -> float:
    """Train ``model`` for cfg.steps AdamW steps on fresh sequences; return validation accuracy."""
    X, y = make_agreement_task(cfg.steps * cfg.batch_size, distance, seed=1000 * seed + distance)
    X_valid, y_valid = make_agreement_task(cfg.n_valid, distance, seed=10**6 + distance)
    X, y, X_valid, y_valid = X.to(device), y.to(device), X_valid.to(device), y_valid.to(device)
    model.to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    for step in range(cfg.steps):
        batch = slice(step * cfg.batch_size, (step + 1) * cfg.batch_size)
        loss = nn.functional.cross_entropy(model(X[batch]), y[batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)  # keeps an exploding RNN step from derailing
        optimizer.step()
    model.eval()
    with torch.no_grad():
        return (model(X_valid).argmax(-1) == y_valid).float().mean().item()


@dataclass
class DistanceResults:
    """accuracy[kind] is (n_seeds, n_distances): validation accuracy of each run."""

    distances: tuple[int, ...]
    seeds: tuple[int, ...]
    accuracy: dict[str, Tensor] = field(default_factory=dict)


def accuracy_vs_distance(kinds: Sequence[str] = ("rnn", "lstm", "attention"),
                         config: Optional[DistanceExperimentConfig] = None,
                         device: Optional[torch.device] = None,
                         progress: bool = True,
                         model_factory: Callable[[str, int], nn.Module] = make_model) -> DistanceResults:
    """Train every kind at every distance for every seed (same steps each); collect accuracies."""
    cfg = config or DistanceExperimentConfig()
    device = device or torch.device("cpu")
    results = DistanceResults(tuple(cfg.distances), tuple(cfg.seeds))
    runs = [(k, s, d) for k in kinds for s in cfg.seeds for d in cfg.distances]
    acc = {k: torch.zeros(len(cfg.seeds), len(cfg.distances)) for k in kinds}
    with single_cpu_thread():  # tiny models: one CPU thread is faster than two
        for kind, seed, distance in tqdm(runs, desc="training runs", disable=not progress):
            torch.manual_seed(seed)
            model = model_factory(kind, cfg.hidden_size)
            acc[kind][cfg.seeds.index(seed), cfg.distances.index(distance)] = train_and_evaluate(
                model, distance, seed, cfg, device)
    results.accuracy = acc
    return results
