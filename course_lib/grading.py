"""Helpers the notebooks' test cells call: comparisons with actionable messages, the
anti-copy guard, the meta-device check and an integrity check of the comparison tools.

A hidden test typically reads (visible tests too, so that a student sees the diagnosis)::

    got = grading.run_student(scaled_dot_product_attention, q, k, v, forbid=grading.TORCH_ATTENTION)
    grading.assert_close(got, F.scaled_dot_product_attention(q, k, v), "scaled_dot_product_attention(q, k, v)")

Diagnosis: :func:`run_student` records each call; when :func:`assert_close` fails, the course's
catalogue of common mistakes (course_lib.mistakes) is replayed on the same inputs and the message
names the mistake the student's answer matches, with its hint (see course_lib.diagnosis).

Integrity: student code runs in the same interpreter as the hidden tests, so it could replace
what they compare with (``torch.allclose = lambda *a, **k: True``, ``F.scaled_dot_product_attention``,
``builtins.abs``, a ``TorchFunctionMode`` left switched on) or the helpers themselves
(``grading.assert_close = ...``). When this module is imported (the grading kernel imports it
before any student code) it takes a snapshot of the genuine objects; :func:`check_genuine`, which
:func:`run_student` and :func:`assert_close` call, compares against it, and the module's own names
cannot be rebound. This stops monkeypatching, not a student who rewrites ``sys.modules`` or
memory through ``ctypes``: the autograder lists such code for review.
"""

from __future__ import annotations

import builtins
import contextlib
import inspect
import math
import re
import sys
import types
from typing import Any, Callable, Iterable, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.overrides import TorchFunctionMode

from . import diagnosis
from .reference import ReferenceUsedError, references_blocked
from .reference import names_of as reference_names

# torch functions that would do an attention exercise for the student.
TORCH_ATTENTION = (F.scaled_dot_product_attention, F.multi_head_attention_forward)

_GENUINE = {
    "allclose": torch.allclose,
    "isclose": torch.isclose,
    "isnan": torch.isnan,
    "equal": torch.equal,
    "abs": torch.abs,
    "max": torch.max,
}


class ForbiddenFunctionError(RuntimeError):
    """Raised when a student's function calls a torch function the exercise asks them to write."""


class _Forbid(TorchFunctionMode):
    def __init__(self, forbidden: Iterable[Callable]):
        super().__init__()
        self.forbidden = tuple(forbidden)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if any(func is f for f in self.forbidden):
            name = getattr(func, "__name__", repr(func))
            raise ForbiddenFunctionError(
                f"your function called torch's {name}(); this exercise asks you to compute it yourself"
            )
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def student_code(
    forbid: Sequence[Callable] = (), allow_refs: Iterable[str] = (), writing: Iterable[str] = ()
) -> Iterator[None]:
    """Run student code with course_lib's references locked and ``forbid``den torch functions trapped.
    ``writing``: the references the student's code replaces (locked even inside allowed ones)."""
    with references_blocked(allow=allow_refs, writing=writing), _Forbid(forbid):
        yield


def run_student(
    fn: Callable, *args: Any, forbid: Sequence[Callable] = (), allow_refs: Iterable[str] = (), **kwargs: Any
) -> Any:
    """Call ``fn(*args, **kwargs)`` inside :func:`student_code` and return its result.

    The comparison tools are checked before and after (see :func:`check_genuine`).
    """
    check_genuine()
    call = diagnosis.record(fn, args, kwargs, forbid, allow_refs)
    _LAST_CALL[0] = call
    try:
        with student_code(forbid, allow_refs, reference_names((fn, *args, *kwargs.values()))):
            result = fn(*args, **kwargs)
    except (ReferenceUsedError, ForbiddenFunctionError, NotImplementedError):
        raise
    except Exception as err:
        named = diagnosis.diagnose_error(call, err, student_code)
        if named is None:
            raise
        raise AssertionError(
            f"{_name_of(fn)} raised {type(err).__name__}: {_short(str(err))}. {diagnosis.describe(named)}"
        ) from None
    check_genuine()
    return result


_LAST_CALL: list = [None]  # the latest run_student call, for the diagnosis of a failed comparison


@contextlib.contextmanager
def using(namespace: dict, **replacements: Any) -> Iterator[None]:
    """Swap names in ``namespace`` (a notebook's ``globals()``) inside a block, then put back the
    originals — those names only; the block's other assignments stay. A graded cell uses it to
    run a later exercise on course_lib's versions of the earlier ones, so a slip costs once."""
    saved = {name: namespace[name] for name in replacements if name in namespace}
    namespace.update(replacements)
    try:
        yield
    finally:
        for name in replacements:
            if name in saved:
                namespace[name] = saved[name]
            else:
                namespace.pop(name, None)


def _name_of(fn: Callable) -> str:
    return getattr(fn, "__name__", type(fn).__name__)


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[:limit] + " …"


def check(condition: Any, message: str, mistake: str | None = None) -> None:
    """``assert condition, message``, naming the catalogue mistake ``chapter:id`` when it fails.

    For checks whose failure has one known cause (e.g. two calls with the same generator differ:
    the generator is ignored) and that no replay can reproduce.
    """
    if not condition:
        raise AssertionError(f"{diagnosis.describe(diagnosis.by_key(mistake))} {message}" if mistake else message)


def _fmt(shape: Iterable[int]) -> str:
    return str(tuple(shape))


