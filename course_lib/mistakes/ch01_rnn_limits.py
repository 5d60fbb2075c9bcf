"""Common mistakes of chapter 1 (RNN limitations). Each fails the graded test cell it names."""

import torch

from . import Catalogue

catalogue = Catalogue("01_rnn_limits")
mistake = catalogue.mistake


# --- rnn_forward ------------------------------------------------------------------------------
def _rnn(
    x,
    W_ih,
    W_hh,
    b_ih,
    b_hh,
    h0=None,
    batch_first=False,
    *,
    carry=True,
    transpose_hh=False,
    act=torch.tanh,
    both_biases=True,
    use_h0=True,
    respect_batch_first=True,
):
    if batch_first and respect_batch_first:
        x = x.transpose(0, 1)
    T, B, _ = x.shape
    H = W_hh.shape[0]
    zeros = x.new_zeros(B, H)
    h = h0 if (h0 is not None and use_h0) else zeros
    W_rec = W_hh if transpose_hh else W_hh.T
    outputs = []
    for t in range(T):
        prev = h if carry else (h0 if (h0 is not None and use_h0) else zeros)
        a = x[t] @ W_ih.T + b_ih + prev @ W_rec + (b_hh if both_biases else 0)
        h = act(a)
        outputs.append(h)
    out = torch.stack(outputs)
    return (out.transpose(0, 1) if batch_first and respect_batch_first else out), h


@mistake(
    "hidden-state-not-carried",
    cell="test_rnn_forward",
    replaces="rnn_forward",
    explanation="Every step starts again from h0 (or zeros) instead of the previous hidden state, so the "
    "network has no memory.",
    hint="Keep h in a variable that each step overwrites: h = tanh(x_t W_ihᵀ + b_ih + h W_hhᵀ + b_hh).",
)
def rnn_hidden_not_carried(x, W_ih, W_hh, b_ih, b_hh, h0=None, batch_first=False):
    return _rnn(x, W_ih, W_hh, b_ih, b_hh, h0, batch_first, carry=False)


@mistake(
    "W_hh-transposed",
    cell="test_rnn_forward",
    replaces="rnn_forward",
    explanation="You multiply the hidden state by W_hh instead of W_hhᵀ; torch stores W_hh as (H_out, H_in).",
    hint="Use h @ W_hh.T (the same convention as x @ W_ih.T).",
)
def rnn_W_hh_transposed(x, W_ih, W_hh, b_ih, b_hh, h0=None, batch_first=False):
    return _rnn(x, W_ih, W_hh, b_ih, b_hh, h0, batch_first, transpose_hh=True)


@mistake(
    "tanh-missing",
    cell="test_rnn_forward",
    replaces="rnn_forward",
    explanation="Your update has no tanh: the hidden state is a linear function of the inputs and can grow "
    "without bound.",
    hint="Wrap the sum in torch.tanh(...).",
)
def rnn_tanh_missing(x, W_ih, W_hh, b_ih, b_hh, h0=None, batch_first=False):
    return _rnn(x, W_ih, W_hh, b_ih, b_hh, h0, batch_first, act=lambda a: a)


@mistake(
    "one-bias",
    cell="test_rnn_forward",
    replaces="rnn_forward",
    explanation="You add only b_ih; torch's RNN adds both biases, b_ih + b_hh.",
    hint="Add b_hh as well: ... + b_ih + h @ W_hh.T + b_hh.",
)
def rnn_one_bias(x, W_ih, W_hh, b_ih, b_hh, h0=None, batch_first=False):
    return _rnn(x, W_ih, W_hh, b_ih, b_hh, h0, batch_first, both_biases=False)


@mistake(
    "h0-ignored",
    cell="test_rnn_forward",
    replaces="rnn_forward",
    explanation="You always start from zeros, even when an initial state h0 is given.",
    hint="Start from h0 when it is not None: h = h0 if h0 is not None else x.new_zeros(B, H).",
)
def rnn_h0_ignored(x, W_ih, W_hh, b_ih, b_hh, h0=None, batch_first=False):
    return _rnn(x, W_ih, W_hh, b_ih, b_hh, h0, batch_first, use_h0=False)


@mistake(
    "batch-first-ignored",
    cell="test_rnn_forward",
    replaces="rnn_forward",
    explanation="With batch_first=True the input is (B, T, D), but you step along dim 0 as if it were time.",
    hint="Transpose to (T, B, D) first when batch_first, and transpose the outputs back to (B, T, H).",
)
def rnn_batch_first_ignored(x, W_ih, W_hh, b_ih, b_hh, h0=None, batch_first=False):
    return _rnn(x, W_ih, W_hh, b_ih, b_hh, h0, batch_first, respect_batch_first=False)


# --- bptt_grad_norms --------------------------------------------------------------------------
def _bptt(h, W_hh, grad_last, *, transpose=False, derivative="now", reverse=True, squared=False):
    T = h.shape[0]
    g = grad_last
    norms = [g]
    for t in range(T - 1, 0, -1):
        if derivative == "now":
            d = 1 - h[t] ** 2
        elif derivative == "previous":
            d = 1 - h[t - 1] ** 2
        else:
            d = torch.ones_like(h[t])
        g = (g * d) @ (W_hh.T if transpose else W_hh)
        norms.append(g)
    norms = [(n**2).sum(-1) if squared else n.norm(dim=-1) for n in norms]
    return torch.stack(norms[::-1] if reverse else norms)


