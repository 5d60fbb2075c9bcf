"""Chapter 1's experiment: accuracy on the long-range agreement task against the distance
between the noun and the question, for a vanilla RNN, an LSTM and one attention layer.

Every model gets the same budget, counted in optimizer steps (not seconds, so the result does
not depend on the machine), the same data and the same optimizer. What each model may have of
its own (:class:`ModelSettings`: learning rate, weight decay, the LSTM's forget-gate bias) is
chosen by a small search per model (:func:`search_settings`) on a seed that the comparison
does not use. :func:`state_grad_norms` measures ‖∂L/∂h_t‖ (and the LSTM's ‖∂L/∂c_t‖) through
time in a trained model.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Optional, Sequence

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from . import training
from .attention import AttentionClassifier, AttentionClassifierConfig
from .data.agreement import AGREEMENT_VOCAB, make_agreement_task
from .rnn import RecurrentClassifier, RecurrentClassifierConfig, bptt_grad_norms, lstm_cell
from .runtime import single_cpu_thread


@dataclass
class DistanceExperimentConfig:
    """Knobs of :func:`accuracy_vs_distance`; the defaults are chapter 1's full mode."""

    distances: tuple[int, ...] = (5, 10, 20, 30, 45, 60, 80)  # filler words between noun and <query>
    seeds: tuple[int, ...] = (0, 1)  # one training run per seed (initialisation and data)
    steps: int = 300  # optimizer steps per run: the same budget for every model
    batch_size: int = 32  # sequences per step
    lr: float = 1e-2  # AdamW's learning rate, for a model without its own ModelSettings
    weight_decay: float = 0.0  # AdamW's weight decay, for a model without its own ModelSettings
    hidden_size: int = 32  # RNN/LSTM state width and attention width
    n_valid: int = 512  # fresh validation sequences per distance
    valid_seed: int = 10**6  # the validation sequences at distance d use seed valid_seed + d


@dataclass(frozen=True)
class ModelSettings:
    """What one model may have of its own in the comparison; everything else is shared."""

    lr: float = 1e-2  # AdamW's learning rate
    weight_decay: float = 0.0  # AdamW's decoupled weight decay
    forget_bias: Optional[float] = None  # LSTM only: initial forget-gate bias (None: torch's init)


def make_model(kind: str, hidden_size: int = 32, forget_bias: Optional[float] = None) -> nn.Module:
    """'rnn', 'lstm' or 'attention': a small classifier of agreement sequences (B, T) → (B, 2)."""
    vocab = len(AGREEMENT_VOCAB)
    if kind in ("rnn", "lstm"):
        return RecurrentClassifier(
            RecurrentClassifierConfig(
                vocab_size=vocab, d_embed=16, hidden_size=hidden_size, cell=kind, forget_bias=forget_bias
            )
        )
    if forget_bias is not None:
        raise ValueError(f"forget_bias applies to kind='lstm' only; got kind={kind!r}")
    if kind == "attention":
        return AttentionClassifier(AttentionClassifierConfig(vocab_size=vocab, d_model=hidden_size))
    raise ValueError(f"kind must be 'rnn', 'lstm' or 'attention'; got {kind!r}")


def train_and_evaluate(
    model: nn.Module,
    distance: int,
    seed: int,
    cfg: DistanceExperimentConfig,
    device: torch.device,
    settings: Optional[ModelSettings] = None,
) -> float:
    """Train ``model`` for cfg.steps AdamW steps on fresh sequences; return validation accuracy.

    ``settings`` (a model's own learning rate and weight decay) override cfg.lr and
    cfg.weight_decay.
    """
    s = settings or ModelSettings(cfg.lr, cfg.weight_decay)
    X, y = make_agreement_task(cfg.steps * cfg.batch_size, distance, seed=1000 * seed + distance)
    X_valid, y_valid = make_agreement_task(cfg.n_valid, distance, seed=cfg.valid_seed + distance)
    X, y, X_valid, y_valid = X.to(device), y.to(device), X_valid.to(device), y_valid.to(device)
    model.to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=s.lr, weight_decay=s.weight_decay)
    batches = (slice(step * cfg.batch_size, (step + 1) * cfg.batch_size) for step in range(cfg.steps))
    training.train_steps(
        model,
        batches,
        lambda batch: nn.functional.cross_entropy(model(X[batch]), y[batch]),
        optimizer,
        clip_grad_norm=1.0,  # keeps an exploding RNN step from derailing
        progress=False,
    )
    model.eval()
    with torch.no_grad():
        return (model(X_valid).argmax(-1) == y_valid).float().mean().item()


def train_one(
    kind: str,
    distance: int,
    seed: int,
    cfg: DistanceExperimentConfig,
    settings: Optional[ModelSettings] = None,
    device: Optional[torch.device] = None,
) -> tuple[nn.Module, float]:
    """Build one model with its settings (seeded), train it; return (model, validation accuracy)."""
    s = settings or ModelSettings(cfg.lr, cfg.weight_decay)
    torch.manual_seed(seed)
    model = make_model(kind, cfg.hidden_size, forget_bias=s.forget_bias)
    with single_cpu_thread():  # tiny models: one CPU thread is faster than two
        acc = train_and_evaluate(model, distance, seed, cfg, device or torch.device("cpu"), s)
    return model, acc


