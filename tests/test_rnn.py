"""course_lib.rnn against torch.nn.RNN / nn.LSTMCell and autograd (float32, atol 1e-5 unless stated)."""

import pytest
import torch
from torch import nn

from course_lib import long_range as LR
from course_lib import rnn as R
from course_lib.long_range import DistanceExperimentConfig, accuracy_vs_distance, make_model

TOL = dict(atol=1e-5, rtol=1e-5)


def _randomised(module: nn.Module, seed: int) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)  # every parameter, biases included
    return module


def _torch_rnn(D, H, num_layers=1, batch_first=False, seed=0):
    return _randomised(nn.RNN(D, H, num_layers=num_layers, batch_first=batch_first), seed)


def _params(rnn: nn.RNN, layer: int = 0):
    return [getattr(rnn, f"{n}_l{layer}") for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("with_h0", [False, True])
@pytest.mark.parametrize("T, B, D, H", [(1, 1, 1, 1), (7, 3, 5, 4), (12, 2, 8, 16)])
def test_rnn_forward_matches_torch_rnn(batch_first, with_h0, T, B, D, H):
    torch_rnn = _torch_rnn(D, H, batch_first=batch_first, seed=T)
    x = torch.randn((B, T, D) if batch_first else (T, B, D))
    h0 = torch.randn(B, H) if with_h0 else None
    with torch.no_grad():
        expected, h_n = torch_rnn(x, None if h0 is None else h0[None])
        out, h_last = R.rnn_forward(x, *_params(torch_rnn), h0=h0, batch_first=batch_first)
    torch.testing.assert_close(out, expected, **TOL)
    torch.testing.assert_close(h_last, h_n[0], **TOL)


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("batch_first", [False, True])
def test_vanilla_rnn_module_matches_torch_rnn(num_layers, batch_first):
    torch_rnn = _torch_rnn(6, 5, num_layers=num_layers, batch_first=batch_first, seed=num_layers)
    ours = R.VanillaRNN(6, 5, num_layers=num_layers, batch_first=batch_first)
    ours.load_state_dict(torch_rnn.state_dict())  # same parameter names as nn.RNN
    x = torch.randn((3, 9, 6) if batch_first else (9, 3, 6))
    h0 = torch.randn(num_layers, 3, 5)
    with torch.no_grad():
        for init in (None, h0):
            expected, expected_h = torch_rnn(x, init)
            out, h_n = ours(x, init)
            torch.testing.assert_close(out, expected, **TOL)
            torch.testing.assert_close(h_n, expected_h, **TOL)


@pytest.mark.parametrize("scale", [0.5, 1.0, 1.5])
@pytest.mark.parametrize("T, B, H", [(1, 2, 3), (10, 3, 8), (25, 1, 16)])
def test_bptt_grad_norms_match_autograd(scale, T, B, H):
    W_ih, W_hh, b_ih, b_hh = R.random_rnn_weights(4, H, scale, seed=T)
    b_ih, b_hh = torch.randn(H) * 0.1, torch.randn(H) * 0.1
    x = torch.randn(T, B, 4)
    grad_last = torch.randn(B, H)
    h, _ = R.rnn_forward(x, W_ih, W_hh, b_ih, b_hh)
    expected = R.grad_norms_autograd(x, W_ih, W_hh, b_ih, b_hh, grad_last)
    torch.testing.assert_close(R.bptt_grad_norms(h, W_hh, grad_last), expected, atol=1e-5, rtol=1e-4)


def test_gradients_vanish_for_small_recurrent_weights():
    W = R.random_rnn_weights(4, 16, 0.5, seed=0)
    h, _ = R.rnn_forward(torch.randn(30, 2, 4), *W)
    norms = R.bptt_grad_norms(h, W[1], torch.ones(2, 16))  # (T, B)
    assert (norms[0] < 1e-6 * norms[-1]).all(), "with ‖W_hh‖ = 0.5 the gradient 30 steps back must vanish"


@pytest.mark.parametrize("B, D, H", [(1, 1, 1), (4, 3, 5), (2, 8, 16)])
def test_lstm_cell_matches_torch_lstm_cell(B, D, H):
    cell = _randomised(nn.LSTMCell(D, H), seed=H)
    x, h, c = torch.randn(B, D), torch.randn(B, H), torch.randn(B, H)
    with torch.no_grad():
        h_exp, c_exp = cell(x, (h, c))
        h_got, c_got = R.lstm_cell(x, h, c, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
    torch.testing.assert_close(h_got, h_exp, **TOL)
    torch.testing.assert_close(c_got, c_exp, **TOL)


def test_rnn_forward_keeps_the_device():
    W = [w.to("meta") for w in R.random_rnn_weights(3, 4, 1.0)]
    out, h = R.rnn_forward(torch.randn(5, 2, 3, device="meta"), *W)
    assert out.device.type == "meta" and h.shape == (2, 4)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(x=torch.randn(5, 3)), "x must be 3-D"),
        (dict(W_ih=torch.randn(4, 2)), r"W_ih must be \(1·H, D\) = \(4, 3\)"),
        (dict(W_hh=torch.randn(4, 5)), r"W_hh must be \(1·H, H\)"),
        (dict(b_hh=torch.randn(5)), r"b_hh must be \(1·H,\) = \(4,\)"),
        (dict(h0=torch.randn(3, 4)), r"h0 must be \(B, H\) = \(2, 4\)"),
    ],
)
def test_rnn_forward_rejects_bad_shapes(kwargs, message):
    args = dict(
        x=torch.randn(5, 2, 3),
        W_ih=torch.randn(4, 3),
        W_hh=torch.randn(4, 4),
        b_ih=torch.randn(4),
        b_hh=torch.randn(4),
        h0=None,
    )
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        R.rnn_forward(**args)


