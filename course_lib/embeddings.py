"""Chapter 2 — word embeddings: cosine similarity, nearest neighbours, analogies and
skip-gram with negative sampling (Mikolov et al. 2013), trained on the course's corpus.

An embedding matrix E is (V, d): row i is the vector of word i of a vocabulary of V words.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Iterator, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from . import training
from .reference import reference
from .runtime import single_cpu_thread

# The lectures' hand-made 7-D embeddings (values as in the lecture table).
EXAMPLE_EMBEDDINGS: dict[str, tuple[float, ...]] = {
    "dog": (0.6, 0.9, 0.1, 0.4, -0.7, -0.3, -0.2),
    "puppy": (0.5, 0.8, -0.1, 0.2, -0.6, -0.5, -0.1),
    "cat": (0.7, -0.1, 0.4, 0.3, -0.4, -0.1, -0.3),
    "houses": (-0.8, -0.4, -0.5, 0.1, -0.9, 0.3, 0.8),
    "man": (0.6, -0.2, 0.8, 0.9, -0.1, -0.9, -0.7),
    "woman": (0.7, 0.3, 0.9, -0.7, 0.1, -0.5, -0.4),
    "king": (0.5, -0.4, 0.7, 0.8, 0.9, -0.7, -0.6),
    "queen": (0.8, -0.1, 0.8, -0.9, 0.8, -0.5, -0.9),
}

EPS = 1e-8  # norms below EPS count as zero (as in torch.nn.functional.cosine_similarity)


def _check_matrix(name: str, x: Tensor) -> None:
    if not isinstance(x, Tensor) or x.dim() != 2:
        got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{name} must be a 2-D matrix (n, d); got {got}")


def _check_index(name: str, i: int, V: int) -> None:
    if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < V:
        raise ValueError(f"{name} must be a word index in [0, {V}); got {i!r}")


@reference
def cosine_similarity_matrix(a: Tensor, b: Tensor) -> Tensor:
    """cos(a_i, b_j) = a_i · b_j / (‖a_i‖ ‖b_j‖) for every pair of rows.

    a: (N, d)  b: (M, d)
    Returns (N, M). A zero row (norm < 1e-8) has similarity 0 with everything.
    """
    _check_matrix("a", a)
    _check_matrix("b", b)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"a and b must share the dim d; got a {tuple(a.shape)} and b {tuple(b.shape)}")
    a_unit = a / a.norm(dim=-1, keepdim=True).clamp_min(EPS)  # (N, d), zero rows stay zero
    b_unit = b / b.norm(dim=-1, keepdim=True).clamp_min(EPS)  # (M, d)
    return a_unit @ b_unit.T  # (N, M)


@reference
def nearest_neighbors(embeddings: Tensor, index: int, k: int) -> Tensor:
    """The k words most cosine-similar to word ``index``, most similar first, itself excluded.

    embeddings: (V, d)  index: a row of embeddings  k: 1 ≤ k < V
    Returns (k,) long: row indices into embeddings.
    """
    _check_matrix("embeddings", embeddings)
    V = embeddings.shape[0]
    _check_index("index", index, V)
    if not 1 <= k < V:
        raise ValueError(f"k must be in [1, V - 1] = [1, {V - 1}]; got {k}")
    sims = cosine_similarity_matrix(embeddings[index : index + 1], embeddings)[0]  # (V,)
    sims[index] = float("-inf")  # a word is not its own neighbour
    return sims.topk(k).indices  # (k,)


@reference
def skipgram_negative_sampling_loss(center: Tensor, context: Tensor, negatives: Tensor) -> Tensor:
    """Skip-gram negative-sampling loss, averaged over the batch:

        L = mean_b [ −log σ(u_o · v_c) − Σ_k log σ(−u_k · v_c) ]

    center: (B, d) the centre words' input vectors v_c
    context: (B, d) the true context words' output vectors u_o
    negatives: (B, K, d) K sampled noise words' output vectors u_k
    Returns a scalar (0-D tensor). Uses logsigmoid, which stays finite for large |scores|.
    """
    if center.dim() != 2 or context.shape != center.shape:
        raise ValueError(
            f"center and context must both be (B, d); got {tuple(center.shape)} and {tuple(context.shape)}"
        )
    B, d = center.shape
    if negatives.dim() != 3 or negatives.shape[0] != B or negatives.shape[2] != d:
        raise ValueError(f"negatives must be (B, K, d) = ({B}, K, {d}); got {tuple(negatives.shape)}")
    positive = (center * context).sum(-1)  # (B,)
    negative = (negatives @ center[:, :, None])[..., 0]  # (B, K): u_k · v_c
    loss = -F.logsigmoid(positive) - F.logsigmoid(-negative).sum(-1)  # (B,)
    return loss.mean()


@reference
def analogy(embeddings: Tensor, a: int, b: int, c: int, k: int = 1) -> Tensor:
    """Solve "b is to a as c is to ?" (king − man + woman ≈ queen) by 3CosAdd:

        target = ê_a − ê_b + ê_c (ê = e/‖e‖);  answer = the k words most cosine-similar to target,
        excluding a, b and c.

    embeddings: (V, d)  a, b, c: word indices  k: number of answers.
    Returns (k,) long, best first.
    """
    _check_matrix("embeddings", embeddings)
    V = embeddings.shape[0]
    for name, i in (("a", a), ("b", b), ("c", c)):
        _check_index(name, i, V)
    if not 1 <= k <= V - 3:
        raise ValueError(f"k must be in [1, V - 3] = [1, {V - 3}]; got {k}")
    unit = embeddings / embeddings.norm(dim=-1, keepdim=True).clamp_min(EPS)  # (V, d)
    target = unit[a] - unit[b] + unit[c]  # (d,)
    sims = cosine_similarity_matrix(target[None], embeddings)[0]  # (V,)
    sims[[a, b, c]] = float("-inf")  # the inputs are not answers
    return sims.topk(k).indices  # (k,)


# --- training skip-gram on the course corpus --------------------------------------------------
def skipgram_pairs(sentences: Sequence[Sequence[int]], window: int) -> Tensor:
    """Every (centre, context) pair with |position difference| ≤ window, within each sentence.

    sentences: token-id lists. Returns (N, 2) long: column 0 the centre, column 1 the context.
    """
    if window < 1:
        raise ValueError(f"window must be ≥ 1; got {window}")
    pairs = [
        (s[i], s[j])
        for s in sentences
        for i in range(len(s))
        for j in range(max(0, i - window), min(len(s), i + window + 1))
        if j != i
    ]
    if not pairs:
        raise ValueError("sentences give no pairs: every sentence has fewer than 2 tokens")
    return torch.tensor(pairs, dtype=torch.long)


def noise_distribution(sentences: Sequence[Sequence[int]], vocab_size: int, power: float = 0.75) -> Tensor:
    """Word2vec's noise distribution for negatives: unigram counts ** 0.75, normalised. (V,)."""
    counts = Counter(t for s in sentences for t in s)
    freq = torch.tensor([counts.get(i, 0) for i in range(vocab_size)], dtype=torch.float)
    weights = freq**power
    return weights / weights.sum()


