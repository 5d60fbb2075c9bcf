"""Common mistakes of chapter 2 (word embeddings). Each fails the graded test cell it names."""

import torch
import torch.nn.functional as F

from . import Catalogue

catalogue = Catalogue("02_embeddings")
mistake = catalogue.mistake

_EPS = 1e-8


def _unit(x):
    return x / x.norm(dim=-1, keepdim=True).clamp_min(_EPS)


# --- cosine_similarity_matrix -----------------------------------------------------------------
@mistake(
    "cosine-one-side-normalised",
    cell="test_cosine_similarity_matrix",
    replaces="cosine_similarity_matrix",
    explanation="You divide by the norms of a only; the cosine divides by ‖a_i‖ AND ‖b_j‖.",
    hint="Normalise both: (a / ‖a‖) @ (b / ‖b‖)ᵀ, each norm taken over the last dim.",
)
def cosine_one_side(a, b):
    return _unit(a) @ b.T


@mistake(
    "cosine-not-normalised",
    cell="test_cosine_similarity_matrix",
    replaces="cosine_similarity_matrix",
    explanation="You return the raw dot products a_i · b_j; long vectors then look more similar.",
    hint="Divide every row of a and of b by its L2 norm before the matrix product.",
)
def cosine_not_normalised(a, b):
    return a @ b.T


@mistake(
    "cosine-squared-norms",
    cell="test_cosine_similarity_matrix",
    replaces="cosine_similarity_matrix",
    explanation="You divide by the squared norms ‖a‖² ‖b‖²; the cosine divides by the norms themselves.",
    hint="Use x.norm(dim=-1) (the square root of the sum of squares), not (x ** 2).sum(-1).",
)
def cosine_squared_norms(a, b):
    na, nb = (a**2).sum(-1, keepdim=True).clamp_min(_EPS), (b**2).sum(-1, keepdim=True).clamp_min(_EPS)
    return (a / na) @ (b / nb).T


@mistake(
    "cosine-zero-vector-nan",
    cell="test_cosine_similarity_matrix",
    replaces="cosine_similarity_matrix",
    explanation="A zero vector makes you divide 0 by 0, so its row is NaN; the exercise asks for 0.",
    hint="Clamp the norms from below before dividing: x.norm(dim=-1, keepdim=True).clamp_min(1e-8).",
)
def cosine_zero_vector_nan(a, b):
    return (a / a.norm(dim=-1, keepdim=True)) @ (b / b.norm(dim=-1, keepdim=True)).T


# --- nearest_neighbors ------------------------------------------------------------------------
def _knn(embeddings, index, k, *, exclude=True, cosine=True, largest=True):
    e = _unit(embeddings) if cosine else embeddings
    sims = e @ e[index]
    if exclude:
        sims = sims.clone()
        sims[index] = float("-inf") if largest else float("inf")
    return sims.topk(k, largest=largest).indices


@mistake(
    "knn-includes-itself",
    cell="test_nearest_neighbors",
    replaces="nearest_neighbors",
    explanation="The word itself comes back as its own nearest neighbour (cosine 1).",
    hint="Set the word's own similarity to -inf before topk.",
)
def knn_includes_itself(embeddings, index, k):
    return _knn(embeddings, index, k, exclude=False)


@mistake(
    "knn-dot-product",
    cell="test_nearest_neighbors",
    replaces="nearest_neighbors",
    explanation="You rank by the dot product, so words with long vectors win whatever their direction.",
    hint="Rank by cosine similarity: normalise the vectors first.",
)
def knn_dot_product(embeddings, index, k):
    return _knn(embeddings, index, k, cosine=False)


@mistake(
    "knn-least-similar",
    cell="test_nearest_neighbors",
    replaces="nearest_neighbors",
    explanation="You return the k LEAST similar words (an ascending sort).",
    hint="Use topk(k) (largest=True), or sort in descending order.",
)
def knn_least_similar(embeddings, index, k):
    return _knn(embeddings, index, k, largest=False)


# --- skipgram_negative_sampling_loss ----------------------------------------------------------
def _sgns(center, context, negatives, *, neg_sign=-1.0, logsig=F.logsigmoid, batch="mean", negs="sum", sign=-1.0):
    positive = (center * context).sum(-1)
    negative = torch.einsum("bkd,bd->bk", negatives, center)
    per_neg = logsig(neg_sign * negative)
    neg_term = per_neg.sum(-1) if negs == "sum" else per_neg.mean(-1)
    loss = sign * (logsig(positive) + neg_term)
    return loss.mean() if batch == "mean" else loss.sum()


def _log_of_sigmoid(x):
    return torch.log(torch.sigmoid(x))