@dataclass
class DistanceResults:
    """accuracy[kind] is (n_seeds, n_distances): validation accuracy of each run."""

    distances: tuple[int, ...]
    seeds: tuple[int, ...]
    accuracy: dict[str, Tensor] = field(default_factory=dict)


def accuracy_vs_distance(
    kinds: Sequence[str] = ("rnn", "lstm", "attention"),
    config: Optional[DistanceExperimentConfig] = None,
    device: Optional[torch.device] = None,
    progress: bool = True,
    settings: Optional[dict[str, ModelSettings]] = None,
) -> DistanceResults:
    """Train every kind at every distance for every seed (same steps each); collect accuracies.

    settings[kind] gives a model its own learning rate, weight decay and forget bias
    (default: cfg.lr and cfg.weight_decay, torch's initialisation).
    """
    cfg = config or DistanceExperimentConfig()
    settings = settings or {}
    results = DistanceResults(tuple(cfg.distances), tuple(cfg.seeds))
    runs = [(k, s, d) for k in kinds for s in cfg.seeds for d in cfg.distances]
    acc = {k: torch.zeros(len(cfg.seeds), len(cfg.distances)) for k in kinds}
    for kind, seed, distance in tqdm(runs, desc="training runs", disable=not progress):
        _, a = train_one(kind, distance, seed, cfg, settings.get(kind), device)
        acc[kind][cfg.seeds.index(seed), cfg.distances.index(distance)] = a
    results.accuracy = acc
    return results


def search_settings(
    kind: str,
    candidates: Sequence[ModelSettings],
    distances: Sequence[int],
    seeds: Sequence[int],
    config: Optional[DistanceExperimentConfig] = None,
    device: Optional[torch.device] = None,
) -> tuple[ModelSettings, Tensor]:
    """A small search for one model: train each candidate at each distance for each of ``seeds``
    (use seeds the comparison does not) and score it on validation sequences of its own (seed
    cfg.valid_seed + 10**6 + d, never used by :func:`accuracy_vs_distance`); pick the best mean
    accuracy over seeds and distances (ties: the first candidate).

    Returns (best settings, accuracy (n_candidates, n_distances), the mean over seeds).
    """
    if not candidates or not seeds:
        raise ValueError(
            f"candidates and seeds must be non-empty; got {len(candidates)} candidates and {len(seeds)} seeds"
        )
    base = config or DistanceExperimentConfig()
    cfg = replace(base, valid_seed=base.valid_seed + 10**6)
    acc = torch.zeros(len(candidates), len(seeds), len(distances))
    for i, s in enumerate(candidates):
        for j, seed in enumerate(seeds):
            for k, d in enumerate(distances):
                acc[i, j, k] = train_one(kind, d, seed, cfg, s, device)[1]
    mean = acc.mean(dim=1)  # (n_candidates, n_distances)
    return candidates[int(mean.mean(dim=1).argmax())], mean


def state_grad_norms(model: RecurrentClassifier, X: Tensor, y: Tensor) -> dict[str, Tensor]:
    """‖∂L/∂h_t‖ (and for an LSTM ‖∂L/∂c_t‖), t = 1 … T, L = Σ_b cross-entropy of sequence b.

    X: (B, T) token ids  y: (B,) labels.
    Returns {"h": (T, B)} for an RNN (by :func:`course_lib.rnn.bptt_grad_norms`) or
    {"h": (T, B), "c": (T, B)} for an LSTM (autograd through :func:`course_lib.rnn.lstm_cell`).
    """
    r = model.rnn
    W_ih, W_hh, b_ih, b_hh = (p.detach() for p in (r.weight_ih_l0, r.weight_hh_l0, r.bias_ih_l0, r.bias_hh_l0))
    with torch.no_grad():
        x = model.embed(X).transpose(0, 1)  # (T, B, D)
    T, B, _ = x.shape
    if model.config.cell == "rnn":
        with torch.no_grad():
            out, _ = r(x.transpose(0, 1))  # (B, T, H): torch's fused RNN, same weights
        h = out.transpose(0, 1)  # (T, B, H)
        h_T = h[-1].clone().requires_grad_()  # (B, H)
        with torch.enable_grad():
            loss = nn.functional.cross_entropy(model.head(h_T), y, reduction="sum")
            grad_last = torch.autograd.grad(loss, h_T)[0]  # (B, H) = ∂L/∂h_T
        return {"h": bptt_grad_norms(h, W_hh, grad_last)}
    hs, cs = [], []
    h = x.new_zeros(B, W_hh.shape[1]).requires_grad_()  # (B, H): leaves, so that autograd
    c = h.clone()  # follows every step (x and the weights are detached)
    with torch.enable_grad():
        for t in range(T):
            h, c = lstm_cell(x[t], h, c, W_ih, W_hh, b_ih, b_hh)  # (B, H) each
            hs.append(h)
            cs.append(c)
        loss = nn.functional.cross_entropy(model.head(h), y, reduction="sum")
        grads = torch.autograd.grad(loss, hs + cs)  # 2T tensors (B, H)
    norms = torch.stack([g.norm(dim=-1) for g in grads]).detach()  # (2T, B)
    return {"h": norms[:T], "c": norms[T:]}
