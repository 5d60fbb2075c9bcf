"""Common mistakes of chapter 5 (positional encoding). Each fails the graded test cell it names."""

import math

import torch
import torch.nn.functional as F
from torch import nn

from . import Catalogue

catalogue = Catalogue("05_positional_encoding")
mistake = catalogue.mistake


# --- permutation_equivariance_gap -------------------------------------------------------------
@mistake(
    "output-not-permuted",
    cell="test_permutation_equivariance",
    replaces="permutation_equivariance_gap",
    explanation="You compare attn(x[:, perm]) with attn(x) itself; equivariance says the output is "
    "permuted too, so compare with attn(x)[:, perm].",
    hint="gap = (attn(x[:, perm]) - attn(x)[:, perm]).abs().max().item().",
)
def gap_output_not_permuted(attn, x, perm):
    with torch.no_grad():
        return (attn(x[:, perm]) - attn(x)).abs().max().item()


@mistake(
    "inverse-permutation-on-output",
    cell="test_permutation_equivariance",
    replaces="permutation_equivariance_gap",
    explanation="You permute the output with the inverse permutation (argsort(perm)); x[:, perm] "
    "moves token perm[i] to place i, and the output moves the same way.",
    hint="Index the output with the same perm as the input: attn(x)[:, perm].",
)
def gap_inverse_permutation(attn, x, perm):
    with torch.no_grad():
        return (attn(x[:, perm]) - attn(x)[:, perm.argsort()]).abs().max().item()


@mistake(
    "mean-not-max",
    cell="test_permutation_equivariance",
    replaces="permutation_equivariance_gap",
    explanation="You return the mean difference; the evidence asked for is the largest one.",
    hint="Use .abs().max().item().",
)
def gap_mean(attn, x, perm):
    with torch.no_grad():
        return (attn(x[:, perm]) - attn(x)[:, perm]).abs().mean().item()


# --- naive encodings --------------------------------------------------------------------------
@mistake(
    "index-from-one",
    cell="test_index_and_normalized",
    replaces="index_encoding",
    explanation="Your positions start at 1; the course counts positions from 0.",
    hint="torch.arange(T, dtype=torch.float32, device=device).",
)
def index_from_one(T, device=None):
    return torch.arange(1, T + 1, dtype=torch.float32, device=device)


@mistake(
    "index-as-int",
    cell="test_index_and_normalized",
    replaces="index_encoding",
    explanation="You return integer positions; an encoding added to embeddings must be float.",
    hint="Pass dtype=torch.float32 to torch.arange.",
)
def index_as_int(T, device=None):
    return torch.arange(T, device=device)


@mistake(
    "normalized-by-T-minus-1",
    cell="test_index_and_normalized",
    replaces="normalized_encoding",
    explanation="You divide by T − 1 (so the last position is 1); the scheme divides by T.",
    hint="torch.arange(T, ...) / T.",
)
def normalized_by_t_minus_1(T, device=None):
    return torch.arange(T, dtype=torch.float32, device=device) / max(T - 1, 1)