def assert_shape(actual: Any, expected: Sequence[int], what: str, hint: str = "") -> None:
    """Fail with 'expected shape ... got ...' unless ``actual`` is a tensor of shape ``expected``."""
    if not isinstance(actual, Tensor):
        raise AssertionError(f"{what} should return a torch.Tensor; got {type(actual).__name__}")
    if tuple(actual.shape) != tuple(expected):
        msg = f"{what}: expected shape {_fmt(expected)}, got {_fmt(actual.shape)}"
        raise AssertionError(f"{msg}. {hint}" if hint else msg)


def assert_close(
    actual: Any, expected: Tensor | float, what: str, atol: float = 1e-5, rtol: float = 1e-4, hint: str = ""
) -> None:
    """Compare with the oracle and explain the first difference a student should look at.

    When they differ, the latest :func:`run_student` call is replayed with the catalogue's common
    mistakes; if the student's answer matches one, the message names it first.
    """
    check_genuine()
    problem = _difference(actual, expected, what, atol, rtol, hint)
    if problem is None:
        return
    named = diagnosis.diagnose(_LAST_CALL[0], actual, expected, atol, rtol, student_code)
    raise AssertionError(f"{diagnosis.describe(named)} Details: {problem}" if named else problem)


def _difference(actual: Any, expected: Tensor | float, what: str, atol: float, rtol: float, hint: str) -> str | None:
    """None if ``actual`` matches ``expected``, else the message that says how it differs."""
    if not isinstance(expected, Tensor):
        if isinstance(actual, bool) or not isinstance(actual, (int, float)):
            return f"{what} should return a Python number; got {type(actual).__name__}"
        if not math.isclose(actual, expected, abs_tol=atol, rel_tol=rtol):
            return (
                f"{what}: got {actual:.6g}, expected {expected:.6g} (tolerance {atol:g} + {rtol:g}·|expected|). {hint}"
            )
        return None
    if isinstance(actual, Tensor) and type(actual) is not Tensor:
        return f"{what} should return a plain torch.Tensor; got the subclass {type(actual).__name__}"
    try:
        assert_shape(actual, expected.shape, what, hint)
    except AssertionError as err:
        return str(err)
    if actual.dtype != expected.dtype:
        return f"{what}: expected dtype {expected.dtype}, got {actual.dtype}"
    actual, expected = actual.detach().cpu(), expected.detach().cpu()
    if torch.isnan(actual).any() and not torch.isnan(expected).any():
        return (
            f"{what} contains NaN where the correct answer has none. "
            "Is a whole row masked before the softmax, or is something divided by 0?"
        )
    if actual.dtype == torch.bool:
        bad = actual != expected
        if bad.any():
            idx = tuple(int(i) for i in bad.nonzero()[0])
            return (
                f"{what}: {int(bad.sum())} of {bad.numel()} entries differ, first at "
                f"index {idx}: got {bool(actual[idx])}, expected {bool(expected[idx])}. {hint}"
            )
        return None
    close = torch.isclose(actual, expected, atol=atol, rtol=rtol, equal_nan=True)
    if not close.all():
        idx = tuple(int(i) for i in (~close).nonzero()[0])
        diff = (actual - expected).abs().nan_to_num(float("inf")).max().item()
        return (
            f"{what}: values differ (max |difference| {diff:.3g}, tolerance {atol:g} + {rtol:g}·|expected|); "
            f"first at index {idx}: got {actual[idx].item():.6g}, expected {expected[idx].item():.6g}. {hint}"
        )
    return None


def check_meta_device(
    fn: Callable,
    *args: Any,
    expected_shape: Sequence[int],
    what: str,
    forbid: Sequence[Callable] = (),
    mistake: str | None = None,
    **kwargs: Any,
) -> None:
    """Run ``fn`` on tensors on the 'meta' device and check the result stays there.

    A function that builds a tensor without ``device=`` puts it on the CPU; mixed with
    meta inputs that fails here just as it would fail on a GPU. Code that reads values
    (``.tolist()``, ``.item()``) cannot run on meta tensors: then the check gives no verdict.
    ``mistake`` (``chapter:id``)
    is the catalogue mistake to name when the result is not on the inputs' device.
    """
    meta_args = [a.to("meta") if isinstance(a, Tensor) else a for a in args]
    try:
        out = run_student(fn, *meta_args, forbid=forbid, **kwargs)
    except (ReferenceUsedError, ForbiddenFunctionError):
        raise
    except Exception as err:
        if _DATA_DEPENDENT.search(str(err)):
            return  # the function reads values (.tolist(), .item()): meta tensors have none, so no verdict
        check(
            False,
            f"{what} failed when its inputs were on another device ({type(err).__name__}: {_short(str(err))}). "
            "Create new tensors on the inputs' device, e.g. torch.ones(..., device=x.device).",
            mistake,
        )
    assert_shape(out, expected_shape, what)
    check(
        out.device.type == "meta",
        f"{what} returned a tensor on {out.device} for inputs on another device; "
        "pass device=... when you create tensors",
        mistake,
    )


# Errors that mean "this code reads tensor values", which meta tensors do not have: not a device bug.
_DATA_DEPENDENT = re.compile(r"Cannot copy out of meta tensor|cannot be called on meta tensors")


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


def randn(*shape: int, seed: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """A reproducible standard-normal tensor for tests (its own generator: no global state)."""
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _seal(module: types.ModuleType) -> None:
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
                raise AttributeError(f"course_lib.grading.{name} cannot be replaced (grading needs the genuine one)")
            object.__setattr__(self, name, value)

        def __delattr__(self, name):
            if name in originals:
                raise AttributeError(f"course_lib.grading.{name} cannot be deleted")
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
_seal(sys.modules[__name__])
