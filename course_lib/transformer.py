"""Chapter 6 — the encoder-decoder Transformer, built from chapter 4's attention.

Layers (reused by the ViT of chapter 7 and the CLIP text encoder of chapter 9):

- :class:`FeedForward`: fc2(act(fc1(x))), applied to every position on its own;
- :class:`EncoderLayer`: self-attention and feed-forward sub-layers, each wrapped in a residual
  connection and a LayerNorm, placed after the residual sum (Post-LN, the 2017 paper) or at the
  start of the branch (Pre-LN, Xiong et al. 2020);
- :class:`DecoderLayer`: masked self-attention, cross-attention (queries from the decoder, keys
  and values from the encoder's memory), feed-forward;
- :class:`TransformerEncoder` / :class:`TransformerDecoder`: a stack of layers and a final norm;
- :class:`Transformer`: embeddings × √d_model + sinusoidal positions, the two stacks and the
  output projection, configured by :class:`TransformerConfig`.

Masks are boolean, True where a query MAY attend (chapter 3's convention), shaped (L, S),
(B, L, S) or (B, 1, S). Greedy decoding and training helpers live in :mod:`course_lib.decoding`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor, nn

from .data.vocab import PAD
from .multihead import MultiHeadAttention
from .positional import SinusoidalPositionalEncoding
from .reference import reference

_ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU}  # nn.GELU() is the exact (erf) GELU


def _check_seq(x: Tensor, d_model: int, name: str) -> None:
    if x.dim() != 3 or x.shape[-1] != d_model:
        raise ValueError(f"{name} must have shape (B, T, d_model={d_model}); got {tuple(x.shape)}")


def _check_mask(mask: Optional[Tensor], B: int, L: int, S: int, name: str) -> None:
    """A boolean mask of shape (L, S), (B, L, S) or (B, 1, S)."""
    if mask is None:
        return
    if mask.dtype != torch.bool:
        raise TypeError(f"{name} must be a bool tensor (True = may attend); got dtype {mask.dtype}")
    allowed = [(L, S), (B, L, S), (B, 1, S)]
    if tuple(mask.shape) not in allowed:
        raise ValueError(
            f"{name} must have shape (L, S) = {allowed[0]}, (B, L, S) = {allowed[1]} "
            f"or (B, 1, S) = {allowed[2]}; got {tuple(mask.shape)}"
        )


class FeedForward(nn.Module):
    """Position-wise feed-forward block: fc2(dropout(act(fc1(x)))).

    x: (B, T, d_model) → (B, T, d_model), through a hidden width d_ff (usually 4 · d_model).
    """

    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0, activation: str = "relu", bias: bool = True):
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}; got {activation!r}")
        self.fc1 = nn.Linear(d_model, d_ff, bias=bias)
        self.act = _ACTIVATIONS[activation]()
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(d_ff, d_model, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.dropout(self.act(self.fc1(x))))  # (B, T, d_model)


class EncoderLayer(nn.Module):
    """One encoder layer: self-attention then feed-forward, each with a residual and a LayerNorm.

    Post-LN (norm_first=False):  x = norm1(x + SA(x));        x = norm2(x + FF(x))
    Pre-LN  (norm_first=True):   x = x + SA(norm1(x));        x = x + FF(norm2(x))
    Same parameters and results as ``nn.TransformerEncoderLayer(..., batch_first=True)``.
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_ff: int,
        dropout: float = 0.0,
        norm_first: bool = False,
        activation: str = "relu",
        eps: float = 1e-5,
        bias: bool = True,
        use_sdpa: bool = False,
    ):
        super().__init__()
        self.d_model, self.norm_first = d_model, norm_first
        self.self_attn = MultiHeadAttention(d_model, n_heads, bias=bias, dropout=dropout, use_sdpa=use_sdpa)
        self.norm1 = nn.LayerNorm(d_model, eps=eps, bias=bias)
        self.ff = FeedForward(d_model, d_ff, dropout, activation, bias=bias)
        self.norm2 = nn.LayerNorm(d_model, eps=eps, bias=bias)
        self.dropout1 = nn.Dropout(dropout)  # on each sub-layer's output, before the residual sum
        self.dropout2 = nn.Dropout(dropout)

    @reference
    def forward(self, x: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        """Post-LN: x = norm1(x + SA(x)), x = norm2(x + FF(x)); Pre-LN: x = x + SA(norm1(x)), x = x + FF(norm2(x)).

        x: (B, T, C)  mask: bool (T, T), (B, T, T) or (B, 1, T), True where a query may attend.
        Returns (B, T, C).
        """
        B, T, C = x.shape
        _check_seq(x, self.d_model, "x")
        _check_mask(mask, B, T, T, "mask")
        if self.norm_first:
            h = self.norm1(x)
            x = x + self.dropout1(self.self_attn(h, h, h, mask=mask))  # (B, T, C)
            x = x + self.dropout2(self.ff(self.norm2(x)))
        else:
            x = self.norm1(x + self.dropout1(self.self_attn(x, x, x, mask=mask)))  # (B, T, C)
            x = self.norm2(x + self.dropout2(self.ff(x)))
        return x


class DecoderLayer(nn.Module):
    """One decoder layer: masked self-attention, cross-attention to the memory, feed-forward.

    Post-LN: y = norm1(y + SA(y)); y = norm2(y + CA(y, memory)); y = norm3(y + FF(y))
    Pre-LN:  y = y + SA(norm1(y)); y = y + CA(norm2(y), memory); y = y + FF(norm3(y))
    In CA the queries come from the decoder, the keys and values from the encoder's memory.
    Same parameters and results as ``nn.TransformerDecoderLayer(..., batch_first=True)``.
    Set ``keep_attention = True`` to store the cross-attention weights (B, h, T, S) in ``cross_weights``.
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_ff: int,
        dropout: float = 0.0,
        norm_first: bool = False,
        activation: str = "relu",
        eps: float = 1e-5,
        bias: bool = True,
        use_sdpa: bool = False,
    ):
        super().__init__()
        self.d_model, self.norm_first = d_model, norm_first
        self.self_attn = MultiHeadAttention(d_model, n_heads, bias=bias, dropout=dropout, use_sdpa=use_sdpa)
        self.norm1 = nn.LayerNorm(d_model, eps=eps, bias=bias)
        self.cross_attn = MultiHeadAttention(d_model, n_heads, bias=bias, dropout=dropout, use_sdpa=use_sdpa)
        self.norm2 = nn.LayerNorm(d_model, eps=eps, bias=bias)
        self.ff = FeedForward(d_model, d_ff, dropout, activation, bias=bias)
        self.norm3 = nn.LayerNorm(d_model, eps=eps, bias=bias)
        self.dropout1, self.dropout2, self.dropout3 = nn.Dropout(dropout), nn.Dropout(dropout), nn.Dropout(dropout)
        self.keep_attention = False
        self.cross_weights: Optional[Tensor] = None

    def _cross(self, y: Tensor, memory: Tensor, memory_mask: Optional[Tensor]) -> Tensor:
        if not self.keep_attention:
            return self.cross_attn(y, memory, memory, mask=memory_mask)
        out, weights = self.cross_attn(y, memory, memory, mask=memory_mask, need_weights=True)
        self.cross_weights = weights.detach()  # (B, h, T, S)
        return out

    @reference
    def forward(
        self, y: Tensor, memory: Tensor, tgt_mask: Optional[Tensor] = None, memory_mask: Optional[Tensor] = None
    ) -> Tensor:
        """Masked self-attention, cross-attention (K, V from memory), feed-forward; Post-LN or Pre-LN.

        y: (B, T, C) decoder input  memory: (B, S, C) encoder output
        tgt_mask: bool (T, T) / (B, T, T) / (B, 1, T)  memory_mask: bool (T, S) / (B, T, S) / (B, 1, S)
        Returns (B, T, C).
        """
        B, T, C = y.shape
        _check_seq(y, self.d_model, "y")
        _check_seq(memory, self.d_model, "memory")
        if memory.shape[0] != B:
            raise ValueError(
                f"y and memory must have the same batch size; got y {tuple(y.shape)}, memory {tuple(memory.shape)}"
            )
        _check_mask(tgt_mask, B, T, T, "tgt_mask")
        _check_mask(memory_mask, B, T, memory.shape[1], "memory_mask")
        if self.norm_first:
            h = self.norm1(y)
            y = y + self.dropout1(self.self_attn(h, h, h, mask=tgt_mask))  # (B, T, C)
            y = y + self.dropout2(self._cross(self.norm2(y), memory, memory_mask))
            y = y + self.dropout3(self.ff(self.norm3(y)))
        else:
            y = self.norm1(y + self.dropout1(self.self_attn(y, y, y, mask=tgt_mask)))  # (B, T, C)
            y = self.norm2(y + self.dropout2(self._cross(y, memory, memory_mask)))
            y = self.norm3(y + self.dropout3(self.ff(y)))
        return y


class _LayerStack(nn.Module):
    """n_layers layers made by ``_layer`` (one signature for both stacks) and a final LayerNorm."""

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_ff: int,
        n_layers: int,
        dropout: float = 0.0,
        norm_first: bool = False,
        *,
        activation: str = "relu",
        eps: float = 1e-5,
        bias: bool = True,
        final_norm: bool = True,
        use_sdpa: bool = False,
    ):
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"n_layers must be >= 1; got {n_layers}")
        self.layers = nn.ModuleList(
            self._layer(
                d_model,
                n_heads,
                d_ff,
                dropout,
                norm_first,
                activation=activation,
                eps=eps,
                bias=bias,
                use_sdpa=use_sdpa,
            )
            for _ in range(n_layers)
        )
        self.norm = nn.LayerNorm(d_model, eps=eps, bias=bias) if final_norm else nn.Identity()

    def _layer(self, *args, **kwargs) -> nn.Module:
        raise NotImplementedError


class TransformerEncoder(_LayerStack):
    """n_layers :class:`EncoderLayer` s and a final LayerNorm (ViT and CLIP's text encoder use it).

    x: (B, T, C), mask as in EncoderLayer → (B, T, C).
    """

    def _layer(self, *args, **kwargs) -> EncoderLayer:
        return EncoderLayer(*args, **kwargs)

    def forward(self, x: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        for layer in self.layers:
            x = layer(x, mask)  # (B, T, C)
        return self.norm(x)


class TransformerDecoder(_LayerStack):
    """n_layers :class:`DecoderLayer` s and a final LayerNorm. y: (B, T, C), memory: (B, S, C) → (B, T, C)."""

    def _layer(self, *args, **kwargs) -> DecoderLayer:
        return DecoderLayer(*args, **kwargs)

    def forward(
        self, y: Tensor, memory: Tensor, tgt_mask: Optional[Tensor] = None, memory_mask: Optional[Tensor] = None
    ) -> Tensor:
        for layer in self.layers:
            y = layer(y, memory, tgt_mask, memory_mask)  # (B, T, C)
        return self.norm(y)


@dataclass
class TransformerConfig:
    """An encoder-decoder Transformer; the defaults are the chapter's translation model."""

    src_vocab_size: int = 64  # source (English) token ids
    tgt_vocab_size: int = 64  # target (Spanish) token ids
    d_model: int = 64  # width of every token vector
    n_heads: int = 4  # attention heads per attention layer (d_model % n_heads == 0)
    d_ff: int = 256  # hidden width of the feed-forward blocks
    n_encoder_layers: int = 2  # encoder depth
    n_decoder_layers: int = 2  # decoder depth
    dropout: float = 0.0  # dropout on embeddings, attention weights and sub-layer outputs
    norm_first: bool = True  # Pre-LN (True) or Post-LN (False)
    max_len: int = 128  # longest sequence the positional encoding covers
    pad_id: int = PAD  # the padding id of the source, masked out of attention
    use_sdpa: bool = False  # attention through F.scaled_dot_product_attention (faster, same result)


class Transformer(nn.Module):
    """Encoder-decoder Transformer (Vaswani et al. 2017) for sequence-to-sequence tasks.

    src: (B, S) source ids, tgt: (B, T) target ids (shifted right: <bos> y_1 … y_{T-1})
    → logits (B, T, tgt_vocab_size) for the next target token at every position.
    Like ``nn.Transformer``, both stacks end with a LayerNorm, in Post-LN as in Pre-LN.
    """

    def __init__(self, config: TransformerConfig):
        super().__init__()
        c = self.config = config
        if c.d_model % c.n_heads:
            raise ValueError(f"config.d_model must be divisible by config.n_heads; got {c.d_model} and {c.n_heads}")
        self.src_embed = nn.Embedding(c.src_vocab_size, c.d_model)
        self.tgt_embed = nn.Embedding(c.tgt_vocab_size, c.d_model)
        self.pos = SinusoidalPositionalEncoding(c.d_model, c.max_len)
        self.dropout = nn.Dropout(c.dropout)
        self.encoder = TransformerEncoder(
            c.d_model, c.n_heads, c.d_ff, c.n_encoder_layers, c.dropout, c.norm_first, use_sdpa=c.use_sdpa
        )
        self.decoder = TransformerDecoder(
            c.d_model, c.n_heads, c.d_ff, c.n_decoder_layers, c.dropout, c.norm_first, use_sdpa=c.use_sdpa
        )
        self.generator = nn.Linear(c.d_model, c.tgt_vocab_size)  # d_model → next-token logits

    def source_mask(self, src: Tensor) -> Tensor:
        """Key-padding mask of the source: bool (B, 1, S), True at real (non-pad) tokens."""
        return (src != self.config.pad_id)[:, None, :]  # (B, 1, S)

    @reference
    def encode(self, src: Tensor, src_mask: Tensor) -> Tensor:
        """memory = final_norm(EncoderStack(dropout(Embed(src) · √d_model + PE))).

        src: (B, S) long  src_mask: bool (B, 1, S), True at real tokens.
        Returns memory (B, S, C).
        """
        x = self.src_embed(src) * math.sqrt(self.config.d_model)  # (B, S, C)
        x = self.dropout(self.pos(x))
        for layer in self.encoder.layers:
            x = layer(x, src_mask)  # (B, S, C), no causal mask: the encoder sees the whole source
        return self.encoder.norm(x)

    @reference
    def decode(self, tgt: Tensor, memory: Tensor, src_mask: Tensor) -> Tensor:
        """logits = generator(final_norm(DecoderStack(dropout(Embed(tgt) · √d_model + PE), memory))).

        tgt: (B, T) long, shifted right  memory: (B, S, C)  src_mask: bool (B, 1, S).
        Self-attention is causal (position t sees positions ≤ t); cross-attention sees the real source tokens.
        Returns logits (B, T, tgt_vocab_size).
        """
        T = tgt.shape[1]
        y = self.tgt_embed(tgt) * math.sqrt(self.config.d_model)  # (B, T, C)
        y = self.dropout(self.pos(y))
        tgt_mask = torch.ones(T, T, dtype=torch.bool, device=tgt.device).tril()  # (T, T): position t sees ≤ t
        for layer in self.decoder.layers:
            y = layer(y, memory, tgt_mask, src_mask)  # (B, T, C)
        return self.generator(self.decoder.norm(y))  # (B, T, V)

    def forward(self, src: Tensor, tgt: Tensor) -> Tensor:
        """src: (B, S) long, tgt: (B, T) long → logits (B, T, tgt_vocab_size)."""
        self.check_ids(src, self.config.src_vocab_size, "src")
        self.check_ids(tgt, self.config.tgt_vocab_size, "tgt")
        if src.shape[0] != tgt.shape[0]:
            raise ValueError(
                f"src and tgt must have the same batch size B; got src {tuple(src.shape)} and tgt {tuple(tgt.shape)}"
            )
        if max(src.shape[1], tgt.shape[1]) > self.config.max_len:
            raise ValueError(
                f"sequences must be at most config.max_len={self.config.max_len} long; "
                f"got src {tuple(src.shape)}, tgt {tuple(tgt.shape)}"
            )
        src_mask = self.source_mask(src)  # (B, 1, S)
        return self.decode(tgt, self.encode(src, src_mask), src_mask)  # (B, T, V)

    @staticmethod
    def check_ids(ids: Tensor, vocab_size: int, name: str) -> None:
        """ValueError unless ids is a (B, T) integer tensor with every id in [0, vocab_size)."""
        if ids.dim() != 2 or ids.dtype not in (torch.long, torch.int32, torch.int64):
            raise ValueError(
                f"{name} must be a (B, T) tensor of token ids (torch.long); "
                f"got shape {tuple(ids.shape)}, dtype {ids.dtype}"
            )
        if ids.device.type != "meta" and ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= vocab_size):
            raise ValueError(
                f"{name} ids must lie in [0, {vocab_size}) (the vocabulary); "
                f"got ids from {int(ids.min())} to {int(ids.max())}"
            )