def _lstm_cell_args(x_rows=2, w_ih_rows=16):
    """x (x_rows, D=3), h and c (2, H=4), W_ih (w_ih_rows, 3), W_hh (16, 4), b_ih and b_hh (16,)."""
    return (
        torch.randn(x_rows, 3),
        torch.randn(2, 4),
        torch.randn(2, 4),
        torch.randn(w_ih_rows, 3),
        torch.randn(16, 4),
        torch.randn(16),
        torch.randn(16),
    )


def test_bptt_and_lstm_reject_bad_shapes():
    with pytest.raises(ValueError, match=r"W_hh must be \(H, H\) = \(4, 4\)"):
        R.bptt_grad_norms(torch.randn(5, 2, 4), torch.randn(3, 3), torch.randn(2, 4))
    with pytest.raises(ValueError, match=r"grad_last must be \(B, H\) = \(2, 4\)"):
        R.bptt_grad_norms(torch.randn(5, 2, 4), torch.randn(4, 4), torch.randn(4))
    with pytest.raises(ValueError, match=r"W_ih must be \(4·H, D\)"):
        R.lstm_cell(*_lstm_cell_args(w_ih_rows=4))  # W_ih must have 4·H = 16 rows
    with pytest.raises(ValueError, match="same B"):
        R.lstm_cell(*_lstm_cell_args(x_rows=3))  # x has 3 rows, the state 2
    with pytest.raises(ValueError, match="num_layers"):
        R.VanillaRNN(3, 4, num_layers=0)


def test_classifiers_and_models_have_the_right_shapes():
    x = torch.randint(0, 10, (3, 7))
    for kind in ("rnn", "lstm", "attention"):
        assert make_model(kind, 8)(x).shape == (3, 2)
    with pytest.raises(ValueError, match="kind must be"):
        make_model("gru")
    with pytest.raises(ValueError, match="config.cell"):
        R.RecurrentClassifier(R.RecurrentClassifierConfig(cell="gru"))


def test_accuracy_vs_distance_is_deterministic_and_learns_short_distances():
    """80 steps at distances 2 and 4 are enough for every model: well above chance (0.5; one
    standard error on 128 validation sequences is 0.044, the margin is 0.2)."""
    cfg = DistanceExperimentConfig(distances=(2, 4), seeds=(0,), steps=80, batch_size=16, n_valid=128, hidden_size=16)
    a = accuracy_vs_distance(("rnn", "lstm", "attention"), cfg, progress=False)
    b = accuracy_vs_distance(("rnn", "lstm", "attention"), cfg, progress=False)
    assert a.accuracy["rnn"].shape == (1, 2)
    for kind in a.accuracy:
        assert torch.equal(a.accuracy[kind], b.accuracy[kind])
        assert (a.accuracy[kind] > 0.7).all(), f"{kind} did not learn: {a.accuracy[kind].tolist()}"


