"""Common mistakes of chapter 3 (attention). Each fails the graded test cell it names."""

import math

import torch

from . import Catalogue

catalogue = Catalogue("03_attention")
mistake = catalogue.mistake


# --- attention_scores -------------------------------------------------------------------------
@mistake(
    "scores-unscaled",
    cell="test_attention_scores",
    replaces="attention_scores",
    explanation="Your scores are the raw dot products q·k: the division by √d_k is missing.",
    hint="Divide q @ kᵀ by math.sqrt(d_k), where d_k = q.shape[-1].",
)
def scores_unscaled(q, k):
    return q @ k.transpose(-2, -1)


@mistake(
    "scores-divided-by-d_k",
    cell="test_attention_scores",
    replaces="attention_scores",
    explanation="You divide the dot products by d_k; the scale is √d_k.",
    hint="Use math.sqrt(q.shape[-1]) as the divisor.",
)
def scores_divided_by_d_k(q, k):
    return q @ k.transpose(-2, -1) / q.shape[-1]


@mistake(
    "scores-k-T",
    cell="test_attention_scores",
    replaces="attention_scores",
    explanation="k.T reverses every dimension, so batched keys (B, S, d_k) become (d_k, S, B).",
    hint="Transpose only the last two dims: k.transpose(-2, -1).",
)
def scores_with_k_T(q, k):
    return q @ k.T / math.sqrt(q.shape[-1])


@mistake(
    "scores-softmaxed",
    cell="test_attention_scores",
    replaces="attention_scores",
    explanation="You return the softmax weights; this exercise asks for the scores before the softmax.",
    hint="Return q @ kᵀ / √d_k and leave the softmax to scaled_dot_product_attention.",
)
def scores_softmaxed(q, k):
    return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)


# --- dot_product_variance ---------------------------------------------------------------------
def _dots(d_k, n_samples, generator):
    q = torch.randn(n_samples, d_k, generator=generator)
    k = torch.randn(n_samples, d_k, generator=generator)
    return q, k


@mistake(
    "variance-without-sum",
    cell="test_dot_product_variance",
    replaces="dot_product_variance",
    explanation="You take the variance of the element-wise products q_i·k_i, not of the dot products.",
    hint="Sum over the last dim first: (q * k).sum(dim=-1).",
)
def variance_without_sum(d_k, n_samples=20_000, scaled=False, generator=None):
    q, k = _dots(d_k, n_samples, generator)
    products = (q * k).flatten()
    return (products / math.sqrt(d_k) if scaled else products).var().item()


@mistake(
    "variance-scaled-by-d_k",
    cell="test_dot_product_variance",
    replaces="dot_product_variance",
    explanation="With scaled=True you divide by d_k, which makes the variance 1/d_k instead of 1.",
    hint="Divide the dot products by math.sqrt(d_k).",
)
def variance_scaled_by_d_k(d_k, n_samples=20_000, scaled=False, generator=None):
    q, k = _dots(d_k, n_samples, generator)
    dots = (q * k).sum(-1)
    return (dots / d_k if scaled else dots).var().item()


@mistake(
    "std-instead-of-variance",
    cell="test_dot_product_variance",
    replaces="dot_product_variance",
    explanation="You return the standard deviation (√d_k), not the variance (d_k).",
    hint="Use .var(), not .std().",
)
def std_instead_of_variance(d_k, n_samples=20_000, scaled=False, generator=None):
    q, k = _dots(d_k, n_samples, generator)
    dots = (q * k).sum(-1)
    return (dots / math.sqrt(d_k) if scaled else dots).std().item()


@mistake(
    "variance-ignores-generator",
    cell="test_dot_product_variance",
    replaces="dot_product_variance",
    explanation="You draw q and k from the global random generator, so the same generator "
    "does not give the same result.",
    hint="Pass generator=generator to torch.randn.",
)
def variance_ignoring_generator(d_k, n_samples=20_000, scaled=False, generator=None):
    q, k = torch.randn(n_samples, d_k), torch.randn(n_samples, d_k)
    dots = (q * k).sum(-1)
    return (dots / math.sqrt(d_k) if scaled else dots).var().item()


# --- scaled_dot_product_attention -------------------------------------------------------------
def _sdpa(q, k, v, mask=None, *, scale=True, dim=-1, flip=False, after=False, multiply_float=False):
    scores = q @ k.transpose(-2, -1)
    if scale:
        scores = scores / math.sqrt(q.shape[-1])
    if mask is not None and not after:
        if mask.dtype == torch.bool:
            scores = scores.masked_fill(mask if flip else ~mask, float("-inf"))
        else:
            scores = scores * mask if multiply_float else scores + mask
    weights = torch.softmax(scores, dim=dim)
    if mask is not None and after:
        weights = weights * (mask if mask.dtype == torch.bool else mask.exp())
    return weights @ v


@mistake(
    "softmax-over-queries",
    cell="test_scaled_dot_product_attention",
    replaces="scaled_dot_product_attention",
    explanation="Your softmax runs over the queries (dim=-2); each query's weights must sum to 1 over the keys.",
    hint="Use torch.softmax(scores, dim=-1).",
)
def sdpa_softmax_over_queries(q, k, v, mask=None):
    return _sdpa(q, k, v, mask, dim=-2)


