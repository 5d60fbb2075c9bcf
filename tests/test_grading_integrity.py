"""course_lib.grading refuses to grade once what the hidden tests compare with was replaced.

Student code runs in the same interpreter as the hidden tests; each test here plays a student who
monkeypatches something before (or while) the tests run, and checks the next grading call fails
instead of passing a wrong answer. Every patch is undone afterwards.
"""

import builtins

import pytest
import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from course_lib import attention as A
from course_lib import grading, reference

WRONG = torch.zeros(2, 3)
RIGHT = torch.ones(2, 3)


def _student(x):
    return x


@pytest.mark.parametrize(
    "target,name,fake",
    [
        (torch, "allclose", lambda *a, **k: True),
        (torch, "isclose", lambda a, b, *r, **k: torch.ones_like(a, dtype=torch.bool)),
        (torch, "equal", lambda *a, **k: True),
        (torch, "softmax", lambda x, dim, **k: x),
        (F, "scaled_dot_product_attention", lambda q, k, v, **kw: q),
        (builtins, "abs", lambda x: 0),
        (builtins, "round", lambda x, *a: 0),
        (torch.Tensor, "all", lambda self, *a, **k: torch.tensor(True)),
        (torch.nn.MultiheadAttention, "forward", lambda self, *a, **k: None),
    ],
)
def test_replaced_functions_are_detected(target, name, fake):
    had, genuine = name in vars(target), vars(target).get(name)
    errors = []
    setattr(target, name, fake)
    try:  # no pytest machinery while the patch is on: it may use the patched function
        for call in (lambda: grading.run_student(_student, WRONG), lambda: grading.assert_close(WRONG, RIGHT, "x")):
            try:
                call()
                errors.append("passed")
            except AssertionError as err:
                errors.append(str(err))
    finally:
        if had:
            setattr(target, name, genuine)
        else:
            delattr(target, name)
    assert len(errors) == 2 and all(" has been " in e for e in errors), errors


def test_a_torch_function_mode_left_on_is_detected():
    class Agree(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            return func(*args, **(kwargs or {}))

    mode = Agree()
    mode.__enter__()
    try:
        with pytest.raises(AssertionError, match="mode is active"):
            grading.assert_close(WRONG, RIGHT, "x")
    finally:
        mode.__exit__(None, None, None)
    grading.assert_close(RIGHT, RIGHT, "x")


def test_the_helpers_cannot_be_replaced():
    for name in ("assert_close", "run_student", "check_meta_device", "check_genuine", "assert_shape"):
        with pytest.raises(AttributeError, match="cannot be replaced"):
            setattr(grading, name, lambda *a, **k: None)
        with pytest.raises(AttributeError, match="cannot be deleted"):
            delattr(grading, name)


def test_helpers_replaced_in_the_module_dict_come_back():
    original = grading.__dict__["check_genuine"]
    vars(grading)["check_genuine"] = lambda: None
    vars(grading)["assert_close"] = lambda *a, **k: None
    with pytest.raises(AssertionError, match="values differ"):
        grading.assert_close(WRONG, RIGHT, "x")  # the lookup restored the genuine helpers first
    assert vars(grading)["check_genuine"] is original


def test_a_student_function_that_patches_while_it_runs_is_caught():
    def sneaky(x):
        torch.allclose = lambda *a, **k: True
        return x

    genuine = torch.allclose
    try:
        with pytest.raises(AssertionError, match="torch.allclose has been replaced"):
            grading.run_student(sneaky, WRONG)
    finally:
        torch.allclose = genuine


def test_tensor_subclasses_are_not_accepted_as_answers():
    class Liar(torch.Tensor):
        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            return super().__torch_function__(func, types, args, kwargs)

    with pytest.raises(AssertionError, match="plain torch.Tensor"):
        grading.assert_close(WRONG.as_subclass(Liar), RIGHT, "x")


def test_tampering_with_the_reference_guard_is_detected(monkeypatch):
    monkeypatch.setattr(
        A,
        "causal_mask",
        reference.REGISTRY["attention.causal_mask"].__wrapped__
        if hasattr(reference.REGISTRY["attention.causal_mask"], "__wrapped__")
        else (lambda L: L),
    )
    with pytest.raises(AssertionError, match="course_lib.attention.causal_mask has been replaced"):
        grading.run_student(_student, WRONG)
    monkeypatch.undo()
    monkeypatch.setattr(reference, "_blocked", set())
    with pytest.raises(AssertionError, match="reference has been tampered"):
        grading.run_student(_student, WRONG)


def test_genuine_state_grades_normally():
    grading.check_genuine()
    assert grading.run_student(_student, RIGHT) is RIGHT
    grading.assert_close(RIGHT.clone(), RIGHT, "x")
