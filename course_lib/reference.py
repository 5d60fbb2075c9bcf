"""Marks course_lib's reference implementations so that grading can lock them away.

A student could pass an exercise by calling ``course_lib.attention.scaled_dot_product_attention``
instead of writing it. Every function a student re-implements is decorated with
:func:`reference`; while :func:`references_blocked` is active (the hidden tests run the
student's function inside it), calling one raises :class:`ReferenceUsedError`.
"""
from __future__ import annotations

import contextlib
from typing import Callable, Iterable, Iterator, TypeVar

F = TypeVar("F", bound=Callable)

REGISTRY: dict[str, Callable] = {}
_blocked: set[str] = set()


class ReferenceUsedError(RuntimeError):
    """Raised when a student's function calls the course's own reference implementation."""


def reference(fn: F) -> F:
    """Register ``fn`` as the reference solution of an exercise (a decorator)."""
    name = f"{fn.__module__.removeprefix('course_lib.')}.{fn.__qualname__}"

    def guarded(*args, **kwargs):
        if name in _blocked:
            raise ReferenceUsedError(
                f"course_lib's reference {name}() was called while your function ran. "
                "Write the computation yourself; the course's version is not allowed here."
            )
        return fn(*args, **kwargs)

    guarded.__name__, guarded.__qualname__ = fn.__name__, fn.__qualname__
    guarded.__doc__, guarded.__module__ = fn.__doc__, fn.__module__
    guarded.__annotations__ = fn.__annotations__
    REGISTRY[name] = guarded
    return guarded  # type: ignore[return-value]


@contextlib.contextmanager
def references_blocked(allow: Iterable[str] = ()) -> Iterator[None]:
    """Make every registered reference raise inside the block, except the names in ``allow``.

    Names are ``module.function`` relative to course_lib, e.g. ``"attention.causal_mask"``.
    """
    allowed = set(allow)
    unknown = allowed - REGISTRY.keys()
    if unknown:
        raise KeyError(f"allow names unknown references {sorted(unknown)}; known: {sorted(REGISTRY)}")
    previous = set(_blocked)
    _blocked.update(REGISTRY.keys() - allowed)
    try:
        yield
    finally:
        _blocked.clear()
        _blocked.update(previous)