@mistake(
    "normalized-integer-division",
    cell="test_index_and_normalized",
    replaces="normalized_encoding",
    explanation="Integer division pos // T is 0 for every position.",
    hint="Make the positions float before dividing: torch.arange(T, dtype=torch.float32) / T.",
)
def normalized_integer_division(T, device=None):
    return (torch.arange(T, device=device) // T).float()


@mistake(
    "binary-msb-first",
    cell="test_binary_encoding",
    replaces="binary_encoding",
    explanation="Your column 0 holds the most significant bit; the exercise puts the least "
    "significant bit (pos mod 2) in column 0.",
    hint="Column b is (pos >> b) & 1 for b = 0, 1, …, n_bits − 1.",
)
def binary_msb_first(T, n_bits, device=None):
    pos = torch.arange(T, device=device)
    bits = torch.arange(n_bits - 1, -1, -1, device=device)
    return ((pos[:, None] >> bits[None, :]) & 1).float()


@mistake(
    "binary-bool",
    cell="test_binary_encoding",
    replaces="binary_encoding",
    explanation="You return a boolean tensor; the encoding is float 0/1.",
    hint="Convert with .float().",
)
def binary_bool(T, n_bits, device=None):
    pos = torch.arange(T, device=device)
    bits = torch.arange(n_bits, device=device)
    return ((pos[:, None] >> bits[None, :]) & 1).bool()


@mistake(
    "binary-from-one",
    cell="test_binary_encoding",
    replaces="binary_encoding",
    explanation="You encode positions 1 … T; positions start at 0.",
    hint="Use torch.arange(T).",
)
def binary_from_one(T, n_bits, device=None):
    pos = torch.arange(1, T + 1, device=device)
    bits = torch.arange(n_bits, device=device)
    return ((pos[:, None] >> bits[None, :]) & 1).float()


# --- sinusoidal_encoding ----------------------------------------------------------------------
def _table(T, d, device, exponent, layout="interleaved", start=0, first=torch.sin, second=torch.cos):
    pos = torch.arange(start, start + T, dtype=torch.float32, device=device)[:, None]  # (T, 1)
    i = torch.arange(d // 2, dtype=torch.float32, device=device)  # (d/2,)
    angle = pos / 10000 ** (exponent(i) / d)  # (T, d/2)
    pe = torch.empty(T, d, device=device)
    if layout == "halves":
        pe[:, : d // 2], pe[:, d // 2 :] = first(angle), second(angle)
    else:
        pe[:, 0::2], pe[:, 1::2] = first(angle), second(angle)
    return pe


@mistake(
    "exponent-i-over-d",
    cell="test_sinusoidal_encoding",
    replaces="sinusoidal_encoding",
    explanation="Your exponent is i/d for pair i; the formula uses 2i/d, so your frequencies "
    "fall only to 10000^(−1/2) instead of about 1/10000.",
    hint="ω_i = 10000^(−2i/d) for i = 0 … d/2 − 1 (equivalently torch.arange(0, d, 2) / d).",
)
def pe_exponent_i(T, d, device=None):
    return _table(T, d, device, lambda i: i)


@mistake(
    "sin-cos-swapped",
    cell="test_sinusoidal_encoding",
    replaces="sinusoidal_encoding",
    explanation="You put cos in the even channels and sin in the odd ones.",
    hint="PE[:, 0::2] = sin, PE[:, 1::2] = cos.",
)
def pe_sin_cos_swapped(T, d, device=None):
    return _table(T, d, device, lambda i: 2 * i, first=torch.cos, second=torch.sin)


@mistake(
    "sin-cos-halves",
    cell="test_sinusoidal_encoding",
    replaces="sinusoidal_encoding",
    explanation="You put all sines in the first half and all cosines in the second; the formula "
    "interleaves them (channel 2i sin, 2i+1 cos).",
    hint="Write PE[:, 0::2] and PE[:, 1::2], not PE[:, :d//2] and PE[:, d//2:].",
)
def pe_halves(T, d, device=None):
    return _table(T, d, device, lambda i: 2 * i, layout="halves")


@mistake(
    "positions-from-one",
    cell="test_sinusoidal_encoding",
    replaces="sinusoidal_encoding",
    explanation="Your positions start at 1; PE[0] must be [0, 1, 0, 1, …] (sin 0, cos 0).",
    hint="pos = torch.arange(T).",
)
def pe_from_one(T, d, device=None):
    return _table(T, d, device, lambda i: 2 * i, start=1)


# --- SinusoidalPositionalEncoding -------------------------------------------------------------
def _pe(max_len, d):
    pos = torch.arange(max_len, dtype=torch.float32)[:, None]
    omega = torch.exp(-math.log(10000.0) * torch.arange(0, d, 2, dtype=torch.float32) / d)
    pe = torch.zeros(max_len, d)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(pos * omega), torch.cos(pos * omega)
    return pe


@mistake(
    "pe-as-parameter",
    cell="test_sinusoidal_module",
    replaces="SinusoidalPositionalEncoding",
    explanation="You store the table as an nn.Parameter: the optimiser would change the fixed encoding.",
    hint="self.register_buffer('pe', table).",
)
class PEAsParameter(nn.Module):
    def __init__(self, d_model, max_len=512, dropout=0.0):
        super().__init__()
        self.pe = nn.Parameter(_pe(max_len, d_model))
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        return self.drop(x + self.pe[: x.shape[1]])


@mistake(
    "pe-plain-attribute",
    cell="test_sinusoidal_module",
    replaces="SinusoidalPositionalEncoding",
    explanation="You keep the table as a plain tensor attribute: .to(device) does not move it and "
    "the state dict does not save it.",
    hint="self.register_buffer('pe', table).",
)
class PEPlainAttribute(nn.Module):
    def __init__(self, d_model, max_len=512, dropout=0.0):
        super().__init__()
        self.pe = _pe(max_len, d_model)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        return self.drop(x + self.pe[: x.shape[1]].to(x.device))


@mistake(
    "pe-multiplied",
    cell="test_sinusoidal_module",
    replaces="SinusoidalPositionalEncoding",
    explanation="You multiply the embeddings by the encoding; it is added.",
    hint="return x + self.pe[:T].",
)
class PEMultiplied(nn.Module):
    def __init__(self, d_model, max_len=512, dropout=0.0):
        super().__init__()
        self.register_buffer("pe", _pe(max_len, d_model))
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        return self.drop(x * self.pe[: x.shape[1]])


@mistake(
    "pe-scales-embeddings",
    cell="test_sinusoidal_module",
    replaces="SinusoidalPositionalEncoding",
    explanation="You multiply x by √d_model before adding; the Transformer does that in its embedding "
    "layer, not in the positional encoding.",
    hint="Return x + self.pe[:T] unchanged.",
)
class PEScaled(nn.Module):
    def __init__(self, d_model, max_len=512, dropout=0.0):
        super().__init__()
        self.register_buffer("pe", _pe(max_len, d_model))
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        return self.drop(x * math.sqrt(x.shape[-1]) + self.pe[: x.shape[1]])


@mistake(
    "pe-dropout-ignored",
    cell="test_sinusoidal_module",
    replaces="SinusoidalPositionalEncoding",
    explanation="Your module ignores its dropout argument: in training nothing is dropped.",
    hint="self.drop = nn.Dropout(dropout) in __init__; return self.drop(x + self.pe[:T]).",
)
class PEDropoutIgnored(nn.Module):
    def __init__(self, d_model, max_len=512, dropout=0.0):
        super().__init__()
        self.register_buffer("pe", _pe(max_len, d_model))

    def forward(self, x):
        return x + self.pe[: x.shape[1]]


@mistake(
    "pe-dropout-before-adding",
    cell="test_sinusoidal_module",
    replaces="SinusoidalPositionalEncoding",
    explanation="You drop entries of the embeddings and then add the table; the dropout acts on the sum x + PE.",
    hint="return self.drop(x + self.pe[:T]).",
)
class PEDropoutBeforeAdding(nn.Module):
    def __init__(self, d_model, max_len=512, dropout=0.0):
        super().__init__()
        self.register_buffer("pe", _pe(max_len, d_model))
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        return self.drop(x) + self.pe[: x.shape[1]]


@mistake(
    "pe-dropout-in-eval",
    cell="test_sinusoidal_module",
    replaces="SinusoidalPositionalEncoding",
    explanation="Your dropout also runs in eval mode: F.dropout(t, p) drops by default (training=True).",
    hint="Use an nn.Dropout submodule, or F.dropout(t, p, training=self.training).",
)
class PEDropoutInEval(nn.Module):
    def __init__(self, d_model, max_len=512, dropout=0.0):
        super().__init__()
        self.register_buffer("pe", _pe(max_len, d_model))
        self.p = dropout

    def forward(self, x):
        return F.dropout(x + self.pe[: x.shape[1]], self.p)


@mistake(
    "pe-max-len-5000",
    cell="test_sinusoidal_module",
    replaces="SinusoidalPositionalEncoding",
    explanation="Your max_len defaults to 5000 (PyTorch's tutorial); this module's default is 512.",
    hint="def __init__(self, d_model, max_len=512, dropout=0.0).",
)
class PEMaxLen5000(nn.Module):
    def __init__(self, d_model, max_len=5000, dropout=0.0):
        super().__init__()
        self.register_buffer("pe", _pe(max_len, d_model))
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        return self.drop(x + self.pe[: x.shape[1]])


# --- offset_rotation --------------------------------------------------------------------------
def _rotation(k, d, device, transpose=False, same_angle=False, layout="interleaved"):
    omega = torch.exp(-math.log(10000.0) * torch.arange(0, d, 2, dtype=torch.float32, device=device) / d)
    angle = torch.full_like(omega, float(k)) if same_angle else k * omega
    c, s = torch.cos(angle), torch.sin(angle)
    if transpose:
        s = -s
    M = torch.zeros(d, d, device=device)
    a = torch.arange(0, d, 2, device=device) if layout == "interleaved" else torch.arange(d // 2, device=device)
    b = a + 1 if layout == "interleaved" else a + d // 2
    M[a, a], M[a, b], M[b, a], M[b, b] = c, s, -s, c
    return M


@mistake(
    "rotation-transposed",
    cell="test_offset_rotation",
    replaces="offset_rotation",
    explanation="Your blocks rotate the wrong way: M_k maps PE(pos) to PE(pos − k).",
    hint="From sin(a+b) = sin a cos b + cos a sin b: row 2i is [cos kω_i, sin kω_i], row 2i+1 is "
    "[−sin kω_i, cos kω_i].",
)
def rotation_transposed(k, d, device=None):
    return _rotation(k, d, device, transpose=True)


@mistake(
    "rotation-same-angle",
    cell="test_offset_rotation",
    replaces="offset_rotation",
    explanation="Every block turns by the same angle k; block i must turn by k·ω_i, its own frequency.",
    hint="angle_i = k * 10000^(−2i/d).",
)
def rotation_same_angle(k, d, device=None):
    return _rotation(k, d, device, same_angle=True)


@mistake(
    "rotation-halves-layout",
    cell="test_offset_rotation",
    replaces="offset_rotation",
    explanation="Your blocks pair channel i with channel i + d/2; the encoding pairs 2i (sin) with 2i+1 (cos).",
    hint="Put block i on rows and columns (2i, 2i+1).",
)
def rotation_halves(k, d, device=None):
    return _rotation(k, d, device, layout="halves")