@mistake(
    "sdpa-unscaled",
    cell="test_scaled_dot_product_attention",
    replaces="scaled_dot_product_attention",
    explanation="Your scores are not divided by √d_k, so large d_k saturates the softmax.",
    hint="Divide q @ kᵀ by math.sqrt(q.shape[-1]) before the softmax.",
)
def sdpa_unscaled(q, k, v, mask=None):
    return _sdpa(q, k, v, mask, scale=False)


@mistake(
    "mask-flipped",
    cell="test_scaled_dot_product_attention_masks",
    replaces="scaled_dot_product_attention",
    explanation="You block the positions where the mask is True; in this course (as in SDPA) True means 'may attend'.",
    hint="Fill the scores with -inf where the mask is False: scores.masked_fill(~mask, float('-inf')).",
)
def sdpa_mask_flipped(q, k, v, mask=None):
    return _sdpa(q, k, v, mask, flip=True)


@mistake(
    "mask-after-softmax",
    cell="test_scaled_dot_product_attention_masks",
    replaces="scaled_dot_product_attention",
    explanation="You mask the weights after the softmax, so the allowed weights no longer sum to 1.",
    hint="Apply the mask to the scores, before the softmax.",
)
def sdpa_mask_after_softmax(q, k, v, mask=None):
    return _sdpa(q, k, v, mask, after=True)


@mistake(
    "float-mask-multiplied",
    cell="test_scaled_dot_product_attention_masks",
    replaces="scaled_dot_product_attention",
    explanation="You multiply the scores by a float mask; a float mask is a bias added to the scores.",
    hint="For a float mask use scores + mask.",
)
def sdpa_float_mask_multiplied(q, k, v, mask=None):
    return _sdpa(q, k, v, mask, multiply_float=True)


@mistake(
    "mask-ignored",
    cell="test_scaled_dot_product_attention_masks",
    replaces="scaled_dot_product_attention",
    explanation="Your function ignores the mask argument.",
    hint="Before the softmax, fill blocked scores with -inf (bool mask) or add the mask (float mask).",
)
def sdpa_ignores_mask(q, k, v, mask=None):
    return _sdpa(q, k, v, None)


# --- masks ------------------------------------------------------------------------------------
@mistake(
    "causal-upper-triangle",
    cell="test_causal_mask",
    replaces="causal_mask",
    explanation="Your mask keeps the upper triangle, so each query sees the future and not the past.",
    hint="Keep j ≤ i: torch.ones(L, S, dtype=torch.bool).tril().",
)
def causal_upper_triangle(L, S=None, device=None):
    return torch.ones(L, L if S is None else S, dtype=torch.bool, device=device).triu()


@mistake(
    "causal-without-diagonal",
    cell="test_causal_mask",
    replaces="causal_mask",
    explanation="Your mask hides the diagonal, so a token may not attend to itself.",
    hint="Use tril() with the default diagonal=0.",
)
def causal_without_diagonal(L, S=None, device=None):
    return torch.ones(L, L if S is None else S, dtype=torch.bool, device=device).tril(diagonal=-1)


@mistake(
    "causal-float",
    cell="test_causal_mask",
    replaces="causal_mask",
    explanation="Your mask is a float tensor of 0s and 1s; as a float mask it would be added to the scores.",
    hint="Create it with dtype=torch.bool.",
)
def causal_float(L, S=None, device=None):
    return torch.ones(L, L if S is None else S, device=device).tril()


@mistake(
    "causal-ignores-device",
    cell="test_causal_mask",
    replaces="causal_mask",
    explanation="Your mask is always created on the CPU, whatever device is asked for.",
    hint="Pass device=device to torch.ones.",
)
def causal_ignores_device(L, S=None, device=None):
    return torch.ones(L, L if S is None else S, dtype=torch.bool).tril()


@mistake(
    "padding-off-by-one",
    cell="test_padding_mask",
    replaces="padding_mask",
    explanation="You keep position j = length too: positions 0 … length-1 are the real tokens.",
    hint="Compare with <, not <=.",
)
def padding_off_by_one(lengths, S):
    return (torch.arange(S, device=lengths.device)[None, :] <= lengths[:, None])[:, None, :]


@mistake(
    "padding-without-query-dim",
    cell="test_padding_mask",
    replaces="padding_mask",
    explanation="Your mask has shape (B, S); it needs a query dimension, (B, 1, S), to broadcast against (B, L, S).",
    hint="Index the result with [:, None, :].",
)
def padding_without_query_dim(lengths, S):
    return torch.arange(S, device=lengths.device)[None, :] < lengths[:, None]


@mistake(
    "padding-inverted",
    cell="test_padding_mask",
    replaces="padding_mask",
    explanation="Your mask is True at the padding; True must mark the real tokens.",
    hint="Use positions < lengths, not >=.",
)
def padding_inverted(lengths, S):
    return (torch.arange(S, device=lengths.device)[None, :] >= lengths[:, None])[:, None, :]


@mistake(
    "padding-ignores-device",
    cell="test_padding_mask",
    replaces="padding_mask",
    explanation="Your mask is built from a tensor created on the CPU (e.g. torch.arange(S) without "
    "device=), so it breaks when lengths live on another device.",
    hint="Create every new tensor on the inputs' device: torch.arange(S, device=lengths.device).",
)
def padding_ignores_device(lengths, S):
    return (torch.arange(S)[None, :] < lengths[:, None])[:, None, :]