@mistake(
    "bptt-W_hh-transposed",
    cell="test_bptt_grad_norms",
    replaces="bptt_grad_norms",
    explanation="You multiply the gradient by W_hhᵀ; going backwards through h_t = tanh(… + h_{t-1} W_hhᵀ) "
    "multiplies by W_hh.",
    hint="g_{t-1} = (g_t * (1 - h_t**2)) @ W_hh.",
)
def bptt_W_hh_transposed(h, W_hh, grad_last):
    return _bptt(h, W_hh, grad_last, transpose=True)


@mistake(
    "bptt-no-tanh-derivative",
    cell="test_bptt_grad_norms",
    replaces="bptt_grad_norms",
    explanation="You skip the derivative of tanh, 1 − h_t², so your gradients ignore the saturation that "
    "makes them vanish.",
    hint="Multiply by (1 - h[t] ** 2) before the matrix product.",
)
def bptt_no_tanh_derivative(h, W_hh, grad_last):
    return _bptt(h, W_hh, grad_last, derivative="none")


@mistake(
    "bptt-derivative-one-step-off",
    cell="test_bptt_grad_norms",
    replaces="bptt_grad_norms",
    explanation="You use 1 − h_{t-1}² for the step from h_t back to h_{t-1}; the tanh that produced h_t is "
    "the one to differentiate.",
    hint="Going from g_t to g_{t-1}, multiply by 1 - h[t]**2 (the state the tanh produced).",
)
def bptt_derivative_one_step_off(h, W_hh, grad_last):
    return _bptt(h, W_hh, grad_last, derivative="previous")


@mistake(
    "bptt-reversed-time",
    cell="test_bptt_grad_norms",
    replaces="bptt_grad_norms",
    explanation="Your norms come out from the last step to the first; row 0 must be step 1.",
    hint="Collect the norms while walking backwards, then reverse the list before stacking.",
)
def bptt_reversed_time(h, W_hh, grad_last):
    return _bptt(h, W_hh, grad_last, reverse=False)


@mistake(
    "bptt-squared-norm",
    cell="test_bptt_grad_norms",
    replaces="bptt_grad_norms",
    explanation="You return the squared norm Σ g²; the exercise asks for the L2 norm √(Σ g²).",
    hint="Use g.norm(dim=-1).",
)
def bptt_squared_norm(h, W_hh, grad_last):
    return _bptt(h, W_hh, grad_last, squared=True)


# --- lstm_cell --------------------------------------------------------------------------------
def _lstm(x, h, c, W_ih, W_hh, b_ih, b_hh, *, order="ifgo", g_act=torch.tanh, forget=True, tanh_c=True):
    gates = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh
    chunks = dict(zip(order, gates.chunk(4, dim=-1)))
    i, f, g, o = chunks["i"], chunks["f"], chunks["g"], chunks["o"]
    keep = torch.sigmoid(f) * c if forget else c
    c_next = keep + torch.sigmoid(i) * g_act(g)
    h_next = torch.sigmoid(o) * (torch.tanh(c_next) if tanh_c else c_next)
    return h_next, c_next


@mistake(
    "lstm-gate-order",
    cell="test_lstm_cell",
    replaces="lstm_cell",
    explanation="You split the gates as (i, f, o, g); torch packs them as input, forget, cell, output (i, f, g, o).",
    hint="i, f, g, o = gates.chunk(4, dim=-1).",
)
def lstm_gate_order(x, h, c, W_ih, W_hh, b_ih, b_hh):
    return _lstm(x, h, c, W_ih, W_hh, b_ih, b_hh, order="ifog")


@mistake(
    "lstm-sigmoid-candidate",
    cell="test_lstm_cell",
    replaces="lstm_cell",
    explanation="The candidate g goes through a sigmoid; it is tanh(g), so the cell can also subtract.",
    hint="c' = σ(f)·c + σ(i)·tanh(g).",
)
def lstm_sigmoid_candidate(x, h, c, W_ih, W_hh, b_ih, b_hh):
    return _lstm(x, h, c, W_ih, W_hh, b_ih, b_hh, g_act=torch.sigmoid)


@mistake(
    "lstm-no-forget-gate",
    cell="test_lstm_cell",
    replaces="lstm_cell",
    explanation="You keep the whole old cell state c; the forget gate σ(f) must scale it.",
    hint="c' = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g).",
)
def lstm_no_forget_gate(x, h, c, W_ih, W_hh, b_ih, b_hh):
    return _lstm(x, h, c, W_ih, W_hh, b_ih, b_hh, forget=False)


@mistake(
    "lstm-output-without-tanh",
    cell="test_lstm_cell",
    replaces="lstm_cell",
    explanation="Your new hidden state is σ(o)·c'; the cell state is squashed first: h' = σ(o)·tanh(c').",
    hint="h' = torch.sigmoid(o) * torch.tanh(c_next).",
)
def lstm_output_without_tanh(x, h, c, W_ih, W_hh, b_ih, b_hh):
    return _lstm(x, h, c, W_ih, W_hh, b_ih, b_hh, tanh_c=False)
