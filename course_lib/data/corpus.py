"""A synthetic English→Spanish parallel corpus from a small synchronous grammar.

One random derivation tree is rendered twice, once per language, so every English sentence
has exactly one correct Spanish translation. The grammar (words in :mod:`lexicon`):

    S   → NP_subj VP PP* "."                 at most ``max_prep_phrases`` PPs
    VP  → V_intransitive | V_transitive NP   the object takes "a" in Spanish if animate
    NP  → Det Adj? Noun ("of" NP)? ("that" VP)?
    PP  → Prep NP                            on/in → en, under → debajo de, with → con

What it teaches, with the rule each Spanish rendering applies:
- gender agreement: the → el/la, a → un/una, and the adjective agrees (negro/negra);
- reordering: the adjective follows the noun ("the black jaguar" → "el jaguar negro");
- contractions: de + el → del, a + el → al; "de el" and "a el" never appear;
- the personal "a": an animate direct object is introduced by "a"
  ("ve al pájaro", "ve a la niña") and an inanimate one is not ("ve el árbol");
- possessives: "its", "his" and "her" all become "su" (the English word tells the possessor's
  kind, the Spanish one does not). A possessive refers to the subject of its clause;
- long-range dependencies: relative clauses "that VP" → "que VP" on animate nouns, nested
  up to ``max_relative_depth`` ("the jaguar that sees the bird sleeps" →
  "el jaguar que ve al pájaro duerme"). English past → Spanish imperfect (slept → dormía).

The mapping is a function English → Spanish (:func:`translate`), not the reverse: "on" and
"in" both give "en", and "su" forgets whose.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields
from typing import Optional

from .lexicon import FEMININE, LEXICON, Adjective, Noun, Preposition, Verb

_POSSESSIVES = ("its", "his", "her")


@dataclass
class CorpusConfig:
    """How often each optional part of the grammar appears."""

    n_pairs: int = 2000  # pairs to generate (make_parallel_corpus's argument wins)
    seed: int = 0  # random seed (make_parallel_corpus's argument wins)
    p_adjective: float = 0.3  # probability that a noun phrase has an adjective
    p_prep_phrase: float = 0.4  # probability of each of the max_prep_phrases sentence PPs
    max_prep_phrases: int = 2  # at most this many prepositional phrases end a sentence
    p_of_phrase: float = 0.3  # probability that "the/a" + inanimate noun gets "of NP" (de NP)
    p_relative_clause: float = 0.2  # probability that an animate noun gets "that VP"
    max_relative_depth: int = 2  # how deeply relative clauses may nest; 0 = none
    p_transitive: float = 0.5  # probability that a verb phrase has a direct object
    p_past: float = 0.5  # probability that a sentence is in the past (Spanish imperfect)
    p_indefinite: float = 0.2  # probability of "a" (un/una) instead of "the" (el/la)
    p_possessive: float = 0.4  # probability of its/his/her (su) where a possessor exists
    unique: bool = True  # drop repeated English sentences
    max_attempts_per_pair: int = 50  # give up after n_pairs * this many draws


@dataclass
class NounPhrase:
    """det is "the", "a", or a possessive ("its", "his", "her")."""

    noun: Noun
    det: str = "the"
    adjective: Optional[Adjective] = None
    of: Optional["NounPhrase"] = None  # "the branch of the tree"
    relative: Optional["VerbPhrase"] = None  # "the jaguar that sees the bird"


@dataclass
class VerbPhrase:
    verb: Verb
    past: bool
    obj: Optional[NounPhrase] = None


@dataclass
class PrepPhrase:
    prep: Preposition
    np: NounPhrase


@dataclass
class Sentence:
    subject: NounPhrase
    predicate: VerbPhrase
    modifiers: list[PrepPhrase]


# ----------------------------------------------------------------------------- sampling

_ANIMATE = [n for n in LEXICON.nouns if n.animate]
_INANIMATE = [n for n in LEXICON.nouns if not n.animate]
_TRANSITIVE = [v for v in LEXICON.verbs if v.transitive]
_INTRANSITIVE = [v for v in LEXICON.verbs if not v.transitive]


def _sample_np(
    rng: random.Random,
    cfg: CorpusConfig,
    candidates: list[Noun],
    possessor: Optional[Noun],
    depth: int,
    past: bool,
    allow_of: bool = True,
) -> NounPhrase:
    """A noun phrase headed by one of candidates; possessor is who "its/his/her" would mean."""
    noun = rng.choice(candidates)
    det = "the"
    if possessor is not None and rng.random() < cfg.p_possessive:
        det = possessor.en_possessive
    elif rng.random() < cfg.p_indefinite:
        det = "a"
    np = NounPhrase(noun, det)
    if rng.random() < cfg.p_adjective:
        np.adjective = rng.choice(LEXICON.adjectives)
    if allow_of and not noun.animate and det in ("the", "a") and rng.random() < cfg.p_of_phrase:
        others = [n for n in LEXICON.nouns if n != noun]
        np.of = _sample_np(rng, cfg, others, None, cfg.max_relative_depth, past, allow_of=False)
    if noun.animate and depth < cfg.max_relative_depth and rng.random() < cfg.p_relative_clause:
        np.relative = _sample_vp(rng, cfg, noun, depth + 1, past)
    return np


def _sample_vp(rng: random.Random, cfg: CorpusConfig, subject: Noun, depth: int, past: bool) -> VerbPhrase:
    """A verb phrase whose subject is `subject` (the possessor of a possessive object)."""
    if rng.random() < cfg.p_transitive:
        others = [n for n in LEXICON.nouns if n != subject]
        obj = _sample_np(rng, cfg, others, subject, depth, past)
        return VerbPhrase(rng.choice(_TRANSITIVE), past, obj)
    return VerbPhrase(rng.choice(_INTRANSITIVE), past)


def sample_sentence(rng: random.Random, config: Optional[CorpusConfig] = None) -> Sentence:
    """One random derivation tree of the grammar, drawn with rng."""
    cfg = config or CorpusConfig()
    past = rng.random() < cfg.p_past
    subject = _sample_np(rng, cfg, _ANIMATE, None, 0, past)
    predicate = _sample_vp(rng, cfg, subject.noun, 0, past)
    modifiers = []
    for _ in range(cfg.max_prep_phrases):
        if rng.random() < cfg.p_prep_phrase:
            prep = rng.choice(LEXICON.prepositions)
            candidates = _INANIMATE if prep.locative else LEXICON.nouns
            np = _sample_np(rng, cfg, list(candidates), subject.noun, cfg.max_relative_depth, past)
            modifiers.append(PrepPhrase(prep, np))
    return Sentence(subject, predicate, modifiers)


# ---------------------------------------------------------------------------- rendering


def _english_np(np: NounPhrase) -> list[str]:
    head = [np.adjective.en, np.noun.en] if np.adjective else [np.noun.en]
    det = np.det
    if det == "a" and head[0][0] in "aeiou":
        det = "an"  # "an old jaguar"
    words = [det] + head
    if np.of is not None:
        words += ["of"] + _english_np(np.of)
    if np.relative is not None:
        words += ["that"] + _english_vp(np.relative)
    return words


def _english_vp(vp: VerbPhrase) -> list[str]:
    words = [vp.verb.en_past if vp.past else vp.verb.en_present]
    if vp.obj is not None:
        words += _english_np(vp.obj)
    return words


def _spanish_np(np: NounPhrase) -> list[str]:
    feminine = np.noun.gender == FEMININE
    if np.det == "the":
        det = "la" if feminine else "el"
    elif np.det == "a":
        det = "una" if feminine else "un"
    else:
        det = "su"  # its / his / her
    words = [det, np.noun.es]
    if np.adjective is not None:
        words.append(np.adjective.es(np.noun.gender))  # after the noun, agreeing with it
    if np.of is not None:
        words += ["de"] + _spanish_np(np.of)
    if np.relative is not None:
        words += ["que"] + _spanish_vp(np.relative)
    return words


def _spanish_vp(vp: VerbPhrase) -> list[str]:
    words = [vp.verb.es_imperfect if vp.past else vp.verb.es_present]
    if vp.obj is not None:
        if vp.obj.noun.animate:
            words.append("a")  # the personal "a" before an animate direct object
        words += _spanish_np(vp.obj)
    return words


def _contract(words: list[str]) -> list[str]:
    """de + el → del, a + el → al."""
    out: list[str] = []
    for word in words:
        if word == "el" and out and out[-1] in ("de", "a"):
            out[-1] = "del" if out[-1] == "de" else "al"
        else:
            out.append(word)
    return out


def render_english(sentence: Sentence) -> str:
    """The English side: lower-case tokens joined by single spaces, ending with " ."."""
    words = _english_np(sentence.subject) + _english_vp(sentence.predicate)
    for pp in sentence.modifiers:
        words += [pp.prep.en] + _english_np(pp.np)
    return " ".join(words + ["."])


def render_spanish(sentence: Sentence) -> str:
    """The Spanish side, with agreement, reordering, the personal "a" and contractions."""
    words = _spanish_np(sentence.subject) + _spanish_vp(sentence.predicate)
    for pp in sentence.modifiers:
        words += list(pp.prep.es) + _spanish_np(pp.np)
    return " ".join(_contract(words + ["."]))


# ------------------------------------------------------------------------------ parsing

_NOUN_BY_EN = {n.en: n for n in LEXICON.nouns}
_ADJECTIVE_BY_EN = {a.en: a for a in LEXICON.adjectives}
_PREP_BY_EN = {p.en: p for p in LEXICON.prepositions}
_VERB_BY_FORM = {v.en_present: (v, False) for v in LEXICON.verbs}
_VERB_BY_FORM.update({v.en_past: (v, True) for v in LEXICON.verbs})


class _Parser:
    """Recursive descent over the English tokens; mirrors the sampling functions."""

    def __init__(self, english: str):
        self.english = english
        self.words = english.lower().split()
        self.i = 0

    def peek(self) -> str:
        return self.words[self.i] if self.i < len(self.words) else "<end>"

    def take(self, table: dict, what: str):
        word = self.peek()
        if word not in table:
            raise ValueError(
                f"english must be a sentence of the course grammar; expected {what} at token "
                f"{self.i} of {self.english!r}, got {word!r}"
            )
        self.i += 1
        return table[word]

    def noun_phrase(self, allow_of: bool = True, allow_relative: bool = True) -> NounPhrase:
        det = self.take({d: d for d in ("the", "a", "an") + _POSSESSIVES}, "a determiner")
        adjective = _ADJECTIVE_BY_EN.get(self.peek())
        if adjective is not None:
            self.i += 1
        np = NounPhrase(self.take(_NOUN_BY_EN, "a noun"), "a" if det == "an" else det, adjective)
        if allow_of and self.peek() == "of":
            self.i += 1
            np.of = self.noun_phrase(allow_of=False, allow_relative=False)
        if allow_relative and self.peek() == "that":
            self.i += 1
            np.relative = self.verb_phrase()
        return np

    def verb_phrase(self) -> VerbPhrase:
        verb, past = self.take(_VERB_BY_FORM, "a verb")
        obj = self.noun_phrase() if verb.transitive else None
        return VerbPhrase(verb, past, obj)

    def sentence(self) -> Sentence:
        subject = self.noun_phrase()
        predicate = self.verb_phrase()
        modifiers = []
        while self.peek() in _PREP_BY_EN:
            prep = self.take(_PREP_BY_EN, "a preposition")
            modifiers.append(PrepPhrase(prep, self.noun_phrase(allow_relative=False)))
        self.take({".": "."}, 'the final "."')
        if self.i != len(self.words):
            extra = self.words[self.i :]
            raise ValueError(f"english must end at its final '.'; got extra tokens {extra} in {self.english!r}")
        return Sentence(subject, predicate, modifiers)


def parse_english(english: str) -> Sentence:
    """The derivation tree of an English sentence of the grammar (ValueError otherwise)."""
    return _Parser(english).sentence()


def translate(english: str) -> str:
    """The one correct Spanish translation of an English sentence the grammar generates.

    >>> translate("the jaguar slept on the branch of the tree with its tail .")
    'el jaguar dormía en la rama del árbol con su cola .'
    """
    return render_spanish(parse_english(english))


# ------------------------------------------------------------------------------- corpus


def _check_config(cfg: CorpusConfig) -> None:
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        if f.name.startswith("p_") and not 0.0 <= value <= 1.0:
            raise ValueError(f"config.{f.name} must be a probability in [0, 1]; got {value}")
    for name in ("max_prep_phrases", "max_relative_depth"):
        if getattr(cfg, name) < 0:
            raise ValueError(f"config.{name} must be >= 0; got {getattr(cfg, name)}")
    if cfg.max_attempts_per_pair < 1:
        raise ValueError(f"config.max_attempts_per_pair must be >= 1; got {cfg.max_attempts_per_pair}")


def make_parallel_corpus(n_pairs: int, seed: int = 0, config: Optional[CorpusConfig] = None) -> list[tuple[str, str]]:
    """n_pairs (english, spanish) sentence pairs, deterministic per seed.

    Both sides are lower-case, tokens separated by single spaces, ending with " .".
    With config.unique (the default) no English sentence appears twice.
    The arguments n_pairs and seed take precedence over config.n_pairs and config.seed.
    """
    if isinstance(n_pairs, bool) or not isinstance(n_pairs, int) or n_pairs < 1:
        raise ValueError(f"n_pairs must be a positive int; got {n_pairs!r}")
    cfg = config or CorpusConfig()
    _check_config(cfg)
    rng = random.Random(seed)
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    for _ in range(n_pairs * cfg.max_attempts_per_pair):
        if len(pairs) == n_pairs:
            break
        tree = sample_sentence(rng, cfg)
        english = render_english(tree)
        if cfg.unique and english in seen:
            continue
        seen.add(english)
        pairs.append((english, render_spanish(tree)))
    if len(pairs) < n_pairs:
        raise ValueError(
            f"n_pairs={n_pairs} distinct sentences are more than this config generates: found {len(pairs)} "
            f"in {n_pairs * cfg.max_attempts_per_pair} draws; lower n_pairs, raise the p_* probabilities, "
            "or set config.unique=False"
        )
    return pairs
