"""Common mistakes of chapter 4 (multi-head attention). Each fails the graded test cell it names."""

import math

import torch
import torch.nn.functional as F
from torch import nn

from . import Catalogue

catalogue = Catalogue("04_multi_head_attention")
mistake = catalogue.mistake


# --- split_heads ------------------------------------------------------------------------------
@mistake(
    "view-heads-first",
    cell="test_split_heads",
    replaces="split_heads",
    explanation="x.view(B, h, T, d) cuts the flat memory of the whole sequence into h blocks, so a "
    "'head' holds channels of several tokens, not one slice of every token.",
    hint="Keep each token's channels together: x.view(B, T, h, d), then .transpose(1, 2).",
)
def split_heads_view_heads_first(x, n_heads):
    B, T, C = x.shape
    return x.view(B, n_heads, T, C // n_heads)


@mistake(
    "split-no-transpose",
    cell="test_split_heads",
    replaces="split_heads",
    explanation="You return the (B, T, h, d) view: the head axis must come before the time axis.",
    hint="Add .transpose(1, 2) after x.view(B, T, h, d) to get (B, h, T, d).",
)
def split_heads_no_transpose(x, n_heads):
    B, T, C = x.shape
    return x.view(B, T, n_heads, C // n_heads)


@mistake(
    "heads-interleaved",
    cell="test_split_heads",
    replaces="split_heads",
    explanation="Head i gets channels i, i + h, i + 2h, … (every h-th channel) instead of the "
    "contiguous block [i·d, (i+1)·d).",
    hint="View as (B, T, h, d) — heads outer, head channels inner — not (B, T, d, h).",
)
def split_heads_interleaved(x, n_heads):
    B, T, C = x.shape
    return x.view(B, T, C // n_heads, n_heads).permute(0, 3, 1, 2)


# --- merge_heads ------------------------------------------------------------------------------
@mistake(
    "merge-without-transpose",
    cell="test_merge_heads",
    replaces="merge_heads",
    explanation="Reshaping (B, h, T, d) straight to (B, T, h·d) mixes tokens: the heads were never "
    "moved back next to their token.",
    hint="Swap the axes first: x.transpose(1, 2) gives (B, T, h, d), then reshape to (B, T, h·d).",
)
def merge_heads_without_transpose(x):
    B, h, T, d = x.shape
    return x.reshape(B, T, h * d)


@mistake(
    "merge-d-major",
    cell="test_merge_heads",
    replaces="merge_heads",
    explanation="You concatenate channel by channel (d outer, h inner), so the heads end up "
    "interleaved instead of side by side.",
    hint="Use x.transpose(1, 2).reshape(B, T, h * d): head 0's d channels first, then head 1's, …",
)
def merge_heads_d_major(x):
    B, h, T, d = x.shape
    return x.permute(0, 2, 3, 1).reshape(B, T, h * d)


@mistake(
    "merge-sums-heads",
    cell="test_merge_heads",
    replaces="merge_heads",
    explanation="You add the heads together; multi-head attention concatenates them (width h·d).",
    hint="Concatenate: x.transpose(1, 2).reshape(B, T, h * d).",
)
def merge_heads_sum(x):
    return x.sum(dim=1)


@mistake(
    "merge-view-non-contiguous",
    cell="test_merge_heads",
    replaces="merge_heads",
    explanation="After transpose the tensor is not contiguous in memory, so .view(B, T, h·d) raises.",
    hint="Use .reshape(...) (or .contiguous().view(...)) after the transpose.",
)
def merge_heads_view(x):
    B, h, T, d = x.shape
    return x.transpose(1, 2).view(B, T, h * d)


# --- MultiHeadAttention -----------------------------------------------------------------------
class _WrongMHA(nn.Module):
    """A complete multi-head attention whose class attributes switch one mistake on."""

    scale_by_d_model = softmax_over_queries = skip_out_proj = swap_qk = view_heads_first = False
    mask_flipped = mask_after_softmax = average_weights = mask_no_head_axis = kv_from_query = False
    value_from_query = dropout_in_eval = dropout_ignored = weights_after_dropout = False
    dropout_on_output = dropout_not_rescaled = False

    def __init__(self, d_model, n_heads, bias=True, dropout=0.0, use_sdpa=False):
        super().__init__()
        self.d_model, self.n_heads, self.d_head = d_model, n_heads, d_model // n_heads
        self.dropout = dropout
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def _split(self, x):
        B, T, C = x.shape
        if self.view_heads_first:
            return x.view(B, self.n_heads, T, self.d_head)
        return x.view(B, T, self.n_heads, self.d_head).transpose(1, 2)

    def _drop(self, weights):
        """Dropout on the weights (training only), or one of the dropout mistakes."""
        if self.dropout_ignored or self.dropout_on_output:
            return weights
        if self.dropout_not_rescaled:
            return weights * (torch.rand_like(weights) >= self.dropout) if self.training else weights
        return F.dropout(weights, self.dropout, training=self.training or self.dropout_in_eval)

    def forward(self, query, key=None, value=None, mask=None, need_weights=False):
        key = query if key is None or self.kv_from_query else key
        value = (query if self.value_from_query else key) if value is None or self.kv_from_query else value
        B, L, C = query.shape
        q_proj, k_proj = (self.k_proj, self.q_proj) if self.swap_qk else (self.q_proj, self.k_proj)
        q, k, v = self._split(q_proj(query)), self._split(k_proj(key)), self._split(self.v_proj(value))
        scores = q @ k.transpose(-2, -1) / math.sqrt(C if self.scale_by_d_model else self.d_head)
        if mask is not None and mask.dim() == 3 and not self.mask_no_head_axis:
            mask = mask[:, None]
        if mask is not None and not self.mask_after_softmax:
            blocked = mask if self.mask_flipped else ~mask
            scores = scores.masked_fill(blocked, float("-inf"))
        weights = torch.softmax(scores, dim=-2 if self.softmax_over_queries else -1)
        if mask is not None and self.mask_after_softmax:
            weights = weights * mask
        weights = torch.nan_to_num(weights)
        dropped = self._drop(weights)
        if self.weights_after_dropout:
            weights = dropped
        out = (dropped @ v).transpose(1, 2).reshape(B, L, C)
        out = out if self.skip_out_proj else self.out_proj(out)
        if self.dropout_on_output:
            out = F.dropout(out, self.dropout, self.training)
        if self.average_weights:
            weights = weights.mean(dim=1)
        return (out, weights) if need_weights else out


def _mha_mistake(id, cell, explanation, hint, **flags):
    cls = type(f"MHA_{id.replace('-', '_')}", (_WrongMHA,), flags)
    mistake(id, cell=cell, replaces="MultiHeadAttention", explanation=explanation, hint=hint)(cls)
    return cls


_mha_mistake(
    "scale-by-sqrt-d_model",
    "test_mha_forward",
    "You divide the scores by √d_model; each head's dot products have d_head = d_model / h terms.",
    "Scale by math.sqrt(self.d_head), the width of one head.",
    scale_by_d_model=True,
)
_mha_mistake(
    "softmax-over-queries",
    "test_mha_forward",
    "Your softmax runs over the queries (dim=-2), so a query's weights do not sum to 1.",
    "Normalise over the keys: torch.softmax(scores, dim=-1).",
    softmax_over_queries=True,
)
_mha_mistake(
    "no-output-projection",
    "test_mha_forward",
    "You return the concatenated heads without the output projection W^O.",
    "Pass the merged heads through self.out_proj.",
    skip_out_proj=True,
)
_mha_mistake(
    "q-k-projections-swapped",
    "test_mha_forward",
    "Queries go through k_proj and keys through q_proj: the q/k order of the packed "
    "in_proj_weight [W_q; W_k; W_v] is swapped.",
    "Queries come from self.q_proj(query), keys from self.k_proj(key).",
    swap_qk=True,
)
_mha_mistake(
    "mha-view-heads-first",
    "test_mha_forward",
    "Your heads are cut with view(B, h, T, d), which mixes tokens inside a head.",
    "Split with view(B, T, h, d).transpose(1, 2).",
    view_heads_first=True,
)
_mha_mistake(
    "cross-kv-from-query",
    "test_mha_forward",
    "Keys and values always come from the query, so cross-attention ignores key and value.",
    "Use key and value when they are given; default to the query only when they are None.",
    kv_from_query=True,
)
_mha_mistake(
    "value-defaults-to-query",
    "test_mha_forward",
    "With a key given and no value, your value falls back to the query; it must fall back "
    "to the key (value defaults to key, key defaults to query).",
    "value = key if value is None else value, after key = query if key is None else key.",
    value_from_query=True,
)
_mha_mistake(
    "mask-convention-flipped",
    "test_mha_masks_and_weights",
    "You block where the mask is True; in this course (and SDPA) True means 'may attend' — "
    "the opposite of nn.MultiheadAttention's boolean masks.",
    "Fill the scores with -inf where ~mask.",
    mask_flipped=True,
)
_mha_mistake(
    "mask-after-softmax",
    "test_mha_masks_and_weights",
    "You zero the blocked weights after the softmax, so the allowed weights no longer sum to 1.",
    "Mask the scores (-inf) before the softmax.",
    mask_after_softmax=True,
)
_mha_mistake(
    "weights-averaged-over-heads",
    "test_mha_masks_and_weights",
    "need_weights returns the weights averaged over the heads (B, L, S); the exercise asks "
    "for each head's weights (B, h, L, S).",
    "Return the softmax weights before any mean over dim 1.",
    average_weights=True,
)
_mha_mistake(
    "mask-missing-head-axis",
    "test_mha_masks_and_weights",
    "A (B, L, S) or (B, 1, S) mask broadcast against (B, h, L, S) scores lines the batch axis up with the head axis.",
    "Insert the head axis first: mask[:, None] has shape (B, 1, L, S).",
    mask_no_head_axis=True,
)

_mha_mistake(
    "dropout-in-eval",
    "test_mha_masks_and_weights",
    "Your dropout also runs in eval mode: F.dropout(w, p) drops by default (training=True).",
    "Pass the module's mode: F.dropout(weights, self.dropout, training=self.training), or use an nn.Dropout submodule.",
    dropout_in_eval=True,
)
_mha_mistake(
    "dropout-ignored",
    "test_mha_masks_and_weights",
    "Your layer ignores its dropout argument: in training the attention weights are never dropped.",
    "Apply F.dropout(weights, self.dropout, self.training) to the weights before weights @ v.",
    dropout_ignored=True,
)
_mha_mistake(
    "weights-after-dropout",
    "test_mha_masks_and_weights",
    "need_weights returns the weights after dropout; the layer documents the softmax weights "
    "before dropout (each row sums to 1).",
    "Keep the softmax output for need_weights and use a dropped copy for weights @ v.",
    weights_after_dropout=True,
)
_mha_mistake(
    "dropout-on-output",
    "test_mha_masks_and_weights",
    "You drop entries of the layer's output; the dropout of this layer acts on the attention "
    "weights, before they multiply the values.",
    "dropped = F.dropout(weights, self.dropout, self.training); out = out_proj(merge(dropped @ v)).",
    dropout_on_output=True,
)


# A hand-made mask without the 1/(1 − p) rescaling draws its own random numbers, so a replay
# cannot reproduce the student's mask: the test's message (a scaling hint) says what is wrong.
_WrongMHA_no_rescale = type("MHA_dropout_not_rescaled", (_WrongMHA,), {"dropout_not_rescaled": True})
mistake(
    "dropout-not-rescaled",
    cell="test_mha_masks_and_weights",
    replaces="MultiHeadAttention",
    explanation="Your dropout zeroes weights but does not divide the kept ones by 1 − p, so the "
    "expected output in training differs from the output in eval mode.",
    hint="Use F.dropout (it rescales by 1/(1 − p)) instead of a hand-made mask.",
    named=False,
)(_WrongMHA_no_rescale)


# --- cost -------------------------------------------------------------------------------------
@mistake(
    "params-without-output-projection",
    cell="test_mha_param_count",
    replaces="mha_param_count",
    explanation="You count W_Q, W_K and W_V but not the output projection W^O.",
    hint="Four C × C matrices (and four biases of C when bias=True).",
)
def params_without_out(d_model, n_heads, bias=True):
    return 3 * d_model * d_model + (3 * d_model if bias else 0)


@mistake(
    "params-times-heads",
    cell="test_mha_param_count",
    replaces="mha_param_count",
    explanation="You give every head full C × C matrices; the h heads share them, each using C/h columns.",
    hint="The count does not depend on n_heads: 4C² + 4C.",
)
def params_times_heads(d_model, n_heads, bias=True):
    return n_heads * (4 * d_model * d_model + (4 * d_model if bias else 0))


@mistake(
    "params-ignore-bias-flag",
    cell="test_mha_param_count",
    replaces="mha_param_count",
    explanation="You always count the biases, even when bias=False.",
    hint="Add 4C only when bias is True.",
)
def params_ignore_bias(d_model, n_heads, bias=True):
    return 4 * d_model * d_model + 4 * d_model


@mistake(
    "flops-counts-macs",
    cell="test_mha_flops",
    replaces="mha_flops",
    explanation="You count multiply-adds; one multiply-add is 2 FLOPs.",
    hint="An (a × b) @ (b × c) product costs 2·a·b·c FLOPs.",
)
def flops_macs(n, d_model, n_heads):
    return 4 * n * d_model**2 + 2 * n**2 * d_model


@mistake(
    "flops-forgets-weighted-sum",
    cell="test_mha_flops",
    replaces="mha_flops",
    explanation="You count the scores Q Kᵀ but not the product of the weights with V.",
    hint="Attention has two n × n products per head: Q Kᵀ and weights @ V (2n²C FLOPs each).",
)
def flops_no_av(n, d_model, n_heads):
    return 8 * n * d_model**2 + 2 * n**2 * d_model


@mistake(
    "flops-times-heads",
    cell="test_mha_flops",
    replaces="mha_flops",
    explanation="You multiply the attention products by h as if each head worked on all C channels.",
    hint="Each head works on d_head = C/h channels, so h heads together cost 4n²C, whatever h is.",
)
def flops_times_heads(n, d_model, n_heads):
    return 8 * n * d_model**2 + 4 * n**2 * d_model * n_heads


@mistake(
    "flops-forgets-projections",
    cell="test_mha_flops",
    replaces="mha_flops",
    explanation="You count only the attention products and forget the four C × C projections.",
    hint="Add 4 projections × 2·n·C² FLOPs = 8nC².",
)
def flops_no_proj(n, d_model, n_heads):
    return 4 * n**2 * d_model
