"""The long-range agreement task: remember a noun's gender across `distance` tokens.

A sequence is  [noun] [filler × distance] [<query>]  and its label is the Spanish gender of
the noun, i.e. which form must agree with it at the query (negro or negra, el or la):

    jaguar  duerme  y  hoy  ve  <query>   → 0 (masculine)
    rama    que  come  en  ...  <query>   → 1 (feminine)

The fillers are gender-neutral words (verb forms and function words, no noun, determiner
or adjective), so the first token alone decides the label. A recurrent network must carry
that one bit through every filler step; attention can look straight back at position 0.
Chapter 1 plots accuracy against distance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Union

import torch
from torch import Tensor

from .lexicon import FEMININE, LEXICON, MASCULINE

MASCULINE_LABEL, FEMININE_LABEL = 0, 1

_FUNCTION_WORDS = (
    "que",
    "en",
    "con",
    "y",
    "muy",
    "ayer",
    "hoy",
    "siempre",
    "también",
    "aquí",
    "allí",
    "después",
    "pero",
    "cuando",
    "nunca",
    "no",
)
FILLER_WORDS: tuple[str, ...] = tuple(
    [v.es_present for v in LEXICON.verbs] + [v.es_imperfect for v in LEXICON.verbs] + list(_FUNCTION_WORDS)
)
MASCULINE_NOUNS: tuple[str, ...] = tuple(n.es for n in LEXICON.nouns if n.gender == MASCULINE)
FEMININE_NOUNS: tuple[str, ...] = tuple(n.es for n in LEXICON.nouns if n.gender == FEMININE)

# id 0 is padding (unused here, kept so the ids can share an embedding with padded data)
AGREEMENT_VOCAB: tuple[str, ...] = ("<pad>", "<query>") + MASCULINE_NOUNS + FEMININE_NOUNS + FILLER_WORDS
AGREEMENT_STOI: dict[str, int] = {token: i for i, token in enumerate(AGREEMENT_VOCAB)}
QUERY_ID = AGREEMENT_STOI["<query>"]
MASCULINE_IDS: tuple[int, ...] = tuple(AGREEMENT_STOI[w] for w in MASCULINE_NOUNS)
FEMININE_IDS: tuple[int, ...] = tuple(AGREEMENT_STOI[w] for w in FEMININE_NOUNS)
FILLER_IDS: tuple[int, ...] = tuple(AGREEMENT_STOI[w] for w in FILLER_WORDS)


@dataclass
class AgreementConfig:
    """Knobs of the agreement task; the defaults are what chapter 1 uses."""

    balanced: bool = True  # exactly n // 2 sequences of each gender (else a fair coin per sequence)
    n_fillers: Optional[int] = None  # use only the first n_fillers filler words; None = all of them


def _check_count(name: str, value: int, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {value!r}")


def make_agreement_task(
    n: int, distance: int, seed: int = 0, config: Optional[AgreementConfig] = None
) -> tuple[Tensor, Tensor]:
    """n sequences [noun, filler × distance, <query>] and the noun's gender as label.

    Returns X (n, distance + 2) long, ids into AGREEMENT_VOCAB, and y (n,) long,
    0 = masculine, 1 = feminine. Deterministic per seed (a seeded torch.Generator).
    """
    _check_count("n", n, 1)
    _check_count("distance", distance, 0)
    cfg = config or AgreementConfig()
    fillers = FILLER_IDS
    if cfg.n_fillers is not None:
        _check_count("config.n_fillers", cfg.n_fillers, 1)
        if cfg.n_fillers > len(FILLER_IDS):
            raise ValueError(f"config.n_fillers must be <= {len(FILLER_IDS)} (the filler words); got {cfg.n_fillers}")
        fillers = FILLER_IDS[: cfg.n_fillers]

    g = torch.Generator().manual_seed(seed)
    if cfg.balanced:
        y = (torch.arange(n) % 2)[torch.randperm(n, generator=g)]  # (n,) half 0, half 1
    else:
        y = torch.randint(0, 2, (n,), generator=g)  # (n,)
    masculine = torch.tensor(MASCULINE_IDS)[torch.randint(len(MASCULINE_IDS), (n,), generator=g)]  # (n,)
    feminine = torch.tensor(FEMININE_IDS)[torch.randint(len(FEMININE_IDS), (n,), generator=g)]  # (n,)
    noun = torch.where(y == FEMININE_LABEL, feminine, masculine)  # (n,)
    middle = torch.tensor(fillers)[torch.randint(len(fillers), (n, distance), generator=g)]  # (n, distance)
    query = torch.full((n, 1), QUERY_ID, dtype=torch.long)  # (n, 1)
    X = torch.cat([noun[:, None], middle, query], dim=1)  # (n, distance + 2)
    return X, y.long()


def decode_agreement(x: Union[Tensor, Sequence[int]]) -> str:
    """The words of one sequence x (distance + 2,), joined by spaces."""
    if isinstance(x, Tensor) and x.dim() != 1:
        raise ValueError(f"x must be one sequence, a 1-D tensor (distance + 2,); got shape {tuple(x.shape)}")
    ids = x.tolist() if isinstance(x, Tensor) else list(x)
    for i in ids:
        if not 0 <= i < len(AGREEMENT_VOCAB):
            raise ValueError(f"x must hold ids in [0, {len(AGREEMENT_VOCAB)}); got {i}")
    return " ".join(AGREEMENT_VOCAB[i] for i in ids)
