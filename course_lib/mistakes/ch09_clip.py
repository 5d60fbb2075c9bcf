"""Common mistakes of chapter 9 (CLIP). Each fails the graded test cell it names."""

import torch
import torch.nn.functional as F

from . import Catalogue

catalogue = Catalogue("09_clip")
mistake = catalogue.mistake


# --- clip_loss ----------------------------------------------------------------------------------
def _loss(img, txt, logit_scale, *, normalize=True, exp=True, clamp=True, divide=False, labels=None, directions=2):
    if normalize:
        img, txt = F.normalize(img, dim=-1), F.normalize(txt, dim=-1)
    scale = logit_scale.exp() if exp else logit_scale
    if clamp:
        scale = scale.clamp(max=100.0)
    sim = img @ txt.T
    logits = sim / scale if divide else scale * sim  # (B, B)
    if labels is None:
        labels = torch.arange(img.shape[0], device=img.device)
    loss = F.cross_entropy(logits, labels)
    return loss if directions == 1 else (loss + F.cross_entropy(logits.T, labels)) / 2


@mistake(
    "features-not-normalised",
    cell="test_clip_loss",
    replaces="clip_loss",
    explanation="You use the raw features: without L2 normalisation the dot products are not cosine "
    "similarities, and long vectors dominate the logits.",
    hint="Normalise both: F.normalize(image_features, dim=-1) and F.normalize(text_features, dim=-1).",
)
def clip_loss_unnormalised(image_features, text_features, logit_scale):
    return _loss(image_features, text_features, logit_scale, normalize=False)


@mistake(
    "logit-scale-without-exp",
    cell="test_clip_loss",
    replaces="clip_loss",
    explanation="logit_scale stores log(1/τ); you multiply by it directly instead of by its exponential.",
    hint="Use scale = logit_scale.exp().clamp(max=100).",
)
def clip_loss_scale_without_exp(image_features, text_features, logit_scale):
    return _loss(image_features, text_features, logit_scale, exp=False)


@mistake(
    "scale-not-clamped",
    cell="test_clip_loss",
    replaces="clip_loss",
    explanation="You do not clamp the scale at 100, so a large learned logit_scale makes the logits explode.",
    hint="scale = logit_scale.exp().clamp(max=100).",
)
def clip_loss_not_clamped(image_features, text_features, logit_scale):
    return _loss(image_features, text_features, logit_scale, clamp=False)


@mistake(
    "divided-by-scale",
    cell="test_clip_loss",
    replaces="clip_loss",
    explanation="You divide the similarities by exp(logit_scale); logit_scale is log(1/τ), so you must "
    "multiply by its exponential (dividing by τ).",
    hint="logits = logit_scale.exp().clamp(max=100) * image @ text.T.",
)
def clip_loss_divided_by_scale(image_features, text_features, logit_scale):
    return _loss(image_features, text_features, logit_scale, divide=True)


@mistake(
    "labels-not-arange",
    cell="test_clip_loss",
    replaces="clip_loss",
    explanation="Your targets are all 0, so every image is asked to pick caption 0; image i's caption is caption i.",
    hint="labels = torch.arange(B, device=image_features.device).",
)
def clip_loss_labels_zero(image_features, text_features, logit_scale):
    labels = torch.zeros(image_features.shape[0], dtype=torch.long, device=image_features.device)
    return _loss(image_features, text_features, logit_scale, labels=labels)


@mistake(
    "one-direction-only",
    cell="test_clip_loss",
    replaces="clip_loss",
    explanation="You compute only the image→text cross-entropy; the loss is symmetric and also asks each "
    "caption to pick its image.",
    hint="Average F.cross_entropy(logits, labels) and F.cross_entropy(logits.T, labels).",
)
def clip_loss_one_direction(image_features, text_features, logit_scale):
    return _loss(image_features, text_features, logit_scale, directions=1)


# --- embed_text ---------------------------------------------------------------------------------
def _embed(hidden, lengths, projection, *, where="end", normalize=True, normalize_first=False):
    B, T, C = hidden.shape
    rows = torch.arange(B, device=hidden.device)
    if where == "end":
        pooled = hidden[rows, lengths - 1]
    elif where == "first":
        pooled = hidden[:, 0]
    elif where == "last":
        pooled = hidden[:, -1]
    else:  # mean over every position, padding included
        pooled = hidden.mean(dim=1)
    if normalize_first:
        return F.normalize(pooled, dim=-1) @ projection
    out = pooled @ projection
    return F.normalize(out, dim=-1) if normalize else out


@mistake(
    "pooled-first-token",
    cell="test_embed_text",
    replaces="embed_text",
    explanation="You take position 0; in this causal-style text encoder the caption's summary sits at its "
    "end token, position lengths[b] - 1.",
    hint="pooled = hidden[torch.arange(B), lengths - 1].",
)
def embed_text_first_token(hidden, lengths, projection):
    return _embed(hidden, lengths, projection, where="first")


@mistake(
    "pooled-last-position",
    cell="test_embed_text",
    replaces="embed_text",
    explanation="You take position T - 1 of every caption, which is padding for every caption shorter than T.",
    hint="Each caption ends at its own position: hidden[torch.arange(B), lengths - 1].",
)
def embed_text_last_position(hidden, lengths, projection):
    return _embed(hidden, lengths, projection, where="last")


