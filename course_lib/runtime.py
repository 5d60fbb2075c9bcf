"""Where code runs and how reproducibly: device choice, seeding and fast mode.

Every chapter's setup cell calls :func:`get_device` and :func:`seed_everything`.
Fast mode shrinks data and training so that a whole chapter runs in seconds; it is
switched on by ``COURSE_LIB_FAST=1`` and, automatically, whenever nbgrader executes
a notebook (nbgrader sets ``NBGRADER_EXECUTION`` in the kernel's environment).
"""

from __future__ import annotations

import contextlib
import os
import random
from typing import Iterator, TypeVar

import numpy as np
import torch

DEVICE_ENV = "COURSE_LIB_DEVICE"
FAST_ENV = "COURSE_LIB_FAST"
_VALID_DEVICES = ("cuda", "mps", "cpu")

T = TypeVar("T")


def get_device() -> torch.device:
    """The best available device: cuda, then mps, then cpu.

    Set ``COURSE_LIB_DEVICE=cpu`` (or ``cuda``, ``mps``, ``cuda:1``) to override.
    """
    wanted = os.environ.get(DEVICE_ENV, "").strip()
    if wanted:
        kind = wanted.split(":")[0]
        if kind not in _VALID_DEVICES:
            raise ValueError(
                f"{DEVICE_ENV} must name one of {_VALID_DEVICES} (optionally with ':index'); got {wanted!r}"
            )
        if kind == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"{DEVICE_ENV}={wanted!r} but torch sees no CUDA device")
        if kind == "mps" and not _mps_available():
            raise RuntimeError(f"{DEVICE_ENV}={wanted!r} but torch sees no MPS device")
        return torch.device(wanted)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices); return a torch.Generator seeded alike."""
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int; got {type(seed).__name__}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def is_fast_mode() -> bool:
    """True when ``COURSE_LIB_FAST`` is truthy or nbgrader is executing the notebook."""
    flag = os.environ.get(FAST_ENV, "").strip().lower()
    if flag in ("1", "true", "yes", "on"):
        return True
    if flag in ("0", "false", "no", "off"):
        return False
    return "NBGRADER_EXECUTION" in os.environ


def fast_or_full(fast: T, full: T) -> T:
    """Pick ``fast`` in fast mode and ``full`` otherwise, e.g. ``epochs = fast_or_full(2, 30)``."""
    return fast if is_fast_mode() else full


@contextlib.contextmanager
def single_cpu_thread() -> Iterator[None]:
    """Run the block with one torch CPU thread, then restore the previous setting.

    Tiny models (a few thousand parameters, batches of 32) gain nothing from several threads,
    and on a busy machine the extra threads mostly wait for each other: chapter 1's training
    loops took several times more CPU with 2 threads than with 1. No effect on GPU work.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
