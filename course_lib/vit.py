"""Chapter 7 — the Vision Transformer (ViT): an image as a sequence of patches.

    z₀ = [x_class; x_p¹E; …; x_pᴺE] + E_pos,   N = HW/P²,   x_pⁱ ∈ R^{P²·C}
    z_ℓ = pre-norm Transformer encoder blocks (course_lib.transformer.EncoderLayer)
    y   = head(LayerNorm(z_L)[:, 0])

The layout follows torchvision's ``VisionTransformer`` (the oracle: LayerNorm eps 1e-6, exact
GELU, ``conv_proj`` ≡ a Linear on (c, p, q)-ordered patches), which
:func:`load_torchvision_vit` copies into a :class:`ViT`. Two variants the chapter measures
against it, each one config field: a convolutional stem (``stem="conv"``, :class:`ConvStem`)
and a 2-D position embedding (``position="2d"``, :class:`GridPositionEmbedding`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .reference import reference
from .transformer import EncoderLayer

LN_EPS = 1e-6  # the ViT paper's (and torchvision's) LayerNorm epsilon


@reference
def patchify(x: Tensor, patch_size: int) -> Tensor:
    """Cut images into non-overlapping P × P patches and flatten each one.

    x: (B, C, H, W) with P = patch_size dividing H and W.
    Returns (B, N, C·P²), N = (H/P)·(W/P) patches in row-major order; inside a patch the
    values are ordered (c, p, q) — channel, then row, then column — the order of a
    Conv2d weight (D, C, P, P), so a Linear on the patches equals a stride-P convolution.
    """
    if x.dim() != 4:
        raise ValueError(f"x must be a batch of images (B, C, H, W); got shape {tuple(x.shape)}")
    B, C, H, W = x.shape
    P = patch_size
    if H % P or W % P:
        raise ValueError(f"patch_size must divide the image height and width; got patch_size={P} for H={H}, W={W}")
    x = x.view(B, C, H // P, P, W // P, P)  # (B, C, H/P, p, W/P, q)
    x = x.permute(0, 2, 4, 1, 3, 5)  # (B, H/P, W/P, C, p, q)
    return x.reshape(B, (H // P) * (W // P), C * P * P)  # (B, N, C·P²)


class PatchEmbedding(nn.Module):
    """Linear projection E of flattened patches: (B, C, H, W) → (B, N, d_model).

    ``proj`` is nn.Linear(C·P², d_model); copying ``conv.weight.reshape(d_model, -1)`` and the
    bias from ``nn.Conv2d(C, d_model, kernel_size=P, stride=P)`` gives the same numbers as
    ``conv(x).flatten(2).transpose(1, 2)``.
    """

    def __init__(self, in_channels: int, patch_size: int, d_model: int):
        super().__init__()
        self.in_channels, self.patch_size = in_channels, patch_size
        self.proj = nn.Linear(in_channels * patch_size**2, d_model)

    @reference
    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"x must be (B, in_channels={self.in_channels}, H, W); got shape {tuple(x.shape)}")
        return self.proj(patchify(x, self.patch_size))  # (B, N, d_model)


class ConvStem(nn.Module):
    """A convolutional stem (Xiao et al. 2021) in place of the stride-P patchify: log₂P blocks of
    3 × 3 convolution with stride 2 → BatchNorm → ReLU, the width doubling from d_model/2^k,
    then a 1 × 1 convolution to d_model. Same output as :class:`PatchEmbedding`:
    (B, C, H, W) → (B, N, d_model), N = (H/P)·(W/P) tokens in row-major order.
    """

    def __init__(self, in_channels: int, patch_size: int, d_model: int):
        super().__init__()
        k = patch_size.bit_length() - 1  # stride-2 convolutions: P = 2^k
        if patch_size < 2 or 2**k != patch_size or d_model % 2**k:
            raise ValueError(
                f"a conv stem needs patch_size a power of 2 (≥ 2) and d_model divisible by it; "
                f"got patch_size={patch_size}, d_model={d_model}"
            )
        self.in_channels, self.patch_size = in_channels, patch_size
        layers, width = [], in_channels
        for i in range(k):
            out = d_model // 2 ** (k - i)  # e.g. P = 4, D = 64: 16 then 32 channels
            layers += [nn.Conv2d(width, out, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU()]
            width = out
        layers.append(nn.Conv2d(width, d_model, 1))
        self.convs = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"x must be (B, in_channels={self.in_channels}, H, W); got shape {tuple(x.shape)}")
        return self.convs(x).flatten(2).transpose(1, 2)  # (B, D, H/P, W/P) → (B, N, D)


class GridPositionEmbedding(nn.Module):
    """The ViT paper's 2-D position embedding (its appendix D.4): a learned row embedding and a
    learned column embedding, D/2 wide each, concatenated for the patch at (row, column); the
    [CLS] slot gets its own learned vector. ``forward()`` → the table (1, 1+N, D), N = grid².
    """

    def __init__(self, grid: int, d_model: int):
        super().__init__()
        if d_model % 2:
            raise ValueError(f"a 2-D position embedding needs an even d_model; got d_model={d_model}")
        self.grid = grid
        self.rows = nn.Parameter(torch.empty(grid, d_model // 2).normal_(std=0.02))  # (g, D/2)
        self.cols = nn.Parameter(torch.empty(grid, d_model // 2).normal_(std=0.02))  # (g, D/2)
        self.cls = nn.Parameter(torch.empty(1, d_model).normal_(std=0.02))  # (1, D)

    def forward(self) -> Tensor:
        g, half = self.rows.shape
        rows = self.rows[:, None, :].expand(g, g, half)  # (g, g, D/2): patch (i, j) gets row i
        cols = self.cols[None, :, :].expand(g, g, half)  # (g, g, D/2): and column j
        table = torch.cat([rows, cols], dim=-1).reshape(g * g, 2 * half)  # (N, D), row-major
        return torch.cat([self.cls, table])[None]  # (1, 1+N, D)


def check_images(x: Tensor, config) -> None:
    """Raise a ValueError naming the expected (B, in_channels, image_size, image_size) and x's shape
    unless x is a batch of ``config``'s images (a ViTConfig or any config with those fields)."""
    c = config
    if x.dim() != 4 or x.shape[1] != c.in_channels or x.shape[2:] != (c.image_size, c.image_size):
        raise ValueError(
            f"x must be (B, in_channels={c.in_channels}, {c.image_size}, {c.image_size}); got shape {tuple(x.shape)}"
        )


