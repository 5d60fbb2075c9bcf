"""course_lib.complexity: restricted attention against a band-masked full attention; timing helpers."""

import pytest
import torch
import torch.nn.functional as F

from course_lib import complexity as C


@pytest.mark.parametrize("n, r", [(1, 4), (7, 2), (12, 6), (5, 16), (13, 3)])
def test_restricted_attention_equals_block_masked_sdpa(n, r):
    g = torch.Generator().manual_seed(n)
    q, k, v = (torch.randn(2, n, 8, generator=g) for _ in range(3))
    block = torch.arange(n) // r
    band = (block[:, None] - block[None, :]).abs() <= 1  # (n, n): own and neighbouring blocks, True = may attend
    torch.testing.assert_close(
        C.restricted_attention(q, k, v, r),
        F.scaled_dot_product_attention(q, k, v, attn_mask=band),
        atol=1e-5,
        rtol=1e-5,
    )


def test_every_runner_keeps_the_shape_and_timings_are_positive():
    runners = C.layer_runners(16, k=3, r=4)
    x = torch.randn(2, 10, 16)
    for name, run in runners.items():
        assert run(x).shape == (2, 10, 16), name
    times = C.time_layers(runners, [8, 16], d=16, repeats=2)
    assert set(times) == set(runners) and all(len(t) == 2 and min(t) > 0 for t in times.values())


def test_loglog_slope_recovers_the_exponent():
    xs = [2.0, 4.0, 8.0, 16.0]
    assert C.loglog_slope(xs, [3 * x**2 for x in xs]) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="at least two"):
        C.loglog_slope([1.0], [1.0])
