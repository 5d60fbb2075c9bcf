"""Marks course_lib's reference implementations so that grading can lock them away.

A student could pass an exercise by calling ``course_lib.attention.scaled_dot_product_attention``
instead of writing it. Every function a student re-implements is decorated with
:func:`reference`; while :func:`references_blocked` is active (the hidden tests run the
student's function inside it), calling one from the student's code raises
:class:`ReferenceUsedError`.

A reference the test allows (``allow``) may itself call other references: chapter 4's
``MultiHeadAttention`` uses chapter 3's attention and its own ``split_heads``. Inside an allowed
reference the lock is lifted for calls that reach a reference through course_lib (and torch)
code only. The lift stops at the student's code: a student callable that the allowed reference
calls back (a module passed in, a model being trained) runs locked again. The references the
student is writing (``writing``) stay locked even inside an allowed reference.
"""

from __future__ import annotations

import contextlib
import importlib
import pkgutil
import sys
from types import FrameType
from typing import Callable, Iterable, Iterator, Optional, TypeVar

F = TypeVar("F", bound=Callable)

REGISTRY: dict[str, Callable] = {}
_blocked: set[str] = set()  # locked while a test runs the student's code
_writing: set[str] = set()  # locked even inside an allowed reference

# Frames of these modules neither stop nor start a lift: course_lib's own code, torch (nn.Module
# calls) and the standard-library wrappers between them.
_TRANSPARENT = ("course_lib.", "torch.", "functools", "contextlib")


class ReferenceUsedError(RuntimeError):
    """Raised when a student's function calls the course's own reference implementation."""


def reference(fn: F) -> F:
    """Register ``fn`` as the reference solution of an exercise (a decorator)."""
    name = f"{fn.__module__.removeprefix('course_lib.')}.{fn.__qualname__}"

    def guarded(*args, **kwargs):
        if not _blocked:  # nothing locked: an ordinary call
            return fn(*args, **kwargs)
        if name in _blocked and (name in _writing or not _inside_allowed_reference(sys._getframe(1))):
            raise ReferenceUsedError(
                f"course_lib's reference {name}() was called while your function ran. "
                "Write the computation yourself; the course's version is not allowed here."
            )
        return _run_allowed(fn, args, kwargs)

    guarded.__name__, guarded.__qualname__ = fn.__name__, fn.__qualname__
    guarded.__doc__, guarded.__module__ = fn.__doc__, fn.__module__
    guarded.__annotations__ = fn.__annotations__
    REGISTRY[name] = guarded
    return guarded  # type: ignore[return-value]


def _run_allowed(fn: Callable, args: tuple, kwargs: dict):
    """Run an allowed reference; its frame marks where a lift starts (see the module docstring)."""
    return fn(*args, **kwargs)


def _inside_allowed_reference(frame: Optional[FrameType]) -> bool:
    """True if, walking out from ``frame``, an allowed reference (or any method of a class whose
    reference method is allowed, its constructor included) is reached through course_lib and torch
    frames only; any other frame (the student's code) in between ends the lift."""
    while frame is not None:
        if frame.f_code is _run_allowed.__code__:
            return True
        module = frame.f_globals.get("__name__", "")
        if not module.startswith(_TRANSPARENT):
            return False
        if module.startswith("course_lib.") and _allowed_class_method(module, frame):
            return True
        frame = frame.f_back
    return False


def _allowed_class_method(module: str, frame: FrameType) -> bool:
    """Whether ``frame`` runs a method of a course_lib class that has an allowed reference method."""
    qualname = getattr(frame.f_code, "co_qualname", None)  # Python ≥ 3.11
    if qualname is None:  # Python 3.10: the class of ``self``, if course_lib defines it here
        owner = type(frame.f_locals.get("self", None))
        qualname = f"{owner.__qualname__}.{frame.f_code.co_name}" if owner.__module__ == module else ""
    if "." not in qualname:
        return False
    prefix = f"{module.removeprefix('course_lib.')}.{qualname.rsplit('.', 1)[0]}."
    return any(key.startswith(prefix) and key not in _blocked for key in REGISTRY)


@contextlib.contextmanager
def references_blocked(allow: Iterable[str] = (), writing: Iterable[str] = ()) -> Iterator[None]:
    """Make every registered reference raise inside the block, except the names in ``allow``.

    Names are ``module.function`` relative to course_lib, e.g. ``"attention.causal_mask"``.
    ``writing``: the references the student's code replaces; an allowed reference may not call
    them either (unknown names are ignored: they name the student's own helpers).
    """
    allowed = set(allow)
    unknown = allowed - REGISTRY.keys()
    if unknown:
        raise KeyError(f"allow names unknown references {sorted(unknown)}; known: {sorted(REGISTRY)}")
    previous, previous_writing = set(_blocked), set(_writing)
    _blocked.update(REGISTRY.keys() - allowed)
    _writing.update(set(writing) & REGISTRY.keys() - allowed)
    try:
        yield
    finally:
        _blocked.clear()
        _blocked.update(previous)
        _writing.clear()
        _writing.update(previous_writing)


def load_all() -> dict[str, Callable]:
    """Import every course_lib module so that every @reference is registered; returns REGISTRY."""
    import course_lib

    for module in pkgutil.iter_modules(course_lib.__path__):
        importlib.import_module(f"course_lib.{module.name}")
    return REGISTRY


def names() -> set[str]:
    """The names a student's exercise may define for a reference: functions and classes
    (``"split_heads"``, ``"MultiHeadAttention"`` for ``MultiHeadAttention.forward``)."""
    return {key.split(".")[1] for key in load_all()}


def owner(name: str) -> str:
    """The course_lib module (e.g. ``"multihead"``) that holds the reference function or class
    ``name`` (e.g. ``"split_heads"`` or ``"MultiHeadAttention"``)."""
    owners = {key.split(".")[1]: key.split(".")[0] for key in load_all()}
    if name not in owners:
        raise KeyError(f"no course_lib reference is called {name!r}; known: {sorted(owners)}")
    return owners[name]


def names_of(objects: Iterable[object]) -> set[str]:
    """The registered references that ``objects`` (a student's functions and classes) stand for,
    matched by name: a function ``split_heads`` → ``multihead.split_heads``, a class
    ``MultiHeadAttention`` → ``multihead.MultiHeadAttention.forward``."""
    named = {getattr(obj, "__name__", None) for obj in objects if callable(obj)}
    return {key for key in REGISTRY if key.split(".")[1] in named}
