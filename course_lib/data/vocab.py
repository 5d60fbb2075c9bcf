"""From sentences to padded token ids: tokenize, Vocab, pad_batch (translation batches: translation.py).

Every vocabulary starts with the same four special tokens, so their ids are constants:
<pad>=0 fills short sequences, <bos>=1 and <eos>=2 frame a sentence, <unk>=3 stands for
any word the vocabulary has not seen.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Iterable, Sequence, Union

import torch
from torch import Tensor

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
