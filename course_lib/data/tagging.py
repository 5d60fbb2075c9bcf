"""Token-level probing tasks on the English side of the course corpus (chapter 4's heads).

For every token of a sentence (framed by <bos> … <eos>) the model predicts four things, each of
which needs a different token of the sentence:

- ``previous``: the word just before it (``<bos>`` has none: ignored);
- ``next``: the word just after it (``<eos>`` has none: ignored);
- ``noun gender``: the Spanish gender (m/f) of the first noun at or after it — what an English
  article or adjective needs to become el/la, negro/negra (no noun ahead: ignored);
- ``subject``: the sentence's first noun.

One attention layer with several heads can give each question a head of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .corpus import make_parallel_corpus
from .lexicon import FEMININE, LEXICON
from .vocab import Vocab, pad_batch

TAGGING_TASKS = ("previous", "next", "noun gender", "subject")
IGNORE = -100  # targets the loss skips (F.cross_entropy's default ignore_index)
NOUN_GENDER = {noun.en: int(noun.gender == FEMININE) for noun in LEXICON.nouns}  # English noun → 0 m / 1 f


@dataclass
class TaggingData:
    """tokens (N, T) padded ids; targets (N, T, 4) class ids per task or IGNORE; lengths (N,)."""

    tokens: Tensor
    targets: Tensor
    lengths: Tensor
    vocab: Vocab
    sentences: list[str]

    def n_classes(self) -> tuple[int, ...]:
        """Classes per task: a word for previous/next/subject, m/f for the gender."""
        V = len(self.vocab)
        return (V, V, 2, V)


def _targets(ids: list[int], words: list[str]) -> list[list[int]]:
    T = len(ids)
    nouns = [t for t, w in enumerate(words) if w in NOUN_GENDER]
    subject = ids[nouns[0]] if nouns else IGNORE
    rows = []
    for t in range(T):
        ahead = [n for n in nouns if n >= t]
        rows.append(
            [
                ids[t - 1] if t > 0 else IGNORE,
                ids[t + 1] if t + 1 < T else IGNORE,
                NOUN_GENDER[words[ahead[0]]] if ahead else IGNORE,
                subject,
            ]
        )
    return rows


def make_tagging_data(n_sentences: int, seed: int = 0, vocab: Vocab | None = None) -> TaggingData:
    """``n_sentences`` English sentences of the corpus with their four targets per token."""
    sentences = [en for en, _ in make_parallel_corpus(n_sentences, seed=seed)]
    vocab = vocab or Vocab.build(sentences)
    seqs, rows = [], []
    for sentence in sentences:
        ids = vocab.encode(sentence)  # <bos> … <eos>
        words = [vocab.itos[i] for i in ids]
        seqs.append(ids)
        rows.append(_targets(ids, words))
    tokens, lengths = pad_batch(seqs)  # (N, T), (N,)
    targets = torch.full((*tokens.shape, len(TAGGING_TASKS)), IGNORE, dtype=torch.long)  # (N, T, 4)
    for b, r in enumerate(rows):
        targets[b, : len(r)] = torch.tensor(r)
    return TaggingData(tokens, targets, lengths, vocab, sentences)
