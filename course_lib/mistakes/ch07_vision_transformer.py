"""Common mistakes of chapter 7 (ViT). Each fails the graded test cell it names.

The ViT mistakes build their blocks from ``course_lib.transformer.EncoderLayer`` (the test
cell allows chapter 6's reference) and are otherwise self-contained."""

import torch
from torch import nn

from . import Catalogue

catalogue = Catalogue("07_vision_transformer")
mistake = catalogue.mistake


def _patches(x, P, order=(0, 2, 4, 1, 3, 5)):
    B, C, H, W = x.shape
    x = x.reshape(B, C, H // P, P, W // P, P).permute(*order)
    return x.reshape(B, (H // P) * (W // P), C * P * P)


# --- patchify ---------------------------------------------------------------------------------
@mistake(
    "patchify-pqc-order",
    cell="test_patchify",
    replaces="patchify",
    explanation="Inside each patch your values run (row, column, channel) — channels last, as in an "
    "(H, W, C) image; a Conv2d weight (D, C, P, P) is ordered (channel, row, column).",
    hint="After view(B, C, H/P, P, W/P, P) use permute(0, 2, 4, 1, 3, 5): patch indices first, then c, p, q.",
)
def patchify_pqc(x, patch_size):
    return _patches(x, patch_size, order=(0, 2, 4, 3, 5, 1))


@mistake(
    "patchify-without-permute",
    cell="test_patchify",
    replaces="patchify",
    explanation="You reshape (B, C, H, W) straight to (B, N, C·P²): each 'patch' is a run of consecutive "
    "pixels in memory (parts of image rows), not a P × P square.",
    hint="view(B, C, H/P, P, W/P, P), permute(0, 2, 4, 1, 3, 5), then reshape(B, N, C·P²).",
)
def patchify_without_permute(x, patch_size):
    B, C, H, W = x.shape
    return x.reshape(B, (H // patch_size) * (W // patch_size), C * patch_size**2)


@mistake(
    "patchify-column-major",
    cell="test_patchify",
    replaces="patchify",
    explanation="Your patches are numbered column by column; the sequence must read the image row by row "
    "(like the output of a convolution flattened with .flatten(2)).",
    hint="Keep the patch-row index before the patch-column index: permute(0, 2, 4, 1, 3, 5).",
)
def patchify_column_major(x, patch_size):
    return _patches(x, patch_size, order=(0, 4, 2, 1, 3, 5))


@mistake(
    "patchify-features-first",
    cell="test_patchify",
    replaces="patchify",
    explanation="You return (B, C·P², N), the layout of F.unfold; a sequence of tokens is (B, N, C·P²).",
    hint="Transpose the last two dimensions (or permute so that the patch index comes before the values).",
)
def patchify_features_first(x, patch_size):
    return _patches(x, patch_size).transpose(1, 2)


# --- PatchEmbedding ---------------------------------------------------------------------------
class _Embedding(nn.Module):
    order, bias, channels_first = (0, 2, 4, 1, 3, 5), True, False

    def __init__(self, in_channels, patch_size, d_model):
        super().__init__()
        self.in_channels, self.patch_size = in_channels, patch_size
        self.proj = nn.Linear(in_channels * patch_size**2, d_model, bias=self.bias)

    def forward(self, x):
        out = self.proj(_patches(x, self.patch_size, self.order))
        return out.transpose(1, 2) if self.channels_first else out


@mistake(
    "patch-embedding-pqc-order",
    cell="test_patch_embedding",
    replaces="PatchEmbedding",
    explanation="Your patches are flattened (row, column, channel); the convolution's weight is laid out "
    "(channel, row, column), so the copied weights multiply the wrong pixels.",
    hint="Flatten each patch in (c, p, q) order — your patchify from Exercise 1 does it.",
)
class PatchEmbeddingPQC(_Embedding):
    order = (0, 2, 4, 3, 5, 1)


@mistake(
    "patch-embedding-no-bias",
    cell="test_patch_embedding",
    replaces="PatchEmbedding",
    explanation="Your projection has no bias; a Conv2d (and the ViT's E) adds one per output channel.",
    hint="nn.Linear(C·P², d_model) with the default bias=True.",
)
class PatchEmbeddingNoBias(_Embedding):
    bias = False


@mistake(
    "patch-embedding-channels-first",
    cell="test_patch_embedding",
    replaces="PatchEmbedding",
    explanation="You return (B, d_model, N), the convolution's layout; the encoder needs tokens (B, N, d_model).",
    hint="Return self.proj(patchify(x, P)) without transposing.",
)
class PatchEmbeddingChannelsFirst(_Embedding):
    channels_first = True


# --- ViT --------------------------------------------------------------------------------------
class _ViT(nn.Module):
    eps, tanh_gelu, pos_before_cls, pool, final_norm, norm_first = 1e-6, False, False, "cls", True, True

    def __init__(self, config):
        super().__init__()
        from course_lib.transformer import EncoderLayer
        from course_lib.vit import PatchEmbedding

        c = self.config = config
        n = (c.image_size // c.patch_size) ** 2
        self.patch_embed = PatchEmbedding(c.in_channels, c.patch_size, c.d_model)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, c.d_model))
        self.pos_embed = nn.Parameter(torch.randn(1, n + 1, c.d_model) * 0.02)
        self.blocks = nn.ModuleList(
            EncoderLayer(c.d_model, c.n_heads, c.d_ff, norm_first=self.norm_first, activation="gelu", eps=self.eps)
            for _ in range(c.n_layers)
        )
        if self.tanh_gelu:
            for block in self.blocks:
                block.ff.act = nn.GELU(approximate="tanh")
        self.norm = nn.LayerNorm(c.d_model, eps=self.eps)
        self.head = nn.Linear(c.d_model, c.n_classes)

    def forward_features(self, x):
        tokens = self.patch_embed(x)  # (B, N, D)
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        if self.pos_before_cls:
            z = torch.cat([cls, tokens + self.pos_embed[:, : tokens.shape[1]]], dim=1)
        else:
            z = torch.cat([cls, tokens], dim=1) + self.pos_embed
        for block in self.blocks:
            z = block(z)
        return self.norm(z) if self.final_norm else z

    def forward(self, x):
        z = self.forward_features(x)
        return self.head(z.mean(dim=1) if self.pool == "mean" else z[:, 0])


@mistake(
    "pos-embed-before-cls",
    cell="test_vit",
    replaces="ViT",
    explanation="You add the position embedding to the patches before prepending [CLS]: the [CLS] token gets "
    "no position and every patch gets the embedding meant for the token before it.",
    hint="First z = cat([cls, patches], dim=1) of shape (B, 1+N, D), then z + pos_embed (1, 1+N, D).",
)
class ViTPosBeforeCls(_ViT):
    pos_before_cls = True


@mistake(
    "layernorm-eps-1e-5",
    cell="test_vit",
    replaces="ViT",
    explanation="Your LayerNorms use PyTorch's default eps = 1e-5; the ViT (and torchvision) use 1e-6, which "
    "matters when the features have small variance.",
    hint="Pass eps=1e-6 to every LayerNorm: EncoderLayer(..., eps=1e-6) and nn.LayerNorm(D, eps=1e-6).",
)
class ViTEps1e5(_ViT):
    eps = 1e-5


@mistake(
    "tanh-gelu",
    cell="test_vit",
    replaces="ViT",
    explanation="Your MLP uses the tanh approximation of GELU; the ViT uses the exact, erf-based GELU.",
    hint="Use nn.GELU() (approximate='none'), i.e. EncoderLayer(..., activation='gelu').",
)
class ViTTanhGelu(_ViT):
    tanh_gelu = True


@mistake(
    "mean-pool",
    cell="test_vit",
    replaces="ViT",
    explanation="You classify the mean of all tokens; the ViT classifies the [CLS] token, token 0.",
    hint="logits = head(forward_features(x)[:, 0]).",
)
class ViTMeanPool(_ViT):
    pool = "mean"


@mistake(
    "no-final-norm",
    cell="test_vit",
    replaces="ViT",
    explanation="You skip the final LayerNorm after the last block; with pre-norm blocks the residual stream "
    "is never normalised otherwise.",
    hint="forward_features returns self.norm(z) after the blocks.",
)
class ViTNoFinalNorm(_ViT):
    final_norm = False


@mistake(
    "post-norm-blocks",
    cell="test_vit",
    replaces="ViT",
    explanation="Your blocks are Post-LN (normalise after the residual sum); the ViT normalises each "
    "sub-layer's input (Pre-LN).",
    hint="EncoderLayer(..., norm_first=True).",
)
class ViTPostNorm(_ViT):
    norm_first = False
