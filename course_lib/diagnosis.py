"""Name the student's mistake: replay the catalogue's wrong implementations on the inputs of a
failed comparison and report the one whose answer the student's matches.

``grading.run_student`` records each call (a copy of its inputs); when ``grading.assert_close``
fails, :func:`diagnose` runs every catalogue mistake that stands in for the student's function
or class (matched by name: the function called, or an argument such as the class a builder
instantiates) on copies of the same inputs, under the same guards as student code, each with a
time limit. A mistake is named only if its answer matches the student's AND differs from the
correct one; a mistake that raises, runs long or prints changes nothing. The catalogue is
snapshotted when this module is imported (before any student code runs), so a submission cannot
add its own "mistakes" to read the hidden tests' inputs.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional

import torch
from torch import Tensor, nn

from . import mistakes as _mistakes
from .mistakes import Mistake

# COURSE_LIB_DIAGNOSIS=0 switches the diagnosis off (the grading kernel receives COURSE_LIB_* variables);
# read once, before any student code runs.
ENABLED = os.environ.get("COURSE_LIB_DIAGNOSIS", "1").strip() != "0"
PER_MISTAKE_S = 1.0  # wall-clock limit for one replayed mistake
BUDGET_S = 3.0  # for the whole diagnosis of one failed comparison

_CATALOGUE: tuple[Mistake, ...] = _mistakes.all_mistakes()


@dataclass(frozen=True)
class Call:
    """One call of student code, with copies of its inputs taken before it ran."""

    fn: Callable
    args: tuple
    kwargs: dict
    forbid: tuple
    allow_refs: tuple


def copy_inputs(obj: Any) -> Any:
    """A copy the student's code cannot change: tensors cloned, generators with the same state."""
    if isinstance(obj, Tensor):
        return obj.detach().clone().requires_grad_(obj.requires_grad)
    if isinstance(obj, torch.Generator):
        clone = torch.Generator(device=obj.device)
        clone.set_state(obj.get_state())
        return clone
    if isinstance(obj, (list, tuple)) and type(obj) in (list, tuple):
        return type(obj)(copy_inputs(item) for item in obj)
    if isinstance(obj, dict) and type(obj) is dict:
        return {key: copy_inputs(value) for key, value in obj.items()}
    if isinstance(obj, nn.Module):
        return copy.deepcopy(obj)
    return obj


def record(fn: Callable, args: tuple, kwargs: dict, forbid, allow_refs) -> Optional[Call]:
    """Remember a call for a later diagnosis; None if its inputs cannot be copied."""
    try:
        return Call(fn, copy_inputs(args), copy_inputs(kwargs), tuple(forbid), tuple(allow_refs))
    except Exception:  # noqa: BLE001 — an input we cannot copy only means no diagnosis
        return None


def _name(obj: Any) -> Optional[str]:
    return getattr(obj, "__name__", None) if callable(obj) else None


def _candidates(call: Call) -> Iterator[tuple[Mistake, Callable, tuple, dict]]:
    """(mistake, function to call, args, kwargs) with the mistake in place of the student's object."""
    for mistake in _CATALOGUE:
        target = mistake.replaces
        if _name(call.fn) == target:
            yield mistake, mistake.impl, call.args, call.kwargs
            continue
        if any(_name(a) == target for a in (*call.args, *call.kwargs.values())):
            args = tuple(mistake.impl if _name(a) == target else a for a in call.args)
            kwargs = {k: mistake.impl if _name(v) == target else v for k, v in call.kwargs.items()}
            yield mistake, call.fn, args, kwargs


class _TimeUp(Exception):
    pass


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Raise _TimeUp after ``seconds`` (main thread only; elsewhere no limit)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def alarm(signum, frame):
        raise _TimeUp()

    previous = signal.signal(signal.SIGALRM, alarm)
    outer = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer[0]:
            signal.setitimer(signal.ITIMER_REAL, *outer)


