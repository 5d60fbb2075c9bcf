"""The words of the course's toy English→Spanish language, with what Spanish needs to know.

Each Spanish noun carries a grammatical gender ("m" or "f") that the determiner and the
adjective must copy: *el jaguar negro*, *la rama negra*. Gender is a property of the word,
not of its ending: *la flor*, *la mujer*, *el puente*. Nouns are also animate or not,
because Spanish marks an animate direct object with the preposition *a*
(*ve al pájaro*, but *ve el árbol*).

The English side keeps the information Spanish drops: "its", "his" and "her" all become
*su*, so the possessor can only be recovered from context — the seed sentence's question.
"""

from __future__ import annotations

from dataclasses import dataclass

MASCULINE = "m"
FEMININE = "f"


@dataclass(frozen=True)
class Noun:
    """A noun in both languages. gender is the Spanish gender, "m" or "f"."""

    en: str
    es: str
    gender: str
    animate: bool
    en_possessive: str = "its"  # the English possessive that refers back to this noun


@dataclass(frozen=True)
class Adjective:
    """An adjective; es_m == es_f for the invariant ones (grande, verde, joven)."""

    en: str
    es_m: str
    es_f: str

    def es(self, gender: str) -> str:
        """The Spanish form that agrees with a noun of this gender."""
        return self.es_f if gender == FEMININE else self.es_m


@dataclass(frozen=True)
class Verb:
    """A verb in the present and the past; English simple past → Spanish imperfect."""

    en_present: str
    en_past: str
    es_present: str
    es_imperfect: str
    transitive: bool


@dataclass(frozen=True)
class Preposition:
    """A locative or instrumental preposition; es may be two words (debajo de)."""

    en: str
    es: tuple[str, ...]
    locative: bool = True  # False for "with", which also takes animate companions


@dataclass(frozen=True)
class Lexicon:
    """Every word the grammar may use, grouped by part of speech."""

    nouns: tuple[Noun, ...]
    adjectives: tuple[Adjective, ...]
    verbs: tuple[Verb, ...]
    prepositions: tuple[Preposition, ...]

    def noun_gender(self, es_noun: str) -> str:
        """Gender ("m" or "f") of a Spanish noun; KeyError names unknown nouns."""
        for noun in self.nouns:
            if noun.es == es_noun:
                return noun.gender
        raise KeyError(f"es_noun must be a Spanish noun of the lexicon; got {es_noun!r}")


_NOUNS = (
    # animate: subjects, and objects that take the personal "a"
    Noun("jaguar", "jaguar", MASCULINE, True),
    Noun("cat", "gato", MASCULINE, True),
    Noun("dog", "perro", MASCULINE, True),
    Noun("bird", "pájaro", MASCULINE, True),
    Noun("monkey", "mono", MASCULINE, True),
    Noun("snake", "serpiente", FEMININE, True),
    Noun("frog", "rana", FEMININE, True),
    Noun("turtle", "tortuga", FEMININE, True),
    Noun("boy", "niño", MASCULINE, True, "his"),
    Noun("man", "hombre", MASCULINE, True, "his"),
    Noun("girl", "niña", FEMININE, True, "her"),
    Noun("woman", "mujer", FEMININE, True, "her"),
    # inanimate: places, parts and things
    Noun("tree", "árbol", MASCULINE, False),
    Noun("river", "río", MASCULINE, False),
    Noun("nest", "nido", MASCULINE, False),
    Noun("bridge", "puente", MASCULINE, False),
    Noun("branch", "rama", FEMININE, False),
    Noun("house", "casa", FEMININE, False),
    Noun("tail", "cola", FEMININE, False),
    Noun("stone", "piedra", FEMININE, False),
    Noun("flower", "flor", FEMININE, False),
    Noun("leaf", "hoja", FEMININE, False),
)

_ADJECTIVES = (
    Adjective("black", "negro", "negra"),
    Adjective("white", "blanco", "blanca"),
    Adjective("red", "rojo", "roja"),
    Adjective("small", "pequeño", "pequeña"),
    Adjective("tall", "alto", "alta"),
    Adjective("old", "viejo", "vieja"),
    Adjective("big", "grande", "grande"),
    Adjective("green", "verde", "verde"),
    Adjective("young", "joven", "joven"),
)

_VERBS = (
    Verb("sleeps", "slept", "duerme", "dormía", transitive=False),
    Verb("runs", "ran", "corre", "corría", transitive=False),
    Verb("sings", "sang", "canta", "cantaba", transitive=False),
    Verb("jumps", "jumped", "salta", "saltaba", transitive=False),
    Verb("waits", "waited", "espera", "esperaba", transitive=False),
    Verb("swims", "swam", "nada", "nadaba", transitive=False),
    Verb("sees", "saw", "ve", "veía", transitive=True),
    Verb("eats", "ate", "come", "comía", transitive=True),
    Verb("watches", "watched", "mira", "miraba", transitive=True),
    Verb("follows", "followed", "sigue", "seguía", transitive=True),
    Verb("finds", "found", "encuentra", "encontraba", transitive=True),
    Verb("carries", "carried", "lleva", "llevaba", transitive=True),
    Verb("hears", "heard", "oye", "oía", transitive=True),
)

_PREPOSITIONS = (
    Preposition("on", ("en",)),
    Preposition("in", ("en",)),
    Preposition("under", ("debajo", "de")),
    Preposition("near", ("cerca", "de")),
    Preposition("behind", ("detrás", "de")),
    Preposition("with", ("con",), locative=False),
)

LEXICON = Lexicon(nouns=_NOUNS, adjectives=_ADJECTIVES, verbs=_VERBS, prepositions=_PREPOSITIONS)
