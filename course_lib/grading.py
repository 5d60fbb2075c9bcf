"""Helpers the notebooks' test cells call: comparisons with actionable messages, the
anti-copy guard, the meta-device check and an integrity check of the comparison tools.

A hidden test typically reads::

    got = grading.run_student(scaled_dot_product_attention, q, k, v, forbid=grading.TORCH_ATTENTION)
    grading.assert_close(got, F.scaled_dot_product_attention(q, k, v), "scaled_dot_product_attention(q, k, v)")
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterable, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.overrides import TorchFunctionMode

from .reference import ReferenceUsedError, references_blocked

# torch functions that would do an attention exercise for the student.
TORCH_ATTENTION = (F.scaled_dot_product_attention, F.multi_head_attention_forward)

_GENUINE = {"allclose": torch.allclose, "isclose": torch.isclose, "isnan": torch.isnan,
            "equal": torch.equal, "abs": torch.abs, "max": torch.max}


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
def student_code(forbid: Sequence[Callable] = (), allow_refs: Iterable[str] = ()) -> Iterator[None]:
    """Run student code with course_lib's references locked and ``forbid``den torch functions trapped."""
    with references_blocked(allow=allow_refs), _Forbid(forbid):
        yield


def run_student(fn: Callable, *args: Any, forbid: Sequence[Callable] = (),
                allow_refs: Iterable[str] = (), **kwargs: Any) -> Any:
    """Call ``fn(*args, **kwargs)`` inside :func:`student_code` and return its result."""
    with student_code(forbid, allow_refs):
        return fn(*args, **kwargs)


def _fmt(shape: Iterable[int]) -> str:
    return str(tuple(shape))


def assert_shape(actual: Any, expected: Sequence[int], what: str, hint: str = "") -> None:
    """Fail with 'expected shape ... got ...' unless ``actual`` is a tensor of shape ``expected``."""
    if not isinstance(actual, Tensor):
        raise AssertionError(f"{what} should return a torch.Tensor; got {type(actual).__name__}")
    if tuple(actual.shape) != tuple(expected):
        msg = f"{what}: expected shape {_fmt(expected)}, got {_fmt(actual.shape)}"
        raise AssertionError(f"{msg}. {hint}" if hint else msg)


def assert_close(actual: Any, expected: Tensor, what: str, atol: float = 1e-5, rtol: float = 1e-4,
                 hint: str = "") -> None:
    """Compare with the oracle and explain the first difference a student should look at."""
    check_genuine()
    assert_shape(actual, expected.shape, what, hint)
    if actual.dtype != expected.dtype:
        raise AssertionError(f"{what}: expected dtype {expected.dtype}, got {actual.dtype}")
    actual, expected = actual.detach().cpu(), expected.detach().cpu()
    if torch.isnan(actual).any() and not torch.isnan(expected).any():
        raise AssertionError(f"{what} contains NaN where the correct answer has none. "
                             "Is a whole row masked before the softmax, or is something divided by 0?")
    if actual.dtype == torch.bool:
        bad = actual != expected
        if bad.any():
            idx = tuple(int(i) for i in bad.nonzero()[0])
            raise AssertionError(f"{what}: {int(bad.sum())} of {bad.numel()} entries differ, first at "
                                 f"index {idx}: got {bool(actual[idx])}, expected {bool(expected[idx])}. {hint}")
        return
    close = torch.isclose(actual, expected, atol=atol, rtol=rtol, equal_nan=True)
    if not close.all():
        idx = tuple(int(i) for i in (~close).nonzero()[0])
        diff = (actual - expected).abs().nan_to_num(float("inf")).max().item()
        raise AssertionError(
            f"{what}: values differ (max |difference| {diff:.3g}, tolerance {atol:g} + {rtol:g}·|expected|); "
            f"first at index {idx}: got {actual[idx].item():.6g}, expected {expected[idx].item():.6g}. {hint}"
        )


def check_meta_device(fn: Callable, *args: Any, expected_shape: Sequence[int], what: str,
                      forbid: Sequence[Callable] = (), **kwargs: Any) -> None:
    """Run ``fn`` on tensors on the 'meta' device and check the result stays there.

    A function that builds a tensor without ``device=`` puts it on the CPU; mixed with
    meta inputs that fails here just as it would fail on a GPU.
    """
    meta_args = [a.to("meta") if isinstance(a, Tensor) else a for a in args]
    try:
        out = run_student(fn, *meta_args, forbid=forbid, **kwargs)
    except (ReferenceUsedError, ForbiddenFunctionError):
        raise
    except Exception as err:
        raise AssertionError(
            f"{what} failed when its inputs were on another device ({type(err).__name__}: {err}). "
            "Create new tensors on the inputs' device, e.g. torch.ones(..., device=x.device)."
        ) from None
    assert_shape(out, expected_shape, what)
    if out.device.type != "meta":
        raise AssertionError(f"{what} returned a tensor on {out.device} for inputs on another device; "
                             "pass device=... when you create tensors")


def check_genuine() -> None:
    """Refuse to grade if torch's comparison functions were replaced (monkeypatched)."""
    for name, fn in _GENUINE.items():
        if getattr(torch, name) is not fn or type(fn).__name__ != "builtin_function_or_method":
            raise AssertionError(f"torch.{name} has been replaced; grading needs the genuine function")


def randn(*shape: int, seed: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """A reproducible standard-normal tensor for tests (its own generator: no global state)."""
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)
