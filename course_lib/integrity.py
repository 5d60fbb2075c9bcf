"""What grading verifies is genuine: a snapshot of torch's comparison functions, the builtins,
the nn modules' methods and course_lib's reference guard, taken when this module is imported
(course_lib.grading imports it before any student code runs), and :func:`check_genuine`, which
compares against it. :func:`seal` makes a module's names read-only (grading's and this one's).
See course_lib.grading's docstring for what this stops and what it does not."""

from __future__ import annotations

import builtins
import inspect
import math
import sys
import types
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

_GENUINE = {
    "allclose": torch.allclose,
    "isclose": torch.isclose,
    "isnan": torch.isnan,
    "equal": torch.equal,
    "abs": torch.abs,
    "max": torch.max,
}


def check_genuine() -> None:
    """Refuse to grade if what the tests compare with was replaced (monkeypatched).

    Checks torch's comparison functions against torch's read-only C table, torch's other built-in
    functions, every public function of torch.nn.functional and math, the methods of Tensor and of
    the nn modules, the builtins, course_lib's reference guard, and that no torch function or
    dispatch mode is active. Cheap (about 0.3 ms): run_student and assert_close call it every time.
    """
    for name, fn in _GENUINE.items():
        if (
            getattr(torch, name) is not fn
            or fn is not getattr(torch._C._VariableFunctions, name, fn)
            or type(fn).__name__ != "builtin_function_or_method"
        ):
            raise AssertionError(f"torch.{name} has been replaced; grading needs the genuine function")
    for owner, label, entries, closed in _SNAPSHOT:
        current = vars(owner)
        for name, value in entries.items():
            if current.get(name, _MISSING) is not value:
                raise AssertionError(f"{label}.{name} has been replaced; grading needs the genuine one")
        if closed and len(current) != len(entries):
            added = sorted(n for n in current if n not in entries and n not in _LAZILY_PATCHED and callable(current[n]))
            if added:
                raise AssertionError(f"{label}.{added[0]} has been added; grading needs the genuine class")
    if torch._C._len_torch_function_stack() or torch._C._len_torch_dispatch_stack():
        raise AssertionError("a torch function or dispatch mode is active outside the tests; grading needs plain torch")
    _check_reference_guard()


_MISSING = object()
_LAZILY_PATCHED = {"__init__", "__setstate__"}  # torch._dynamo wraps Module's when it starts tracing
_BUILTIN_EXCLUDED = {"input", "raw_input", "help", "breakpoint", "open", "print"}  # IPython/ipykernel swap these


def _public_callables(namespace: dict) -> dict[str, Any]:
    return {k: v for k, v in namespace.items() if not k.startswith("_") and callable(v)}


def _take_snapshot() -> tuple:
    """(owner, label, {name: genuine object}, closed) for everything check_genuine verifies."""
    from torch import nn

    table = torch._C._VariableFunctions  # read-only: torch's own builtins, never rewrapped at runtime
    snapshot = [
        (
            torch,
            "torch",
            {k: v for k, v in _public_callables(vars(torch)).items() if getattr(table, k, None) is v},
            False,
        ),
        (F, "torch.nn.functional", _public_callables(vars(F)), False),
        (math, "math", _public_callables(vars(math)), False),
        (
            builtins,
            "builtins",
            {
                k: v
                for k, v in vars(builtins).items()
                if k not in _BUILTIN_EXCLUDED and isinstance(v, (types.BuiltinFunctionType, type))
            },
            False,
        ),
    ]
    classes = [Tensor] + [c for c in vars(nn).values() if inspect.isclass(c) and issubclass(c, nn.Module)]
    for cls in classes:
        entries = {
            k: v
            for k, v in vars(cls).items()
            if k not in _LAZILY_PATCHED and (callable(v) or isinstance(v, (property, staticmethod, classmethod)))
        }
        snapshot.append((cls, f"{cls.__module__}.{cls.__qualname__}", entries, True))
    return tuple(snapshot)


def _check_reference_guard() -> None:
    """course_lib's references must still be the guarded ones, and the guard's state its own."""
    from . import reference

    if any(getattr(reference, attribute) is not genuine for attribute, genuine in _GUARD.items()):
        raise AssertionError("course_lib.reference has been tampered with; grading needs the genuine guard")
    for key, guarded in reference.REGISTRY.items():
        module, name = key.rsplit(".", 1)
        owner = sys.modules.get(f"course_lib.{module}")
        if owner is not None and getattr(owner, name, guarded) is not guarded:
            raise AssertionError(f"course_lib.{key} has been replaced; grading needs the genuine reference")


def seal(module: types.ModuleType) -> None:
    """Make the module's names read-only: assignments raise, and lookups of a name whose entry
    in ``vars(module)`` was replaced anyway put the original back first."""
    originals = types.MappingProxyType({k: v for k, v in vars(module).items() if not k.startswith("__")})

    class SealedModule(types.ModuleType):
        __slots__ = ()

        def __getattribute__(self, name):
            namespace = object.__getattribute__(self, "__dict__")
            for key, value in originals.items():
                if namespace.get(key, _MISSING) is not value:
                    namespace[key] = value
            return object.__getattribute__(self, name)

        def __setattr__(self, name, value):
            if name in originals:
                raise AttributeError(f"{module.__name__}.{name} cannot be replaced (grading needs the genuine one)")
            object.__setattr__(self, name, value)

        def __delattr__(self, name):
            if name in originals:
                raise AttributeError(f"{module.__name__}.{name} cannot be deleted")
            object.__delattr__(self, name)

    module.__class__ = SealedModule


def _guard_snapshot() -> dict[str, Any]:
    from . import reference

    return {
        name: getattr(reference, name)
        for name in (
            "references_blocked",
            "_blocked",
            "_writing",
            "REGISTRY",
            "_inside_allowed_reference",
            "_run_allowed",
            "_allowed_class_method",
            "_TRANSPARENT",
        )
    }


_SNAPSHOT = _take_snapshot()
_GUARD = types.MappingProxyType(_guard_snapshot())
_GENUINE = types.MappingProxyType(_GENUINE)
seal(sys.modules[__name__])