@dataclass
class ViTConfig:
    """A small ViT; defaults fit scikit-learn's 8 × 8 digits."""

    image_size: int = 8  # input height = width
    patch_size: int = 2  # P: N = (image_size / P)² patches
    in_channels: int = 1  # C: 1 for digits, 3 for RGB
    n_classes: int = 10  # outputs of the head
    d_model: int = 64  # token width D
    n_layers: int = 4  # encoder blocks
    n_heads: int = 4  # attention heads per block
    d_ff: int = 128  # hidden width of each block's MLP
    dropout: float = 0.0  # dropout in the blocks
    position: str = "learned"  # "learned" 1-D embedding, "2d" (row + column) or "none"
    stem: str = "patchify"  # "patchify" (a stride-P linear map) or "conv" (ConvStem)
    use_sdpa: bool = True  # attention through F.scaled_dot_product_attention (faster, same result)

    @property
    def n_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2


class ViT(nn.Module):
    """Vision Transformer: patch embedding, [CLS] token, learned position embedding added after
    the [CLS] concat, pre-norm encoder blocks (GELU MLP, LayerNorm eps 1e-6), final LayerNorm,
    linear head on token 0.

    Parameters: ``patch_embed`` (PatchEmbedding, or ConvStem), ``cls_token`` (1, 1, D),
    ``pos_embed`` (1, 1+N, D) or None, ``pos_grid`` (GridPositionEmbedding) or None,
    ``blocks`` (EncoderLayer × n_layers), ``norm``, ``head``.
    """

    def __init__(self, config: ViTConfig):
        super().__init__()
        c = config
        if c.image_size % c.patch_size:
            raise ValueError(
                f"patch_size must divide image_size; got patch_size={c.patch_size}, image_size={c.image_size}"
            )
        if c.position not in ("learned", "2d", "none"):
            raise ValueError(f"position must be 'learned', '2d' or 'none'; got {c.position!r}")
        if c.stem not in ("patchify", "conv"):
            raise ValueError(f"stem must be 'patchify' or 'conv'; got {c.stem!r}")
        self.config = c
        stem = PatchEmbedding if c.stem == "patchify" else ConvStem
        self.patch_embed = stem(c.in_channels, c.patch_size, c.d_model)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, c.d_model))
        self.pos_embed = (
            nn.Parameter(torch.empty(1, c.n_patches + 1, c.d_model).normal_(std=0.02))
            if c.position == "learned"
            else None
        )
        grid = c.image_size // c.patch_size
        self.pos_grid = GridPositionEmbedding(grid, c.d_model) if c.position == "2d" else None
        self.blocks = nn.ModuleList(
            [
                EncoderLayer(
                    c.d_model,
                    c.n_heads,
                    c.d_ff,
                    dropout=c.dropout,
                    norm_first=True,
                    activation="gelu",
                    eps=LN_EPS,
                    use_sdpa=c.use_sdpa,
                )
                for _ in range(c.n_layers)
            ]
        )
        self.norm = nn.LayerNorm(c.d_model, eps=LN_EPS)
        self.head = nn.Linear(c.d_model, c.n_classes)

    def embed(self, x: Tensor) -> Tensor:
        """z₀: (B, C, H, W) → (B, 1+N, D), the [CLS] token first, positions added."""
        check_images(x, self.config)
        tokens = self.patch_embed(x)  # (B, N, D)
        cls = self.cls_token.expand(x.shape[0], -1, -1)  # (B, 1, D)
        z = torch.cat([cls, tokens], dim=1)  # (B, 1+N, D)
        if self.pos_grid is not None:
            return z + self.pos_grid()
        return z if self.pos_embed is None else z + self.pos_embed

    @reference
    def forward_features(self, x: Tensor) -> Tensor:
        """(B, C, H, W) → tokens (B, 1+N, D) after the final LayerNorm."""
        z = self.embed(x)
        for block in self.blocks:
            z = block(z)
        return self.norm(z)

    @reference
    def forward(self, x: Tensor) -> Tensor:
        """(B, C, H, W) → logits (B, n_classes), from the [CLS] token."""
        return self.head(self.forward_features(x)[:, 0])


