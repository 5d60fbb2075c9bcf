"""From sentences to padded batches of token ids: tokenize, Vocab, pad_batch, DataLoader.

Every vocabulary starts with the same four special tokens, so their ids are constants:
<pad>=0 fills short sequences, <bos>=1 and <eos>=2 frame a sentence, <unk>=3 stands for
any word the vocabulary has not seen.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, NamedTuple, Optional, Sequence, Union

import torch
from torch import Tensor
from torch.utils.data import DataLoader

from .corpus import CorpusConfig, make_parallel_corpus

PAD, BOS, EOS, UNK = 0, 1, 2, 3
SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")

_TOKEN = re.compile(r"\w+|[^\w\s]")  # a word (letters with accents included), or one punctuation mark


def tokenize(sentence: str) -> list[str]:
    """Lower-case tokens; each punctuation mark is a token of its own.

    >>> tokenize("El jaguar dormía.")
    ['el', 'jaguar', 'dormía', '.']
    """
    return _TOKEN.findall(sentence.lower())


class Vocab:
    """A bijection between tokens and ids; ids 0..3 are <pad>, <bos>, <eos>, <unk>."""

    def __init__(self, tokens: Iterable[str]):
        """tokens: the non-special tokens, in id order (ids start at len(SPECIALS))."""
        self.itos: list[str] = list(SPECIALS)
        for token in tokens:
            if token not in SPECIALS:
                self.itos.append(token)
        self.stoi: dict[str, int] = {token: i for i, token in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise ValueError(f"tokens must not repeat; got {len(self.itos)} tokens but {len(self.stoi)} distinct")

    @classmethod
    def build(cls, sentences: Iterable[str], min_freq: int = 1) -> "Vocab":
        """Vocabulary of the tokens seen at least min_freq times, most frequent first, ties alphabetical."""
        if min_freq < 1:
            raise ValueError(f"min_freq must be >= 1; got {min_freq}")
        counts = Counter(token for sentence in sentences for token in tokenize(sentence))
        kept = [token for token, count in counts.items() if count >= min_freq]
        kept.sort(key=lambda token: (-counts[token], token))
        return cls(kept)

    def __len__(self) -> int:
        return len(self.itos)

    def __repr__(self) -> str:
        return f"Vocab({len(self)} tokens: {self.itos[:8]}...)"

    def encode(self, sentence: Union[str, Sequence[str]], add_bos_eos: bool = True) -> list[int]:
        """Token ids of a sentence (a string, or a list of tokens); unknown tokens → <unk>."""
        tokens = tokenize(sentence) if isinstance(sentence, str) else list(sentence)
        ids = [self.stoi.get(token, UNK) for token in tokens]
        return [BOS] + ids + [EOS] if add_bos_eos else ids

    def decode(self, ids: Union[Sequence[int], Tensor], strip_special: bool = True) -> str:
        """The tokens of ids joined by spaces.

        ids: list of ints or a 1-D tensor (T,). With strip_special, decoding stops at the
        first <eos> and drops <pad> and <bos> (what greedy decoding needs); <unk> is kept.
        """
        if isinstance(ids, Tensor):
            if ids.dim() != 1:
                raise ValueError(f"ids must be a 1-D tensor (T,); got shape {tuple(ids.shape)}")
            ids = ids.tolist()
        tokens = []
        for i in ids:
            if not 0 <= i < len(self.itos):
                raise ValueError(f"ids must lie in [0, {len(self.itos)}); got {i}")
            if strip_special and i == EOS:
                break
            if strip_special and i in (PAD, BOS):
                continue
            tokens.append(self.itos[i])
        return " ".join(tokens)


def pad_batch(seqs: Sequence[Sequence[int]], pad_id: int = PAD) -> tuple[Tensor, Tensor]:
    """Stack sequences of different lengths into one right-padded tensor.

    seqs: B lists of token ids. Returns (padded (B, T) long, lengths (B,) long), where
    T = max length and padded[b, lengths[b]:] == pad_id.
    """
    if len(seqs) == 0:
        raise ValueError("seqs must be a non-empty list of token-id lists; got an empty list")
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)  # (B,)
    B, T = len(seqs), int(lengths.max())
    padded = torch.full((B, T), pad_id, dtype=torch.long)  # (B, T)
    for b, seq in enumerate(seqs):
        padded[b, : len(seq)] = torch.as_tensor(seq, dtype=torch.long)
    return padded, lengths


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


def make_translation_data(n_pairs: int, seed: int = 0, split: tuple[float, float, float] = (0.8, 0.1, 0.1),
                          config: Optional[CorpusConfig] = None) -> TranslationData:
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
    train, valid, test = pairs[:n_train], pairs[n_train:n_train + n_valid], pairs[n_train + n_valid:]
    src_vocab = Vocab.build(en for en, _ in train)
    tgt_vocab = Vocab.build(es for _, es in train)
    return TranslationData(train, valid, test, src_vocab, tgt_vocab)


def _collate(examples: list[tuple[list[int], list[int]]]) -> Batch:
    src, src_lengths = pad_batch([s for s, _ in examples])  # (B, S), (B,)
    tgt, tgt_lengths = pad_batch([t for _, t in examples])  # (B, T), (B,)
    return Batch(src, src_lengths, tgt, tgt_lengths)


def translation_loader(pairs: Sequence[tuple[str, str]], src_vocab: Vocab, tgt_vocab: Vocab, batch_size: int,
                       shuffle: bool, seed: int = 0) -> DataLoader:
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