def test_forget_bias_sets_the_lstm_forget_gate_only():
    model = make_model("lstm", 6, forget_bias=3.0)
    b = model.rnn.bias_ih_l0 + model.rnn.bias_hh_l0  # (4H,): gates (i, f, g, o)
    torch.testing.assert_close(b[6:12], torch.full((6,), 3.0))
    assert b[:6].abs().max() < 1 and b[12:].abs().max() < 1  # the other gates keep torch's init
    with pytest.raises(ValueError, match="forget_bias"):
        make_model("rnn", 6, forget_bias=1.0)
    with pytest.raises(ValueError, match="forget_bias"):
        make_model("attention", 6, forget_bias=1.0)


def test_model_settings_change_what_is_trained():
    cfg = DistanceExperimentConfig(steps=3, batch_size=4, n_valid=8, hidden_size=4)
    m_default, _ = LR.train_one("lstm", 3, 0, cfg)
    m_same, _ = LR.train_one("lstm", 3, 0, cfg, LR.ModelSettings(cfg.lr, cfg.weight_decay))
    m_lr, _ = LR.train_one("lstm", 3, 0, cfg, LR.ModelSettings(lr=1e-4))
    w = [m.rnn.weight_hh_l0 for m in (m_default, m_same, m_lr)]
    assert torch.equal(w[0], w[1]), "no settings = the config's lr and decay"
    assert not torch.allclose(w[0], w[2]), "a model's own learning rate must be used"


def test_search_settings_picks_the_best_mean_and_reports_every_candidate(monkeypatch):
    scores = {0.1: 0.6, 0.2: 0.9, 0.3: 0.7}  # accuracy by learning rate, same at every distance
    seen_valid_seeds = set()

    def fake_train_one(kind, distance, seed, cfg, settings, device):
        seen_valid_seeds.add(cfg.valid_seed)
        return None, scores[settings.lr] + (0.05 if seed == 101 else -0.05)  # mean: scores

    monkeypatch.setattr(LR, "train_one", fake_train_one)
    grid = [LR.ModelSettings(lr=v) for v in scores]
    best, acc = LR.search_settings("rnn", grid, (3, 5), seeds=(100, 101), config=DistanceExperimentConfig())
    assert best.lr == 0.2 and acc.shape == (3, 2)
    torch.testing.assert_close(acc[:, 0], torch.tensor([0.6, 0.9, 0.7]))
    assert seen_valid_seeds == {DistanceExperimentConfig().valid_seed + 10**6}, (
        "the search must not score on the comparison's validation sequences"
    )
    with pytest.raises(ValueError, match="candidates"):
        LR.search_settings("rnn", [], (3,), seeds=(0,))
    with pytest.raises(ValueError, match="seeds"):
        LR.search_settings("rnn", grid, (3,), seeds=())


def _oracle_state_grads(model, X, y):
    """Autograd through torch's own cells (nn.RNNCell / nn.LSTMCell), unrolled by hand."""
    r, H = model.rnn, model.config.hidden_size
    lstm = model.config.cell == "lstm"
    cell = (nn.LSTMCell if lstm else nn.RNNCell)(r.input_size, H)
    cell.load_state_dict({k.removesuffix("_l0"): v for k, v in r.state_dict().items()})
    x = model.embed(X).detach().transpose(0, 1)  # (T, B, D)
    h = torch.zeros(X.shape[0], H, requires_grad=True)
    c = torch.zeros(X.shape[0], H, requires_grad=True)
    hs, cs = [], []
    for t in range(x.shape[0]):
        if lstm:
            h, c = cell(x[t], (h, c))
            cs.append(c)
        else:
            h = cell(x[t], h)
        hs.append(h)
    loss = nn.functional.cross_entropy(model.head(h), y, reduction="sum")
    grads = torch.autograd.grad(loss, hs + cs)
    norms = torch.stack([g.norm(dim=-1) for g in grads]).detach()
    T = x.shape[0]
    return {"h": norms[:T], "c": norms[T:]} if lstm else {"h": norms}


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_state_grad_norms_match_autograd_through_torch_cells(kind):
    torch.manual_seed(0)
    model = _randomised(make_model(kind, 5), seed=3)
    X, y = torch.randint(0, 10, (4, 9)), torch.tensor([0, 1, 1, 0])  # (B, T), (B,)
    got, oracle = LR.state_grad_norms(model, X, y), _oracle_state_grads(model, X, y)
    assert got.keys() == oracle.keys()
    for state in got:
        assert got[state].shape == (9, 4)
        torch.testing.assert_close(got[state], oracle[state], atol=1e-5, rtol=1e-4)


def test_time_per_sequence_is_positive():
    assert R.time_per_sequence(nn.RNN(4, 4, batch_first=True), T=5, d=4, repeats=2) > 0