class SkipGram(nn.Module):
    """Two embedding tables: ``in_embed`` (the word vectors we keep) and ``out_embed`` (context)."""

    def __init__(self, vocab_size: int, dim: int):
        super().__init__()
        self.in_embed = nn.Embedding(vocab_size, dim)
        self.out_embed = nn.Embedding(vocab_size, dim)
        nn.init.uniform_(self.in_embed.weight, -0.5 / dim, 0.5 / dim)  # word2vec's initialisation
        nn.init.zeros_(self.out_embed.weight)

    def forward(self, center: Tensor, context: Tensor, negatives: Tensor) -> Tensor:
        """center, context: (B,) ids; negatives: (B, K) ids. Returns the scalar loss."""
        return skipgram_negative_sampling_loss(
            self.in_embed(center), self.out_embed(context), self.out_embed(negatives)
        )


@dataclass
class SkipGramConfig:
    """Training knobs of :func:`train_skipgram`."""

    dim: int = 32  # embedding width d
    window: int = 2  # context words on each side
    n_negatives: int = 5  # K noise words per pair
    epochs: int = 5  # passes over all pairs
    batch_size: int = 512  # pairs per step
    lr: float = 0.01  # Adam's learning rate
    seed: int = 0  # initialisation, shuffling and negatives


def train_skipgram(
    sentences: Sequence[Sequence[int]],
    vocab_size: int,
    config: Optional[SkipGramConfig] = None,
    device: Optional[torch.device] = None,
    progress: bool = True,
) -> tuple[SkipGram, list[float]]:
    """Train :class:`SkipGram` with negative sampling; return the model and the loss per epoch."""
    cfg = config or SkipGramConfig()
    device = device or torch.device("cpu")
    g = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    pairs = skipgram_pairs(sentences, cfg.window)  # (N, 2)
    noise = noise_distribution(sentences, vocab_size)  # (V,)
    model = SkipGram(vocab_size, cfg.dim).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    with single_cpu_thread():  # small batches of 32-D vectors: one CPU thread is faster than two
        losses = _skipgram_epochs(model, optimizer, pairs, noise, cfg, g, device, progress)
    return model, losses


