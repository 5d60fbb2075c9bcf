"""course_lib.runtime: device choice, seeding, fast mode."""

import random

import numpy as np
import pytest
import torch

import course_lib
from course_lib import runtime


def test_get_device_default_works_here_and_takes_a_visible_gpu(monkeypatch):
    """On this machine: the device holds a tensor, and it is CUDA whenever torch counts a GPU."""
    monkeypatch.delenv(runtime.DEVICE_ENV, raising=False)
    device = course_lib.get_device()
    assert torch.ones(2, device=device).sum().item() == 2
    if torch.cuda.device_count() > 0:
        assert device.type == "cuda"


@pytest.mark.parametrize(
    "cuda, mps, expected",
    [
        (True, True, "cuda"),
        (True, False, "cuda"),
        (False, True, "mps"),
        (False, False, "cpu"),
    ],
)
def test_get_device_prefers_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, expected):
    """What torch reports is faked at torch's own functions; the table is the documented order."""
    monkeypatch.delenv(runtime.DEVICE_ENV, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert course_lib.get_device().type == expected


def test_get_device_environment_override(monkeypatch):
    monkeypatch.setenv(runtime.DEVICE_ENV, "cpu")
    assert course_lib.get_device() == torch.device("cpu")


def test_get_device_rejects_unknown_or_missing_device(monkeypatch):
    monkeypatch.setenv(runtime.DEVICE_ENV, "tpu")
    with pytest.raises(ValueError, match="COURSE_LIB_DEVICE.*'tpu'"):
        course_lib.get_device()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv(runtime.DEVICE_ENV, "cuda")
    with pytest.raises(RuntimeError, match="no CUDA"):
        course_lib.get_device()


def test_seed_everything_makes_all_generators_repeat():
    def draw():
        return random.random(), np.random.rand(), torch.rand(3)

    course_lib.seed_everything(123)
    first = draw()
    course_lib.seed_everything(123)
    second = draw()
    assert first[:2] == second[:2] and torch.equal(first[2], second[2])
    course_lib.seed_everything(124)
    assert draw()[0] != first[0]


def test_seed_everything_returns_a_seeded_generator():
    a = torch.rand(4, generator=course_lib.seed_everything(5))
    b = torch.rand(4, generator=course_lib.seed_everything(5))
    assert torch.equal(a, b)
    with pytest.raises(TypeError, match="seed must be an int"):
        course_lib.seed_everything("0")


@pytest.mark.parametrize(
    "flag, nbgrader, expected",
    [
        ("1", False, True),
        ("true", False, True),
        ("0", True, False),
        ("", True, True),
        ("", False, False),
    ],
)
def test_fast_mode_from_environment(monkeypatch, flag, nbgrader, expected):
    monkeypatch.setenv(runtime.FAST_ENV, flag)
    if nbgrader:
        monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    else:
        monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    assert course_lib.is_fast_mode() is expected
    assert course_lib.fast_or_full("fast", "full") == ("fast" if expected else "full")


def test_single_cpu_thread_restores_the_setting():
    import torch

    from course_lib.runtime import single_cpu_thread

    before = torch.get_num_threads()
    with single_cpu_thread():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