def as_tensor(value: Any) -> Optional[Tensor]:
    """Tensors as they are; Python numbers as float64 scalars; anything else None."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (bool, int, float)):
        return torch.tensor(value, dtype=torch.bool if isinstance(value, bool) else torch.float64)
    return None


def same_answer(a: Any, b: Any, atol: float, rtol: float) -> bool:
    """Same shape and (bool) equal or (numeric) close values; never raises."""
    a, b = as_tensor(a), as_tensor(b)
    if a is None or b is None or a.shape != b.shape or a.device.type == "meta" or b.device.type == "meta":
        return False
    a, b = a.detach().cpu(), b.detach().cpu()
    if (a.dtype == torch.bool) != (b.dtype == torch.bool):
        return False
    if a.dtype == torch.bool:
        return bool(torch.equal(a, b))
    if a.is_complex() or b.is_complex():
        return False
    if a.numel() and (torch.isnan(a) | torch.isnan(b)).all():
        return False  # nothing but NaN: no evidence for any one mistake
    return bool(torch.isclose(a.double(), b.double(), atol=atol, rtol=rtol, equal_nan=True).all())


def _replay(call: Call, fn: Callable, args: tuple, kwargs: dict, guard: Callable) -> Any:
    with (
        _time_limit(PER_MISTAKE_S),
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
        guard(call.forbid, call.allow_refs),
    ):
        return fn(*copy_inputs(args), **copy_inputs(kwargs))


def distance(a: Any, b: Any) -> float:
    """Largest relative difference between two answers of the same shape (0 for equal bools)."""
    a, b = as_tensor(a).detach().cpu(), as_tensor(b).detach().cpu()
    if a.dtype == torch.bool:
        return float((a != b).sum())
    a, b = a.double().nan_to_num(0.0), b.double().nan_to_num(0.0)
    return float(((a - b).abs() / (b.abs() + 1e-12)).max()) if a.numel() else 0.0


def diagnose(
    call: Optional[Call], actual: Any, expected: Any, atol: float, rtol: float, guard: Callable
) -> Optional[Mistake]:
    """The catalogue mistake whose answer on ``call``'s inputs matches ``actual`` but not
    ``expected``; of several, the one closest to ``actual``."""
    if call is None or not ENABLED:
        return None
    deadline = time.monotonic() + BUDGET_S
    best, best_distance = None, float("inf")
    for mistake, fn, args, kwargs in _candidates(call):
        if time.monotonic() > deadline:
            break
        try:
            answer = _replay(call, fn, args, kwargs, guard)
            if not same_answer(answer, actual, atol, rtol) or same_answer(answer, expected, atol, rtol):
                continue
            gap = distance(answer, actual)
        except Exception:  # noqa: BLE001 — a mistake that fails or runs long names nothing
            continue
        if gap < best_distance:
            best, best_distance = mistake, gap
    return best


def diagnose_error(call: Optional[Call], error: BaseException, guard: Callable) -> Optional[Mistake]:
    """The catalogue mistake that raises the same error (type and message) on ``call``'s inputs."""
    if call is None or not ENABLED:
        return None
    deadline = time.monotonic() + BUDGET_S
    for mistake, fn, args, kwargs in _candidates(call):
        if time.monotonic() > deadline:
            break
        try:
            _replay(call, fn, args, kwargs, guard)
        except _TimeUp:
            continue
        except Exception as err:  # noqa: BLE001
            if type(err) is type(error) and str(err) == str(error):
                return mistake
    return None


def describe(mistake: Mistake) -> str:
    """The sentence feedback shows, with a machine-readable tag for the class report."""
    return f"Likely mistake: {mistake.explanation} Hint: {mistake.hint} {mistake.tag}"


def by_key(key: str) -> Mistake:
    """A mistake from the snapshot, by ``chapter:id``."""
    for mistake in _CATALOGUE:
        if mistake.key == key:
            return mistake
    raise KeyError(f"no mistake {key!r} in the catalogue")
