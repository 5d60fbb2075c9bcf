"""Common mistakes in chapter 3 (DESIGN §7). Each must fail the graded test cell it is listed under.

MUTANTS[grade_id][description] = (name of the student function it replaces, the wrong function)
"""
import math

import torch


# --- attention_scores -------------------------------------------------------------------------
def scores_unscaled(q, k):
    return q @ k.transpose(-2, -1)


def scores_divided_by_d_k(q, k):
    return q @ k.transpose(-2, -1) / q.shape[-1]


def scores_with_k_T(q, k):
    return q @ k.T / math.sqrt(q.shape[-1])


def scores_softmaxed(q, k):
    return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)


# --- dot_product_variance ---------------------------------------------------------------------
def variance_without_sum(d_k, n_samples=20_000, scaled=False, generator=None):
    q, k = torch.randn(n_samples, d_k, generator=generator), torch.randn(n_samples, d_k, generator=generator)
    products = (q * k).flatten()
    return (products / math.sqrt(d_k) if scaled else products).var().item()


def variance_scaled_by_d_k(d_k, n_samples=20_000, scaled=False, generator=None):
    q, k = torch.randn(n_samples, d_k, generator=generator), torch.randn(n_samples, d_k, generator=generator)
    dots = (q * k).sum(-1)
    return (dots / d_k if scaled else dots).var().item()


def std_instead_of_variance(d_k, n_samples=20_000, scaled=False, generator=None):
    q, k = torch.randn(n_samples, d_k, generator=generator), torch.randn(n_samples, d_k, generator=generator)
    dots = (q * k).sum(-1)
    return (dots / math.sqrt(d_k) if scaled else dots).std().item()


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


def sdpa_softmax_over_queries(q, k, v, mask=None):
    return _sdpa(q, k, v, mask, dim=-2)


def sdpa_unscaled(q, k, v, mask=None):
    return _sdpa(q, k, v, mask, scale=False)


def sdpa_mask_flipped(q, k, v, mask=None):
    return _sdpa(q, k, v, mask, flip=True)


def sdpa_mask_after_softmax(q, k, v, mask=None):
    return _sdpa(q, k, v, mask, after=True)


def sdpa_float_mask_multiplied(q, k, v, mask=None):
    return _sdpa(q, k, v, mask, multiply_float=True)


def sdpa_ignores_mask(q, k, v, mask=None):
    return _sdpa(q, k, v, None)


# --- masks ------------------------------------------------------------------------------------
def causal_upper_triangle(L, S=None, device=None):
    return torch.ones(L, L if S is None else S, dtype=torch.bool, device=device).triu()


def causal_without_diagonal(L, S=None, device=None):
    return torch.ones(L, L if S is None else S, dtype=torch.bool, device=device).tril(diagonal=-1)


def causal_float(L, S=None, device=None):
    return torch.ones(L, L if S is None else S, device=device).tril()


def causal_ignores_device(L, S=None, device=None):
    return torch.ones(L, L if S is None else S, dtype=torch.bool).tril()


def padding_off_by_one(lengths, S):
    return (torch.arange(S, device=lengths.device)[None, :] <= lengths[:, None])[:, None, :]


def padding_without_query_dim(lengths, S):
    return torch.arange(S, device=lengths.device)[None, :] < lengths[:, None]


def padding_inverted(lengths, S):
    return (torch.arange(S, device=lengths.device)[None, :] >= lengths[:, None])[:, None, :]


def padding_ignores_device(lengths, S):
    return (torch.arange(S)[None, :] < lengths[:, None])[:, None, :]


MUTANTS = {
    "test_attention_scores": {
        "no 1/√d_k": ("attention_scores", scores_unscaled),
        "divides by d_k instead of √d_k": ("attention_scores", scores_divided_by_d_k),
        "k.T on batched input": ("attention_scores", scores_with_k_T),
        "returns softmax weights instead of scores": ("attention_scores", scores_softmaxed),
    },
    "test_dot_product_variance": {
        "no sum over d_k": ("dot_product_variance", variance_without_sum),
        "scaled by d_k instead of √d_k": ("dot_product_variance", variance_scaled_by_d_k),
        "standard deviation instead of variance": ("dot_product_variance", std_instead_of_variance),
        "ignores the generator": ("dot_product_variance", variance_ignoring_generator),
    },
    "test_scaled_dot_product_attention": {
        "softmax over the wrong dim": ("scaled_dot_product_attention", sdpa_softmax_over_queries),
        "no 1/√d_k": ("scaled_dot_product_attention", sdpa_unscaled),
    },
    "test_scaled_dot_product_attention_masks": {
        "mask convention flipped": ("scaled_dot_product_attention", sdpa_mask_flipped),
        "mask applied after softmax": ("scaled_dot_product_attention", sdpa_mask_after_softmax),
        "float mask multiplied": ("scaled_dot_product_attention", sdpa_float_mask_multiplied),
        "mask ignored": ("scaled_dot_product_attention", sdpa_ignores_mask),
    },
    "test_causal_mask": {
        "upper triangle (sees the future)": ("causal_mask", causal_upper_triangle),
        "diagonal excluded": ("causal_mask", causal_without_diagonal),
        "float 0/1 instead of bool": ("causal_mask", causal_float),
        "ignores device": ("causal_mask", causal_ignores_device),
    },
    "test_padding_mask": {
        "j <= length (off by one)": ("padding_mask", padding_off_by_one),
        "shape (B, S) without the query dim": ("padding_mask", padding_without_query_dim),
        "inverted": ("padding_mask", padding_inverted),
        "ignores device": ("padding_mask", padding_ignores_device),
    },
}
