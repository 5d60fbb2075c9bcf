"""Translation batches for chapter 6: the corpus cut into train/valid/test, with vocabularies
built on train only, and DataLoaders of padded (source, target) batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Optional, Sequence, Union

import torch
from torch import Tensor
from torch.utils.data import DataLoader

from .corpus import CorpusConfig, make_parallel_corpus
from .vocab import Vocab, pad_batch


class Batch(NamedTuple):
    """One batch of a translation loader; src and tgt both framed by <bos> ... <eos>."""

    src: Tensor  # (B, S) long, padded with PAD
    src_lengths: Tensor  # (B,) long
    tgt: Tensor  # (B, T) long, padded with PAD
    tgt_lengths: Tensor  # (B,) long

    def to(self, device: Union[str, torch.device]) -> "Batch":
        """The same batch on another device."""
        return Batch(*(t.to(device) for t in self))


@dataclass
class TranslationData:
    """Train/valid/test (english, spanish) pairs and vocabularies built on train only."""

    train: list[tuple[str, str]]
    valid: list[tuple[str, str]]
    test: list[tuple[str, str]]
    src_vocab: Vocab  # English
    tgt_vocab: Vocab  # Spanish


def make_translation_data(
    n_pairs: int,
    seed: int = 0,
    split: tuple[float, float, float] = (0.8, 0.1, 0.1),
    config: Optional[CorpusConfig] = None,
) -> TranslationData:
    """The course corpus (see make_parallel_corpus) cut into train/valid/test by the fractions in split."""
    if len(split) != 3 or any(f < 0 for f in split) or abs(sum(split) - 1.0) > 1e-6:
        raise ValueError(f"split must be three non-negative fractions (train, valid, test) summing to 1; got {split}")
    pairs = make_parallel_corpus(n_pairs, seed, config)  # already in random order
    n_train = round(split[0] * n_pairs)
    n_valid = round(split[1] * n_pairs)
    if n_train < 1:
        raise ValueError(
            f"n_pairs * split[0] must leave at least one training pair; got n_pairs={n_pairs}, split={split}"
        )
    train, valid, test = pairs[:n_train], pairs[n_train : n_train + n_valid], pairs[n_train + n_valid :]
    src_vocab = Vocab.build(en for en, _ in train)
    tgt_vocab = Vocab.build(es for _, es in train)
    return TranslationData(train, valid, test, src_vocab, tgt_vocab)


def _collate(examples: list[tuple[list[int], list[int]]]) -> Batch:
    src, src_lengths = pad_batch([s for s, _ in examples])  # (B, S), (B,)
    tgt, tgt_lengths = pad_batch([t for _, t in examples])  # (B, T), (B,)
    return Batch(src, src_lengths, tgt, tgt_lengths)


def translation_loader(
    pairs: Sequence[tuple[str, str]], src_vocab: Vocab, tgt_vocab: Vocab, batch_size: int, shuffle: bool, seed: int = 0
) -> DataLoader:
    """A DataLoader of Batch(src (B, S), src_lengths (B,), tgt (B, T), tgt_lengths (B,)).

    Sentences are encoded once, as <bos> tokens <eos>; with shuffle, the order comes from a
    torch.Generator seeded with seed, so the same seed gives the same batches.
    """
    if len(pairs) == 0:
        raise ValueError("pairs must be a non-empty list of (source, target) sentences; got an empty list")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int; got {batch_size!r}")
    examples = [(src_vocab.encode(src), tgt_vocab.encode(tgt)) for src, tgt in pairs]
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(examples, batch_size=batch_size, shuffle=shuffle, collate_fn=_collate, generator=generator)
