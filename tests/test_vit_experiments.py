"""Tests of course_lib.vit_experiments: seeds are reproducible and independent, and every point of
the data-size curve gets the same budget of training images."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_lib import training
from course_lib import vit_experiments as ve


def _data(n: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 4, 4, generator=g), torch.randint(0, 3, (n,), generator=g)


def _linear() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 3))


def test_seed_accuracies_repeat_per_seed_and_match_one_run_of_fit_classifier():
    x, y = _data(60, 0)
    xt, yt = _data(30, 1)
    accs = ve.seed_accuracies(_linear, x, y, xt, yt, seeds=[0, 5], epochs=2)
    assert len(accs) == 2 and all(0.0 <= a <= 1.0 for a in accs)
    assert ve.seed_accuracies(_linear, x, y, xt, yt, seeds=[5], epochs=2) == accs[1:]
    # The oracle: one explicit run, seeded the same way.
    torch.manual_seed(5)
    from course_lib.runtime import seed_everything

    seed_everything(5)
    run = training.fit_classifier(_linear(), x, y, xt, yt, epochs=2, seed=5)
    assert run.test_acc[-1] == accs[1]
    with pytest.raises(ValueError, match="seeds"):
        ve.seed_accuracies(_linear, x, y, xt, yt, seeds=[], epochs=1)


def test_seed_runs_keep_every_epoch_of_every_seed():
    x, y = _data(60, 0)
    xt, yt = _data(30, 1)
    runs = ve.seed_runs(_linear, x, y, xt, yt, seeds=[0, 5], epochs=3)
    assert [len(r.test_acc) for r in runs] == [3, 3] and [len(r.train_loss) for r in runs] == [3, 3]
    assert [r.test_acc[-1] for r in runs] == ve.seed_accuracies(_linear, x, y, xt, yt, seeds=[0, 5], epochs=3)
    assert runs[0].train_loss != runs[1].train_loss, "a seed must change the initial weights and the batches"


@pytest.mark.parametrize(
    "n, seen, epochs", [(100, 8000, 80), (300, 8000, 27), (1347, 8000, 6), (5000, 8000, 2), (9000, 100, 1)]
)
def test_epochs_for_budget_shows_about_the_same_number_of_images(n, seen, epochs):
    assert ve.epochs_for_budget(n, seen) == epochs
    with pytest.raises(ValueError, match="n_train"):
        ve.epochs_for_budget(0, seen)


def test_data_size_curve_applies_one_budget_rule(monkeypatch):
    calls = []

    def fake_fit(model, x_train, y_train, x_test, y_test, epochs, seed, device, batch_size, eval_every_epoch):
        assert not eval_every_epoch, "only the final accuracy is used: the test set is scored once"
        calls.append((len(x_train), epochs, batch_size, seed))
        return training.FitResult([0.0], [len(x_train) / 100], 0.0)

    monkeypatch.setattr(ve, "fit_classifier", fake_fit)
    x, y = _data(100, 0)
    curve = ve.data_size_curve(
        {"a": _linear, "b": _linear}, x, y, x, y, sizes=[10, 40], images_seen=400, batch_size=8, seed=2
    )
    assert curve == {"a": [0.1, 0.4], "b": [0.1, 0.4]}
    assert calls == [(10, 40, 8, 2), (10, 40, 8, 2), (40, 10, 8, 2), (40, 10, 8, 2)]
    with pytest.raises(ValueError, match="sizes"):
        ve.data_size_curve({"a": _linear}, x, y, x, y, sizes=[101], images_seen=10)