@torch.no_grad()
def attention_maps(model: ViT, x: Tensor) -> Tensor:
    """Every block's attention weights: (n_layers, B, h, 1+N, 1+N) (eval mode, no dropout)."""
    maps = []
    z = model.embed(x)
    for block in model.blocks:
        _, weights = block.self_attn(block.norm1(z), need_weights=True)  # (B, h, 1+N, 1+N)
        maps.append(weights)
        z = block(z)
    return torch.stack(maps)


def mean_attention_distance(maps: Tensor, grid: int, patch_size: int) -> Tensor:
    """Average distance in pixels between a patch and the patches it attends to, weighted by
    attention (the ViT paper's "attention distance"), over patch queries and keys only.

    maps: (L, B, h, 1+N, 1+N) from :func:`attention_maps`; grid = √N patches per side.
    Returns (L, h): the mean over images and query patches.
    """
    ys, xs = torch.meshgrid(torch.arange(grid), torch.arange(grid), indexing="ij")
    pos = torch.stack([ys.flatten(), xs.flatten()], dim=-1).float().to(maps.device) * patch_size  # (N, 2)
    dist = torch.cdist(pos, pos)  # (N, N) pixels
    w = maps[..., 1:, 1:]
    w = w / w.sum(-1, keepdim=True)  # renormalise without the [CLS] key
    return (w * dist).sum(-1).mean(dim=(1, 3))  # (L, h)


@torch.no_grad()
def load_torchvision_vit(model: ViT, tv: nn.Module) -> ViT:
    """Copy a ``torchvision.models.VisionTransformer``'s weights into ``model`` (same sizes).

    conv_proj (D, C, P, P) → patch_embed.proj (D, C·P²) ((c, p, q) order); class_token;
    encoder.pos_embedding; per layer ln_1 → norm1, in_proj [W_q; W_k; W_v] → q/k/v_proj,
    out_proj, ln_2 → norm2, mlp.0 / mlp.3 → ff.fc1 / ff.fc2; encoder.ln → norm; heads.head → head.
    """
    D = model.config.d_model
    model.patch_embed.proj.weight.copy_(tv.conv_proj.weight.reshape(D, -1))
    model.patch_embed.proj.bias.copy_(tv.conv_proj.bias)
    model.cls_token.copy_(tv.class_token)
    model.pos_embed.copy_(tv.encoder.pos_embedding)
    for block, layer in zip(model.blocks, tv.encoder.layers):
        attn = layer.self_attention
        for proj, w, b in zip(
            (block.self_attn.q_proj, block.self_attn.k_proj, block.self_attn.v_proj),
            attn.in_proj_weight.chunk(3),
            attn.in_proj_bias.chunk(3),
        ):
            proj.weight.copy_(w)
            proj.bias.copy_(b)
        block.self_attn.out_proj.load_state_dict(attn.out_proj.state_dict())
        block.norm1.load_state_dict(layer.ln_1.state_dict())
        block.norm2.load_state_dict(layer.ln_2.state_dict())
        block.ff.fc1.load_state_dict(layer.mlp[0].state_dict())
        block.ff.fc2.load_state_dict(layer.mlp[3].state_dict())
    model.norm.load_state_dict(tv.encoder.ln.state_dict())
    model.head.load_state_dict(tv.heads.head.state_dict())
    return model
