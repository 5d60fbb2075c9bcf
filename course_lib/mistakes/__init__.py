"""The catalogue of common mistakes: one module per chapter (``chNN_slug.py``).

Each :class:`Mistake` is a working wrong implementation of an exercise, with an explanation a
student understands and a hint how to fix it. Three users read the same catalogue:

- the test suite (``tests/test_mutants.py``) proves every graded test cell catches each mistake;
- the grading helpers (``course_lib.grading``) replay the mistakes on the inputs of a failed
  comparison and, when the student's answer matches one of them, name it in the message;
- the instructor's class report counts which mistakes a class made (``instructor/report.py``).

A chapter module registers its mistakes like this::

    catalogue = Catalogue("03_attention")

    @catalogue.mistake("softmax-over-queries", cell="test_scaled_dot_product_attention",
                       replaces="scaled_dot_product_attention",
                       explanation="Your softmax runs over the queries (dim=-2) ...",
                       hint="Use torch.softmax(scores, dim=-1).")
    def sdpa_softmax_over_queries(q, k, v, mask=None):
        ...
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

# How feedback names a mistake, for the student and for the class report: written by
# course_lib.diagnosis (through Mistake.tag), read back through named_in (instructor/report.py).
TAG = "[mistake {key}]"
_NAMED = re.compile(re.escape(TAG).replace(re.escape("{key}"), r"([\w.-]+:[\w.-]+)"))


def named_in(text: str) -> list[str]:
    """The mistake keys (``chapter:id``) a message names, in order, each once."""
    return list(dict.fromkeys(_NAMED.findall(text)))


@dataclass(frozen=True)
class Mistake:
    """One common mistake of one exercise."""

    id: str  # short kebab-case name, unique within its chapter: "softmax-over-queries"
    chapter: str  # "03_attention"
    cell: str  # grade_id of the graded test cell that must catch it
    replaces: str  # the student's function or class this wrong version stands in for
    explanation: str  # one sentence a student understands: what the code does wrong
    hint: str  # how to fix it
    impl: Callable  # the wrong implementation, same signature as the exercise
    named: bool = True  # False only where no replay can tell it apart (the test suite checks the others are named)

    @property
    def key(self) -> str:
        """Globally unique name, ``chapter:id``."""
        return f"{self.chapter}:{self.id}"

    @property
    def tag(self) -> str:
        """How feedback names this mistake: ``[mistake chapter:id]`` (see ``named_in``)."""
        return TAG.format(key=self.key)


class Catalogue:
    """The mistakes of one chapter, in registration order."""

    def __init__(self, chapter: str):
        self.chapter = chapter
        self.mistakes: list[Mistake] = []

    def mistake(
        self, id: str, *, cell: str, replaces: str, explanation: str, hint: str, named: bool = True
    ) -> Callable:
        """Decorator: register the decorated function (or class) as a wrong implementation.

        ``named=False`` marks a mistake the feedback cannot name (say why in a comment).
        """
        if any(m.id == id for m in self.mistakes):
            raise ValueError(f"mistake id {id!r} is registered twice in chapter {self.chapter}")

        def register(impl: Callable) -> Callable:
            self.mistakes.append(Mistake(id, self.chapter, cell, replaces, explanation, hint, impl, named))
            return impl

        return register


@lru_cache(maxsize=None)
def _catalogues() -> tuple[Catalogue, ...]:
    found = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("ch"):
            module = importlib.import_module(f"{__name__}.{info.name}")
            found.append(module.catalogue)
    return tuple(found)


def all_mistakes() -> tuple[Mistake, ...]:
    """Every registered mistake of every chapter."""
    return tuple(m for c in _catalogues() for m in c.mistakes)


def for_chapter(chapter: str) -> tuple[Mistake, ...]:
    """The mistakes of one chapter ("03_attention"), in registration order."""
    return tuple(m for m in all_mistakes() if m.chapter == chapter)


def replacing(name: str) -> tuple[Mistake, ...]:
    """The mistakes that stand in for the student's function or class called ``name``."""
    return tuple(m for m in all_mistakes() if m.replaces == name)


def by_key(key: str) -> Mistake:
    """The mistake called ``chapter:id``."""
    for m in all_mistakes():
        if m.key == key:
            return m
    raise KeyError(f"no mistake {key!r}; known: {[m.key for m in all_mistakes()]}")


def as_student_code(mistake: Mistake) -> Callable:
    """The mistake under the name a student gives it (``replaces``), as if they had written it."""
    impl = mistake.impl
    if isinstance(impl, type):
        return type(mistake.replaces, (impl,), {"__module__": "__main__"})

    def student(*args, **kwargs):
        return impl(*args, **kwargs)

    student.__name__ = student.__qualname__ = mistake.replaces
    return student


def submission_source(mistake: Mistake) -> str:
    """Notebook code that defines the student's function or class as this mistake (for grading tests)."""
    get = f"__import__('course_lib.mistakes', fromlist=['by_key']).by_key({mistake.key!r}).impl"
    if isinstance(mistake.impl, type):
        return f"class {mistake.replaces}({get}):\n    pass\n"
    return f"def {mistake.replaces}(*args, **kwargs):\n    return {get}(*args, **kwargs)\n"
