"""Chapter 1 — recurrent networks and their limits: the Elman RNN, backpropagation through
time, the LSTM cell, and why information from far back fades.

Weights use ``torch.nn.RNN`` / ``torch.nn.LSTM``'s layout so that a layer's parameters can be
copied straight in: ``W_ih`` is (H, D) (or (4H, D) for the LSTM), ``W_hh`` is (H, H) (or
(4H, H)), and there are two biases ``b_ih`` and ``b_hh`` that are simply added.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor, nn

from .attention import scaled_dot_product_attention
from .reference import reference


def _shape(t: Tensor) -> tuple:
    return tuple(t.shape)


def _check_rnn_args(
    x: Tensor,
    W_ih: Tensor,
    W_hh: Tensor,
    b_ih: Tensor,
    b_hh: Tensor,
    h0: Optional[Tensor],
    batch_first: bool,
    gates: int = 1,
) -> None:
    if not isinstance(x, Tensor) or x.dim() != 3:
        got = _shape(x) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"x must be 3-D, (T, B, D) or with batch_first (B, T, D); got {got}")
    D = x.shape[-1]
    if W_hh.dim() != 2 or W_hh.shape[0] != gates * W_hh.shape[1]:
        raise ValueError(f"W_hh must be ({gates}·H, H); got {_shape(W_hh)}")
    H = W_hh.shape[1]
    if _shape(W_ih) != (gates * H, D):
        raise ValueError(
            f"W_ih must be ({gates}·H, D) = {(gates * H, D)} for x {_shape(x)} and W_hh {_shape(W_hh)}; "
            f"got {_shape(W_ih)}"
        )
    for name, b in (("b_ih", b_ih), ("b_hh", b_hh)):
        if _shape(b) != (gates * H,):
            raise ValueError(f"{name} must be ({gates}·H,) = {(gates * H,)}; got {_shape(b)}")
    B = x.shape[0] if batch_first else x.shape[1]
    if h0 is not None and _shape(h0) != (B, H):
        raise ValueError(f"h0 must be (B, H) = {(B, H)}; got {_shape(h0)}")


@reference
def rnn_forward(
    x: Tensor,
    W_ih: Tensor,
    W_hh: Tensor,
    b_ih: Tensor,
    b_hh: Tensor,
    h0: Optional[Tensor] = None,
    batch_first: bool = False,
) -> tuple[Tensor, Tensor]:
    """Elman RNN: h_t = tanh(x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh), h_0 = h0 (zeros if None).

    x: (T, B, D), or (B, T, D) if batch_first   W_ih: (H, D)  W_hh: (H, H)  b_ih, b_hh: (H,)
    h0: (B, H) or None.
    Returns (outputs, h_T): outputs stacks h_1 … h_T as (T, B, H) (or (B, T, H) if batch_first),
    h_T is the last hidden state (B, H).
    """
    _check_rnn_args(x, W_ih, W_hh, b_ih, b_hh, h0, batch_first)
    if batch_first:
        x = x.transpose(0, 1)  # (T, B, D)
    T, B, _ = x.shape
    H = W_hh.shape[0]
    h = h0 if h0 is not None else x.new_zeros(B, H)  # (B, H)
    x_proj = x @ W_ih.T + b_ih  # (T, B, H): the input part of every step at once
    outputs = []
    for t in range(T):  # the recurrence: step t needs h_{t-1}
        h = torch.tanh(x_proj[t] + h @ W_hh.T + b_hh)  # (B, H)
        outputs.append(h)
    out = torch.stack(outputs)  # (T, B, H)
    return (out.transpose(0, 1) if batch_first else out), h


@reference
def bptt_grad_norms(h: Tensor, W_hh: Tensor, grad_last: Tensor) -> Tensor:
    """‖∂L/∂h_t‖ for t = 1 … T when the loss L depends on the last hidden state only.

    Backpropagation through time for h_t = tanh(a_t), a_t = … + h_{t-1} W_hhᵀ:
        g_T = ∂L/∂h_T = grad_last,   g_{t-1} = (g_t ⊙ (1 − h_t²)) W_hh.
    h: (T, B, H) the hidden states h_1 … h_T (rnn_forward's outputs)  W_hh: (H, H)
    grad_last: (B, H).
    Returns (T, B): row t-1 holds ‖g_t‖ (the L2 norm over H) for every sequence of the batch.
    """
    if h.dim() != 3:
        raise ValueError(f"h must be (T, B, H); got {_shape(h)}")
    T, B, H = h.shape
    if _shape(W_hh) != (H, H):
        raise ValueError(f"W_hh must be (H, H) = {(H, H)} for h {_shape(h)}; got {_shape(W_hh)}")
    if _shape(grad_last) != (B, H):
        raise ValueError(f"grad_last must be (B, H) = {(B, H)} for h {_shape(h)}; got {_shape(grad_last)}")
    g = grad_last  # (B, H) = ∂L/∂h_T
    norms = [g.norm(dim=-1)]
    for t in range(T - 1, 0, -1):  # from h_t back to h_{t-1}
        g = (g * (1 - h[t] ** 2)) @ W_hh  # (B, H) = ∂L/∂h_{t-1}
        norms.append(g.norm(dim=-1))
    return torch.stack(norms[::-1])  # (T, B), in time order


@reference
def lstm_cell(
    x: Tensor, h: Tensor, c: Tensor, W_ih: Tensor, W_hh: Tensor, b_ih: Tensor, b_hh: Tensor
) -> tuple[Tensor, Tensor]:
    """One LSTM step, gates in torch's order (input i, forget f, cell g, output o):

        [i, f, g, o] = x W_ihᵀ + b_ih + h W_hhᵀ + b_hh
        c' = σ(f) ⊙ c + σ(i) ⊙ tanh(g),   h' = σ(o) ⊙ tanh(c')

    x: (B, D)  h, c: (B, H)  W_ih: (4H, D)  W_hh: (4H, H)  b_ih, b_hh: (4H,)
    Returns (h', c'), each (B, H).
    """
    if x.dim() != 2 or h.dim() != 2 or _shape(c) != _shape(h) or x.shape[0] != h.shape[0]:
        raise ValueError(
            f"x must be (B, D) and h, c (B, H) with the same B; got x {_shape(x)}, h {_shape(h)}, c {_shape(c)}"
        )
    _check_rnn_args(x[None], W_ih, W_hh, b_ih, b_hh, h, False, gates=4)
    gates = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh  # (B, 4H)
    i, f, g, o = gates.chunk(4, dim=-1)  # (B, H) each
    c_next = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)  # (B, H): additive memory
    h_next = torch.sigmoid(o) * torch.tanh(c_next)  # (B, H)
    return h_next, c_next


def grad_norms_autograd(
    x: Tensor, W_ih: Tensor, W_hh: Tensor, b_ih: Tensor, b_hh: Tensor, grad_last: Optional[Tensor] = None
) -> Tensor:
    """‖∂L/∂h_t‖ by autograd, L = Σ (h_T ⊙ grad_last) (grad_last defaults to ones). Returns (T, B).

    x: (T, B, D); weights as in :func:`rnn_forward`. Used to check :func:`bptt_grad_norms`.
    """
    T, B, _ = x.shape
    H = W_hh.shape[0]
    h = x.new_zeros(B, H).requires_grad_()  # a leaf, so that every h_t is part of the graph
    states = []
    with torch.enable_grad():
        for t in range(T):
            h = torch.tanh(x[t] @ W_ih.T + b_ih + h @ W_hh.T + b_hh)  # (B, H)
            states.append(h)
        g = torch.ones_like(h) if grad_last is None else grad_last
        grads = torch.autograd.grad((h * g).sum(), states)  # tuple of T tensors (B, H)
    return torch.stack([gr.norm(dim=-1) for gr in grads])  # (T, B)


def random_rnn_weights(
    D: int, H: int, scale: float, seed: int = 0, device: Optional[torch.device] = None
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(W_ih, W_hh, b_ih, b_hh) with W_hh = scale · Q for a random orthogonal Q, so that every
    singular value of W_hh equals ``scale``: below 1 gradients vanish, above 1 they can explode."""
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(H, H, generator=g))  # (H, H) orthogonal
    W_ih = torch.randn(H, D, generator=g) / D**0.5
    zeros = torch.zeros(H)
    return tuple(t.to(device) for t in (W_ih, scale * Q, zeros, zeros.clone()))  # type: ignore[return-value]


class VanillaRNN(nn.Module):
    """A stack of Elman RNN layers built on :func:`rnn_forward`, with ``nn.RNN``'s parameter
    names (``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0``, … per layer).

    x: (T, B, D) (or (B, T, D) if batch_first), h0: (num_layers, B, H) or None.
    Returns (outputs of the last layer (T, B, H), h_n (num_layers, B, H)), as ``nn.RNN`` does.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, batch_first: bool = False):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be ≥ 1; got {num_layers}")
        self.hidden_size, self.num_layers, self.batch_first = hidden_size, num_layers, batch_first
        bound = hidden_size**-0.5  # nn.RNN's initialisation: U(-1/√H, 1/√H)
        for layer in range(num_layers):
            d_in = input_size if layer == 0 else hidden_size
            for name, shape in (
                ("weight_ih", (hidden_size, d_in)),
                ("weight_hh", (hidden_size, hidden_size)),
                ("bias_ih", (hidden_size,)),
                ("bias_hh", (hidden_size,)),
            ):
                self.register_parameter(f"{name}_l{layer}", nn.Parameter(torch.empty(shape).uniform_(-bound, bound)))

    def forward(self, x: Tensor, h0: Optional[Tensor] = None) -> tuple[Tensor, Tensor]:
        out, last = x, []
        for layer in range(self.num_layers):
            p = [getattr(self, f"{n}_l{layer}") for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            out, h_n = rnn_forward(out, *p, h0=None if h0 is None else h0[layer], batch_first=self.batch_first)
            last.append(h_n)
        return out, torch.stack(last)  # (T, B, H), (num_layers, B, H)


@dataclass
class RecurrentClassifierConfig:
    """An embedding, one recurrent layer, and a linear head on the last hidden state."""

    vocab_size: int = 64  # number of token ids
    d_embed: int = 16  # embedding width
    hidden_size: int = 32  # recurrent state width H
    n_classes: int = 2  # output classes
    cell: str = "rnn"  # "rnn" (Elman, tanh) or "lstm"
    forget_bias: Optional[float] = None  # LSTM only: initial forget-gate bias (None: torch's init)


class RecurrentClassifier(nn.Module):
    """Read x (B, T) token ids left to right, classify from h_T: logits (B, n_classes).

    Uses torch's fused ``nn.RNN`` / ``nn.LSTM`` (same maths as :func:`rnn_forward` and
    :func:`lstm_cell`, much faster) so that chapter 1's experiment fits its time budget.
    """

    def __init__(self, config: RecurrentClassifierConfig):
        super().__init__()
        if config.cell not in ("rnn", "lstm"):
            raise ValueError(f"config.cell must be 'rnn' or 'lstm'; got {config.cell!r}")
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.d_embed)
        recurrent = nn.RNN if config.cell == "rnn" else nn.LSTM
        self.rnn = recurrent(config.d_embed, config.hidden_size, batch_first=True)
        self.head = nn.Linear(config.hidden_size, config.n_classes)
        if config.forget_bias is not None:
            if config.cell != "lstm":
                raise ValueError(f"forget_bias applies to cell='lstm' only; got cell={config.cell!r}")
            H = config.hidden_size
            with torch.no_grad():  # gates are stacked (i, f, g, o): rows H … 2H are the forget gate
                self.rnn.bias_ih_l0[H : 2 * H].fill_(config.forget_bias)
                self.rnn.bias_hh_l0[H : 2 * H].zero_()  # σ(f) starts near σ(forget_bias) for every unit

    def forward(self, x: Tensor) -> Tensor:
        out, _ = self.rnn(self.embed(x))  # (B, T, H)
        return self.head(out[:, -1])  # (B, n_classes)


class SelfAttentionLayer(nn.Module):
    """One self-attention layer for timing: q, k, v = x W_q, x W_k, x W_v; softmax(q kᵀ/√d) v.

    x: (B, T, d) → (B, T, d). Every position is computed at once (no loop over time).
    """

    def __init__(self, d: int):
        super().__init__()
        self.qkv = nn.Linear(d, 3 * d)

    def forward(self, x: Tensor) -> Tensor:
        q, k, v = self.qkv(x).chunk(3, dim=-1)  # (B, T, d) each
        return scaled_dot_product_attention(q, k, v)  # (B, T, d)


def time_per_sequence(
    layer: nn.Module, T: int, d: int, batch: int = 8, repeats: int = 5, device: Optional[torch.device] = None
) -> float:
    """Median seconds for ``layer`` to process a batch of random sequences (B, T, d) (no grad)."""
    x = torch.randn(batch, T, d, device=device)
    times = []
    with torch.no_grad():
        layer(x)  # warm-up
        for _ in range(repeats):
            if x.is_cuda:
                torch.cuda.synchronize()
            start = time.perf_counter()
            layer(x)
            if x.is_cuda:
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]
