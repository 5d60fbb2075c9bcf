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
before any student code) it takes (through course_lib.integrity) a snapshot of the genuine
objects; :func:`check_genuine`, which :func:`run_student` and :func:`assert_close` call, compares
against it, and the module's own names cannot be rebound. This stops monkeypatching, not a
student who rewrites ``sys.modules`` or memory through ``ctypes``: the autograder lists such code for review.
"""

from __future__ import annotations

import contextlib
import math
import re
import sys
from typing import Any, Callable, Iterable, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.overrides import TorchFunctionMode

from . import diagnosis, integrity
from .integrity import check_genuine, seal  # noqa: F401 (check_genuine: part of grading's API)
from .reference import ReferenceUsedError, references_blocked
from .reference import names_of as reference_names

# torch functions that would do an attention exercise for the student.
TORCH_ATTENTION = (F.scaled_dot_product_attention, F.multi_head_attention_forward)


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
    integrity.check_genuine()  # an attribute lookup: the sealed module restores its own names first
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
    integrity.check_genuine()
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
    integrity.check_genuine()
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


def randn(*shape: int, seed: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """A reproducible standard-normal tensor for tests (its own generator: no global state)."""
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


seal(sys.modules[__name__])