@mistake(
    "sgns-negative-sign-flipped",
    cell="test_skipgram_negative_sampling_loss",
    replaces="skipgram_negative_sampling_loss",
    explanation="You use log σ(u_k·v_c) for the noise words; they must score LOW, so the term is log σ(−u_k·v_c).",
    hint="Negate the negative scores inside the log-sigmoid: F.logsigmoid(-neg_scores).",
)
def sgns_negative_sign_flipped(center, context, negatives):
    return _sgns(center, context, negatives, neg_sign=1.0)


@mistake(
    "sgns-log-of-sigmoid",
    cell="test_skipgram_negative_sampling_loss",
    replaces="skipgram_negative_sampling_loss",
    explanation="torch.log(torch.sigmoid(x)) underflows: for a score of −100 sigmoid gives 0 and the log −inf.",
    hint="Use F.logsigmoid(x), which computes log σ(x) stably.",
)
def sgns_log_of_sigmoid(center, context, negatives):
    return _sgns(center, context, negatives, logsig=_log_of_sigmoid)


@mistake(
    "sgns-mean-over-negatives",
    cell="test_skipgram_negative_sampling_loss",
    replaces="skipgram_negative_sampling_loss",
    explanation="You average the K noise terms; the loss SUMS them (each negative is its own binary example).",
    hint="Sum over the K negatives (dim=-1), then average over the batch.",
)
def sgns_mean_over_negatives(center, context, negatives):
    return _sgns(center, context, negatives, negs="mean")


@mistake(
    "sgns-sum-over-batch",
    cell="test_skipgram_negative_sampling_loss",
    replaces="skipgram_negative_sampling_loss",
    explanation="You sum the loss over the batch; it is the mean, so that it does not grow with B.",
    hint="Finish with .mean() over the batch dimension.",
)
def sgns_sum_over_batch(center, context, negatives):
    return _sgns(center, context, negatives, batch="sum")


@mistake(
    "sgns-missing-minus",
    cell="test_skipgram_negative_sampling_loss",
    replaces="skipgram_negative_sampling_loss",
    explanation="You return the log-likelihood (≤ 0); the loss is its negative, so minimising it makes pairs likely.",
    hint="Put a minus sign in front: L = −[log σ(u_o·v_c) + Σ_k log σ(−u_k·v_c)].",
)
def sgns_missing_minus(center, context, negatives):
    return _sgns(center, context, negatives, sign=1.0)


# --- analogy ----------------------------------------------------------------------------------
def _analogy(embeddings, a, b, c, k=1, *, exclude=True, swap=False, normalise=True, cosine=True):
    unit = _unit(embeddings) if normalise else embeddings
    target = (unit[b] - unit[a] + unit[c]) if swap else (unit[a] - unit[b] + unit[c])
    ranked = _unit(embeddings) if cosine else embeddings
    sims = ranked @ target
    if exclude:
        sims = sims.clone()
        sims[[a, b, c]] = float("-inf")
    return sims.topk(k).indices


@mistake(
    "analogy-inputs-not-excluded",
    cell="test_analogy",
    replaces="analogy",
    explanation="You do not exclude a, b and c, so the answer is usually one of the inputs (often a or c).",
    hint="Set the similarities of a, b and c to -inf before topk.",
)
def analogy_inputs_not_excluded(embeddings, a, b, c, k=1):
    return _analogy(embeddings, a, b, c, k, exclude=False)


@mistake(
    "analogy-sign-swapped",
    cell="test_analogy",
    replaces="analogy",
    explanation="You compute b − a + c; the analogy 'b is to a as c is to ?' needs a − b + c.",
    hint="target = ê_a − ê_b + ê_c (king − man + woman).",
)
def analogy_sign_swapped(embeddings, a, b, c, k=1):
    return _analogy(embeddings, a, b, c, k, swap=True)


@mistake(
    "analogy-raw-vectors",
    cell="test_analogy",
    replaces="analogy",
    explanation="You add and subtract the raw vectors; a long vector then dominates the target.",
    hint="Normalise each vector to length 1 before computing ê_a − ê_b + ê_c.",
)
def analogy_raw_vectors(embeddings, a, b, c, k=1):
    return _analogy(embeddings, a, b, c, k, normalise=False)


@mistake(
    "analogy-dot-product-ranking",
    cell="test_analogy",
    replaces="analogy",
    explanation="You rank candidates by the dot product with the target; it must be the cosine similarity.",
    hint="Normalise the candidate vectors too (or use your cosine_similarity_matrix).",
)
def analogy_dot_product_ranking(embeddings, a, b, c, k=1):
    return _analogy(embeddings, a, b, c, k, cosine=False)
