"""course_lib.schedules: the learning-rate factors against their closed forms."""

import math

import pytest

from course_lib.schedules import warmup_constant, warmup_cosine, warmup_inverse_sqrt


def test_warmup_then_inverse_sqrt():
    f = warmup_inverse_sqrt(10)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(39) == pytest.approx(0.5), "four times the warm-up → half the peak"
    with pytest.raises(ValueError, match="warmup_steps"):
        warmup_inverse_sqrt(0)


def test_warmup_then_cosine_to_zero():
    f = warmup_cosine(10, 110)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(59) == pytest.approx(0.5), "half-way through the decay the cosine is at one half"
    assert f(109) == pytest.approx(0.0, abs=1e-12) and f(500) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="warmup_steps < total_steps; got warmup_steps=10, total_steps=10"):
        warmup_cosine(10, 10)


def test_warmup_then_constant():
    f = warmup_constant(4)
    assert [f(s) for s in range(6)] == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0, 1.0])
    assert f(10_000) == 1.0, "no decay after the warm-up"
    with pytest.raises(ValueError, match="warmup_steps must be >= 1; got 0"):
        warmup_constant(0)


def test_warmup_cosine_holding_the_peak_counts_the_decay_from_the_end_of_the_warmup():
    f = warmup_cosine(10, 100, hold_peak=True)  # chapter 7's ViT recipe
    assert f(0) == pytest.approx(0.1)
    assert f(9) == f(10) == pytest.approx(1.0), "the peak lasts two steps"
    assert f(55) == pytest.approx(0.5 * (1 + math.cos(math.pi * 45 / 90)))
    assert f(100) == pytest.approx(0.0, abs=1e-12)
    no_warmup = warmup_cosine(0, 50, hold_peak=True)
    assert no_warmup(0) == 1.0 and no_warmup(25) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="0 <= warmup_steps < total_steps; got warmup_steps=-1"):
        warmup_cosine(-1, 10)