def _skipgram_epochs(
    model: SkipGram,
    optimizer: torch.optim.Optimizer,
    pairs: Tensor,
    noise: Tensor,
    cfg: SkipGramConfig,
    g: torch.Generator,
    device: torch.device,
    progress: bool,
) -> list[float]:
    """The epochs of :func:`train_skipgram`, each a run of :func:`~course_lib.training.train_steps`;
    returns the mean loss of each epoch."""

    def epoch_batches() -> Iterator[tuple[Tensor, Tensor]]:  # (B, 2) pairs and (B, K) negatives
        order = torch.randperm(len(pairs), generator=g)
        for start in range(0, len(pairs), cfg.batch_size):
            batch = pairs[order[start : start + cfg.batch_size]]  # (B, 2)
            n_noise = batch.shape[0] * cfg.n_negatives
            negatives = torch.multinomial(noise, n_noise, replacement=True, generator=g).view(-1, cfg.n_negatives)
            yield batch.to(device), negatives.to(device)

    def loss_fn(batch: tuple[Tensor, Tensor]) -> Tensor:
        pair, negatives = batch
        return model(pair[:, 0], pair[:, 1], negatives)

    sizes = [min(cfg.batch_size, len(pairs) - start) for start in range(0, len(pairs), cfg.batch_size)]
    losses = []
    for _ in tqdm(range(cfg.epochs), desc="skip-gram epochs", disable=not progress):
        step_losses = training.train_steps(model, epoch_batches(), loss_fn, optimizer, progress=False)
        total, n = 0.0, 0
        for loss, size in zip(step_losses, sizes):
            total, n = total + loss * size, n + size
        losses.append(total / n)
    return losses


def neighbour_role_purity(embeddings: Tensor, roles: Sequence[str], k: int = 3) -> float:
    """Fraction of the k nearest neighbours (cosine) of each word that share its role.

    embeddings: (n, d) the vectors of n words; roles: n labels ("animal", "verb", ...).
    """
    _check_matrix("embeddings", embeddings)
    if len(roles) != embeddings.shape[0]:
        raise ValueError(f"roles must have one label per row of embeddings ({embeddings.shape[0]}); got {len(roles)}")
    hits = 0
    for i in range(len(roles)):
        neighbours = nearest_neighbors(embeddings, i, k).tolist()
        hits += sum(roles[j] == roles[i] for j in neighbours)
    return hits / (k * len(roles))


def spanish_word_roles(fine: bool = False) -> dict[str, str]:
    """The role of every Spanish noun, adjective and verb form of the course lexicon.

    Coarse roles are the grammar's slots: "animate noun", "inanimate noun", "adjective", "verb".
    fine=True splits them by meaning the grammar does not use: "animal" vs "person",
    "colour" vs other "adjective".
    """
    from .data.lexicon import LEXICON

    roles: dict[str, str] = {}
    for noun in LEXICON.nouns:
        if fine and noun.animate:
            roles[noun.es] = "person" if noun.en_possessive != "its" else "animal"
        else:
            roles[noun.es] = "animate noun" if noun.animate else "inanimate noun"
    for adj in LEXICON.adjectives:
        colour = adj.en in ("black", "white", "red", "green")
        for form in (adj.es_m, adj.es_f):
            roles[form] = "colour" if fine and colour else "adjective"
    for verb in LEXICON.verbs:
        roles[verb.es_present] = roles[verb.es_imperfect] = "verb"
    return roles


def pca_2d(x: Tensor) -> Tensor:
    """Project rows of x (n, d) on their two principal directions: (n, 2).

    A principal direction is defined up to its sign, and LAPACK builds differ in the sign they
    return. Convention (scikit-learn's ``svd_flip``): each column of the result is flipped so
    that its entry of largest absolute value is positive, so pca_2d(x) == pca_2d(-x).
    """
    _check_matrix("x", x)
    centred = x - x.mean(dim=0, keepdim=True)  # (n, d)
    _, _, Vh = torch.linalg.svd(centred, full_matrices=False)  # Vh: (min(n, d), d)
    points = centred @ Vh[:2].T  # (n, 2)
    largest = points.gather(0, points.abs().argmax(dim=0, keepdim=True))  # (1, 2)
    return points * torch.where(largest < 0, -1.0, 1.0)  # (n, 2): largest |entry| positive
