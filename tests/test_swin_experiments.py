"""Tests of course_lib.swin_experiments: the no-shift ablation changes only the shift, the
recipe is reproducible, and the paired statistics match the statistics module (the oracle)."""

from __future__ import annotations

import math
import statistics

import pytest
import torch

from course_lib import swin
from course_lib import swin_experiments as se

SMALL = swin.SwinConfig(
    image_size=16,
    in_channels=1,
    patch_size=2,
    embed_dim=8,
    depths=(2, 2),
    n_heads=(1, 2),
    window_size=4,
    mlp_ratio=1.0,
    n_classes=3,
)


def _data(n: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 16, 16, generator=g), torch.randint(0, 3, (n,), generator=g)


def test_set_shift_zero_turns_every_shifted_block_into_a_regular_one():
    model = swin.Swin(SMALL)
    assert [b.attn.shift for stage in model.stages for b in stage] == [0, 2, 0, 2]
    assert se.set_shift(model, 0) == 2  # the two odd blocks changed
    assert [b.attn.shift for stage in model.stages for b in stage] == [0, 0, 0, 0]
    assert se.set_shift(model, 0) == 0
    with pytest.raises(ValueError, match="shift"):
        se.set_shift(model, -1)


def test_without_shift_stage_one_never_crosses_a_window_border():
    # Gradient of one stage-1 output token w.r.t. the stage-1 input map: with the shift it reaches
    # beyond the token's 4 × 4 window, without the shift it stays inside.
    torch.manual_seed(0)
    model = swin.Swin(SMALL)
    stage = model.stages[0]

    def field() -> torch.Tensor:
        x = torch.randn(1, 8, 8, 8, requires_grad=True, generator=torch.Generator().manual_seed(1))
        stage(x)[0, 1, 1].sum().backward()
        return x.grad[0].abs().sum(-1) > 0  # (8, 8)

    shifted = field()
    se.set_shift(model, 0)
    unshifted = field()
    inside = torch.zeros(8, 8, dtype=torch.bool)
    inside[:4, :4] = True
    assert torch.equal(unshifted, inside)
    assert shifted[~inside].any()


def test_train_swin_is_reproducible_and_changes_only_the_shift():
    x, y = _data(40, 0)
    xt, yt = _data(20, 1)
    model_a, hist_a = se.train_swin(SMALL, x, y, xt, yt, epochs=1, seed=3)
    model_b, hist_b = se.train_swin(SMALL, x, y, xt, yt, epochs=1, seed=3)
    assert hist_a.train_loss == hist_b.train_loss and hist_a.valid_acc == hist_b.valid_acc
    assert len(hist_a.valid_acc) == 1 and 0.0 <= hist_a.valid_acc[0] <= 1.0
    # The same seed builds the same initial weights whatever the shift.
    torch.manual_seed(123)
    _ = swin.Swin(SMALL)
    from course_lib.runtime import seed_everything

    seed_everything(3)
    init = swin.Swin(SMALL).state_dict()
    no_shift, hist_c = se.train_swin(SMALL, x, y, xt, yt, epochs=1, seed=3, shift=False)
    assert all(b.attn.shift == 0 for stage in no_shift.stages for b in stage)
    assert hist_c.train_loss != hist_a.train_loss  # the shift changed the computation
    seed_everything(3)
    assert all(torch.equal(init[k], v) for k, v in swin.Swin(SMALL).state_dict().items())


def test_mean_and_standard_error_match_the_statistics_module():
    values = [0.95, 0.97, 0.9, 0.99]
    mean, sem = se.mean_and_standard_error(values)
    assert mean == pytest.approx(statistics.mean(values))
    assert sem == pytest.approx(statistics.stdev(values) / math.sqrt(len(values)))
    with pytest.raises(ValueError, match="at least 2"):
        se.mean_and_standard_error([0.5])


def test_paired_comparison_uses_per_seed_differences():
    cmp = se.PairedComparison(seeds=[0, 1, 2], a=[0.96, 0.95, 0.97], b=[0.94, 0.95, 0.93])
    diffs = [0.02, 0.0, 0.04]
    assert cmp.differences == pytest.approx(diffs)
    assert cmp.mean_difference == pytest.approx(0.02)
    assert cmp.standard_error == pytest.approx(statistics.stdev(diffs) / math.sqrt(3))
    assert cmp.is_finding == (0.02 >= 2 * statistics.stdev(diffs) / math.sqrt(3))
    noisy = se.PairedComparison(seeds=[0, 1], a=[0.9, 0.99], b=[0.95, 0.95])
    assert not noisy.is_finding  # mean +0.005, standard error 0.045
