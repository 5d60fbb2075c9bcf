"""course_lib.training and course_lib.plotting."""

import matplotlib

matplotlib.use("Agg")
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from course_lib import plotting, training  # noqa: E402
from course_lib.cnn_baseline import SmallCNN  # noqa: E402


def _separable_data(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, generator=g)
    y = (x[:, 0] + x[:, 1] > 0).long()
    return DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True, generator=g)


def test_fit_learns_a_separable_problem_and_records_history():
    torch.manual_seed(0)
    model = nn.Linear(2, 2)
    loader = _separable_data()
    history = training.fit(
        model,
        loader,
        torch.optim.SGD(model.parameters(), lr=0.5),
        epochs=5,
        device=torch.device("cpu"),
        valid_batches=_separable_data(seed=1),
        progress=False,
    )
    assert len(history.train_loss) == len(history.valid_acc) == 5
    assert history.train_loss[-1] < history.train_loss[0]
    assert history.valid_acc[-1] > 0.9


def test_evaluation_epoch_does_not_change_the_model():
    model = nn.Linear(2, 2)
    before = [p.clone() for p in model.parameters()]
    training.run_epoch(model, _separable_data(), training.classification_step, torch.device("cpu"))
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert not model.training


def test_fit_rejects_bad_arguments():
    model = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="epochs must be ≥ 1; got 0"):
        training.fit(model, _separable_data(), torch.optim.SGD(model.parameters(), lr=0.1), 0, torch.device("cpu"))
    with pytest.raises(ValueError, match="no items"):
        training.run_epoch(model, [], training.classification_step, torch.device("cpu"))


def test_train_steps_clips_steps_the_scheduler_and_returns_every_loss():
    torch.manual_seed(0)
    model = nn.Linear(2, 1)
    x, y = torch.randn(8, 2), torch.randn(8, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.5**step)
    seen = []

    def loss_fn(batch):
        seen.append(optimizer.param_groups[0]["lr"])
        return nn.functional.mse_loss(model(x[batch]), y[batch]) * 1e6  # huge gradients: clipping matters

    before = model.weight.detach().clone(), model.bias.detach().clone()
    losses = training.train_steps(
        model, [slice(0, 4), slice(4, 8)], loss_fn, optimizer, scheduler=scheduler, clip_grad_norm=1.0, progress=False
    )
    assert len(losses) == 2 and all(isinstance(v, float) for v in losses)
    assert seen == pytest.approx([0.1, 0.05]), "the scheduler steps after every optimizer step"
    moved = torch.cat([(model.weight - before[0]).flatten(), model.bias - before[1]])
    assert moved.norm() <= 0.1 + 0.05 + 1e-6, "each step moves at most lr × clip_grad_norm"
    assert model.training


def test_fit_classifier_is_reproducible_and_learns_a_separable_task():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 1, 8, 8, generator=gen)
    y = (x.mean(dim=(1, 2, 3)) > 0).long()  # brightness decides the class
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = SmallCNN(1, 2, width=8)
        runs.append(training.fit_classifier(model, x, y, x, y, epochs=15, lr=1e-2, batch_size=16))
    assert runs[0].train_loss == runs[1].train_loss and runs[0].test_acc == runs[1].test_acc
    assert len(runs[0].test_acc) == 15 and runs[0].test_acc[-1] > 0.9
    assert runs[0].train_loss[-1] < runs[0].train_loss[0]
    assert training.accuracy(model, x, y, batch_size=5) == runs[1].test_acc[-1], "batching does not change it"
    torch.manual_seed(0)
    model = SmallCNN(1, 2, width=8)
    last_only = training.fit_classifier(model, x, y, x, y, epochs=15, lr=1e-2, batch_size=16, eval_every_epoch=False)
    assert last_only.train_loss == runs[0].train_loss, "scoring the test set does not change training"
    assert last_only.test_acc == runs[0].test_acc[-1:]


def test_small_cnn_shapes_and_parameter_count():
    assert SmallCNN(1, 10)(torch.randn(2, 1, 8, 8)).shape == (2, 10)
    assert training.count_parameters(nn.Linear(3, 2)) == 8
    frozen = nn.Linear(3, 2).requires_grad_(False)
    assert training.count_parameters(nn.Sequential(nn.Linear(3, 2), frozen)) == 8, "frozen weights do not count"


def test_plot_attention_labels_axes_and_checks_shapes():
    ax = plotting.plot_attention(torch.softmax(torch.randn(3, 4), -1), ["a", "b", "c"], ["w", "x", "y", "z"])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["w", "x", "y", "z"]
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
    with pytest.raises(ValueError, match=r"need 3 query labels and 4 key labels.*got 2 and 4"):
        plotting.plot_attention(torch.rand(3, 4), ["a", "b"], ["w", "x", "y", "z"])
    with pytest.raises(ValueError, match=r"must be 2-D \(L, S\); got shape \(1, 3, 4\)"):
        plotting.plot_attention(torch.rand(1, 3, 4), ["a"], ["w"])


def test_plot_history_draws_train_and_validation():
    h = training.History([1.0, 0.5], [0.5, 0.8], [1.1, 0.6], [0.4, 0.7])
    fig = plotting.plot_history(h)
    assert [len(ax.get_lines()) for ax in fig.axes] == [2, 2]
    for ax in fig.axes:  # told apart without colour: in greyscale and by colour-blind readers
        train, valid = ax.get_lines()
        assert (train.get_linestyle(), train.get_marker()) != (valid.get_linestyle(), valid.get_marker())
        assert train.get_label() == "train" and valid.get_label() == "validation"


def test_attention_heatmap_lightness_rises_with_the_weight():
    """Greyscale-safe: the colour map's lightness (luma of its RGB) is monotone from 0 to the maximum."""
    ax = plotting.plot_attention(torch.tensor([[0.0, 0.25], [0.5, 1.0]]), ["a", "b"], ["x", "y"], annotate=False)
    image = ax.get_images()[0]
    rgb = image.cmap(torch.linspace(0, 1, 64).numpy())[:, :3]
    luma = rgb @ [0.299, 0.587, 0.114]
    assert (luma[1:] > luma[:-1]).all(), f"{image.cmap.name} is not monotone in lightness"
    assert image.get_clim() == (0.0, 1.0)


def test_random_batches_param_groups_turn_weight_decay_off():
    """A parameter with zero gradient moves only by weight decay: AdamW shrinks it by
    (1 − lr·0.05) per step by default, and leaves it alone in a group with weight_decay 0."""

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.ones(3, 2))
            self.b = nn.Parameter(torch.ones(2))

    x = torch.randn(16, 3)
    for groups, shrinks in [(None, True), ("split", False)]:
        model = Model()
        param_groups = None
        if groups == "split":
            param_groups = [{"params": [model.w]}, {"params": [model.b], "weight_decay": 0.0}]

        def loss(batch, model=model):
            return (x[batch] @ model.w).pow(2).mean() + 0.0 * model.b.sum()

        training.train_random_batches(
            model, 16, loss, 20, 4, 0.5, torch.device("cpu"), progress=False, param_groups=param_groups
        )
        if shrinks:
            assert (model.b < 1.0).all(), model.b
        else:
            torch.testing.assert_close(model.b.detach(), torch.ones(2), rtol=0, atol=0)