@mistake(
    "mean-over-padding",
    cell="test_embed_text",
    replaces="embed_text",
    explanation="You average over all T positions, padding included, instead of taking the end token.",
    hint="Index the end token: hidden[torch.arange(B), lengths - 1].",
)
def embed_text_mean_with_padding(hidden, lengths, projection):
    return _embed(hidden, lengths, projection, where="mean")


@mistake(
    "embedding-not-normalised",
    cell="test_embed_text",
    replaces="embed_text",
    explanation="You return the projected vector without L2-normalising it.",
    hint="Finish with F.normalize(pooled @ projection, dim=-1).",
)
def embed_text_not_normalised(hidden, lengths, projection):
    return _embed(hidden, lengths, projection, normalize=False)


@mistake(
    "normalised-before-projection",
    cell="test_embed_text",
    replaces="embed_text",
    explanation="You normalise the pooled feature and then project it, so the joint embedding is not unit length.",
    hint="Project first, then normalise: F.normalize(pooled @ projection, dim=-1).",
)
def embed_text_normalised_first(hidden, lengths, projection):
    return _embed(hidden, lengths, projection, normalize_first=True)


# --- zero_shot_logits ---------------------------------------------------------------------------
def _zero_shot(
    image_features, template_features, *, norm_templates=True, renorm=True, norm_images=True, first_only=False
):
    t = template_features[:, :1] if first_only else template_features
    if norm_templates:
        t = F.normalize(t, dim=-1)
    w = t.mean(dim=1)
    if renorm:
        w = F.normalize(w, dim=-1)
    img = F.normalize(image_features, dim=-1) if norm_images else image_features
    return img @ w.T


@mistake(
    "templates-not-normalised",
    cell="test_zero_shot_logits",
    replaces="zero_shot_logits",
    explanation="You average the raw template embeddings, so a template with a long embedding outweighs the others.",
    hint="Normalise each template embedding before the mean: F.normalize(template_features, dim=-1).",
)
def zero_shot_templates_not_normalised(image_features, template_features):
    return _zero_shot(image_features, template_features, norm_templates=False)


@mistake(
    "class-mean-not-renormalised",
    cell="test_zero_shot_logits",
    replaces="zero_shot_logits",
    explanation="The mean of unit vectors is shorter than 1; without normalising it again your scores are not "
    "cosine similarities and classes whose templates disagree are penalised.",
    hint="After the mean over templates: F.normalize(mean, dim=-1).",
)
def zero_shot_not_renormalised(image_features, template_features):
    return _zero_shot(image_features, template_features, renorm=False)


@mistake(
    "images-not-normalised",
    cell="test_zero_shot_logits",
    replaces="zero_shot_logits",
    explanation="You leave the image features unnormalised, so the scores are not cosine similarities.",
    hint="Use F.normalize(image_features, dim=-1) before the product.",
)
def zero_shot_images_not_normalised(image_features, template_features):
    return _zero_shot(image_features, template_features, norm_images=False)


@mistake(
    "first-template-only",
    cell="test_zero_shot_logits",
    replaces="zero_shot_logits",
    explanation="You use only the first prompt template of each class instead of the average over all M.",
    hint="Average over the template dimension: .mean(dim=1) of the normalised (K, M, E) tensor.",
)
def zero_shot_first_template(image_features, template_features):
    return _zero_shot(image_features, template_features, first_only=True)


# --- recall_at_k --------------------------------------------------------------------------------
def _recall(similarity, k, *, transpose=True, kk=None):
    N = similarity.shape[0]
    kk = k if kk is None else kk
    truth = torch.arange(N, device=similarity.device)[:, None]
    i2t = (similarity.topk(kk, dim=1).indices == truth).any(1).float().mean().item()
    other = similarity.T if transpose else similarity
    t2i = (other.topk(kk, dim=1).indices == truth).any(1).float().mean().item()
    return i2t, t2i


@mistake(
    "same-direction-twice",
    cell="test_recall_at_k",
    replaces="recall_at_k",
    explanation="Your text → image recall ranks the rows again; a caption's candidates are the images, "
    "i.e. a column of the similarity matrix.",
    hint="For text → image rank similarity.T (or use dim=0).",
)
def recall_same_direction(similarity, k):
    return _recall(similarity, k, transpose=False)


@mistake(
    "ignores-k",
    cell="test_recall_at_k",
    replaces="recall_at_k",
    explanation="You only check the single best match (recall@1) whatever k is.",
    hint="A hit is the true partner anywhere among the top k: similarity.topk(k, dim=1).",
)
def recall_ignores_k(similarity, k):
    return _recall(similarity, k, kk=1)


@mistake(
    "top-k-plus-one",
    cell="test_recall_at_k",
    replaces="recall_at_k",
    explanation="You look at the top k + 1 candidates, one too many.",
    hint="similarity.topk(k, dim=1) gives exactly k candidates.",
)
def recall_k_plus_one(similarity, k):
    return _recall(similarity, k, kk=min(k + 1, similarity.shape[0]))


@mistake(
    "recall-in-percent",
    cell="test_recall_at_k",
    replaces="recall_at_k",
    explanation="You return percentages; recall@k is a fraction in [0, 1].",
    hint="Do not multiply by 100.",
)
def recall_in_percent(similarity, k):
    i2t, t2i = _recall(similarity, k)
    return 100 * i2t, 100 * t2i
