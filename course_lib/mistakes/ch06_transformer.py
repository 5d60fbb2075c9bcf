"""Common mistakes of chapter 6 (the encoder-decoder Transformer). Each fails the graded test cell it names.

The class exercises give the constructor and ask for ``forward`` (or ``encode``/``decode``), so each
wrong implementation here subclasses course_lib's class and overrides only what the student writes.
They call nothing but the attention and position modules the cells allow.
"""

import math

import torch

from .. import transformer
from . import Catalogue

catalogue = Catalogue("06_transformer")
mistake = catalogue.mistake


# --- EncoderLayer.forward ---------------------------------------------------------------------
@mistake(
    "encoder-pre-post-swapped",
    cell="test_encoder_layer",
    replaces="EncoderLayer",
    explanation="Your layer normalises where the other placement does: with norm_first=False it "
    "runs Pre-LN and with norm_first=True it runs Post-LN.",
    hint="Post-LN (norm_first=False): x = norm1(x + SA(x)). Pre-LN (norm_first=True): x = x + SA(norm1(x)).",
)
class EncoderLayerPrePostSwapped(transformer.EncoderLayer):
    def forward(self, x, mask=None):
        if not self.norm_first:
            h = self.norm1(x)
            x = x + self.dropout1(self.self_attn(h, h, h, mask=mask))
            return x + self.dropout2(self.ff(self.norm2(x)))
        x = self.norm1(x + self.dropout1(self.self_attn(x, x, x, mask=mask)))
        return self.norm2(x + self.dropout2(self.ff(x)))


@mistake(
    "encoder-residual-missing",
    cell="test_encoder_layer",
    replaces="EncoderLayer",
    explanation="The residual connections are missing: each sub-layer's output replaces x instead of "
    "being added to it.",
    hint="Add the branch to its input: x = x + SA(...) (Pre-LN) or norm1(x + SA(x)) (Post-LN).",
)
class EncoderLayerNoResidual(transformer.EncoderLayer):
    def forward(self, x, mask=None):
        if self.norm_first:
            h = self.norm1(x)
            x = self.dropout1(self.self_attn(h, h, h, mask=mask))
            return self.dropout2(self.ff(self.norm2(x)))
        x = self.norm1(self.dropout1(self.self_attn(x, x, x, mask=mask)))
        return self.norm2(self.dropout2(self.ff(x)))


@mistake(
    "encoder-norm-on-branch",
    cell="test_encoder_layer",
    replaces="EncoderLayer",
    explanation="In Post-LN you normalise the sub-layer's output and then add it to x "
    "(x + norm1(SA(x))); Post-LN normalises the SUM.",
    hint="Post-LN is x = norm1(x + SA(x)), then x = norm2(x + FF(x)).",
)
class EncoderLayerNormOnBranch(transformer.EncoderLayer):
    def forward(self, x, mask=None):
        if self.norm_first:
            h = self.norm1(x)
            x = x + self.dropout1(self.self_attn(h, h, h, mask=mask))
            return x + self.dropout2(self.ff(self.norm2(x)))
        x = x + self.norm1(self.dropout1(self.self_attn(x, x, x, mask=mask)))
        return x + self.norm2(self.dropout2(self.ff(x)))


@mistake(
    "encoder-mask-ignored",
    cell="test_encoder_layer",
    replaces="EncoderLayer",
    explanation="The mask never reaches the attention, so real tokens attend to padding.",
    hint="Pass it on: self.self_attn(h, h, h, mask=mask).",
)
class EncoderLayerMaskIgnored(transformer.EncoderLayer):
    def forward(self, x, mask=None):
        return _encoder_no_mask(self, x)


@mistake(
    "encoder-dropout-missing",
    cell="test_encoder_layer",
    replaces="EncoderLayer",
    explanation="self.dropout1 and self.dropout2 are never applied, so the layer trains without the "
    "dropout its constructor was given (in eval mode nothing changes, which is why it hides).",
    hint="Wrap each sub-layer's output before the residual sum: x + self.dropout1(self.self_attn(...)).",
)
class EncoderLayerNoDropout(transformer.EncoderLayer):
    def forward(self, x, mask=None):
        if self.norm_first:
            h = self.norm1(x)
            x = x + self.self_attn(h, h, h, mask=mask)
            return x + self.ff(self.norm2(x))
        x = self.norm1(x + self.self_attn(x, x, x, mask=mask))
        return self.norm2(x + self.ff(x))


def _encoder_no_mask(layer, x):
    if layer.norm_first:
        h = layer.norm1(x)
        x = x + layer.dropout1(layer.self_attn(h, h, h))
        return x + layer.dropout2(layer.ff(layer.norm2(x)))
    x = layer.norm1(x + layer.dropout1(layer.self_attn(x, x, x)))
    return layer.norm2(x + layer.dropout2(layer.ff(x)))


# --- DecoderLayer.forward ---------------------------------------------------------------------
def _decoder(layer, y, memory, tgt_mask, memory_mask, kv="memory", cross_mask="memory", swapped=False, dropout=True):
    """A decoder layer with one thing changed: where K/V come from, which masks apply, the norm placement
    or the sub-layer dropouts."""
    pre = layer.norm_first != swapped
    drop1, drop2, drop3 = (layer.dropout1, layer.dropout2, layer.dropout3) if dropout else (lambda t: t,) * 3

    def cross(q):
        source = memory if kv == "memory" else q
        mask = memory_mask if cross_mask == "memory" else None
        return layer.cross_attn(q, source, source, mask=mask if source is memory else None)

    if pre:
        h = layer.norm1(y)
        y = y + drop1(layer.self_attn(h, h, h, mask=tgt_mask))
        y = y + drop2(cross(layer.norm2(y)))
        return y + drop3(layer.ff(layer.norm3(y)))
    y = layer.norm1(y + drop1(layer.self_attn(y, y, y, mask=tgt_mask)))
    y = layer.norm2(y + drop2(cross(y)))
    return layer.norm3(y + drop3(layer.ff(y)))


@mistake(
    "cross-kv-from-decoder",
    cell="test_decoder_layer",
    replaces="DecoderLayer",
    explanation="Your cross-attention takes its keys and values from the decoder (y) instead of the "
    "encoder's memory, so the decoder never reads the source sentence.",
    hint="Queries from the decoder, keys and values from the memory: self.cross_attn(h, memory, memory, ...).",
)
class DecoderLayerCrossFromDecoder(transformer.DecoderLayer):
    def forward(self, y, memory, tgt_mask=None, memory_mask=None):
        return _decoder(self, y, memory, tgt_mask, memory_mask, kv="decoder")


@mistake(
    "decoder-memory-mask-ignored",
    cell="test_decoder_layer",
    replaces="DecoderLayer",
    explanation="Your cross-attention ignores memory_mask, so the decoder attends to the source's padding.",
    hint="Pass memory_mask to the cross-attention: self.cross_attn(h, memory, memory, mask=memory_mask).",
)
class DecoderLayerMemoryMaskIgnored(transformer.DecoderLayer):
    def forward(self, y, memory, tgt_mask=None, memory_mask=None):
        return _decoder(self, y, memory, tgt_mask, memory_mask, cross_mask="none")


@mistake(
    "decoder-tgt-mask-ignored",
    cell="test_decoder_layer",
    replaces="DecoderLayer",
    explanation="Your masked self-attention ignores tgt_mask, so each position sees the future target "
    "tokens it is supposed to predict.",
    hint="Pass tgt_mask to the self-attention: self.self_attn(h, h, h, mask=tgt_mask).",
)
class DecoderLayerTgtMaskIgnored(transformer.DecoderLayer):
    def forward(self, y, memory, tgt_mask=None, memory_mask=None):
        return _decoder(self, y, memory, None, memory_mask)


@mistake(
    "decoder-pre-post-swapped",
    cell="test_decoder_layer",
    replaces="DecoderLayer",
    explanation="Your decoder layer uses Pre-LN when norm_first=False and Post-LN when norm_first=True.",
    hint="Post-LN: y = norm(y + sublayer(y)); Pre-LN: y = y + sublayer(norm(y)).",
)
class DecoderLayerPrePostSwapped(transformer.DecoderLayer):
    def forward(self, y, memory, tgt_mask=None, memory_mask=None):
        return _decoder(self, y, memory, tgt_mask, memory_mask, swapped=True)


@mistake(
    "decoder-dropout-missing",
    cell="test_decoder_layer",
    replaces="DecoderLayer",
    explanation="self.dropout1..3 are never applied, so the layer trains without the dropout its "
    "constructor was given (in eval mode nothing changes, which is why it hides).",
    hint="Wrap each sub-layer's output before the residual sum: y + self.dropout2(self.cross_attn(...)).",
)
class DecoderLayerNoDropout(transformer.DecoderLayer):
    def forward(self, y, memory, tgt_mask=None, memory_mask=None):
        return _decoder(self, y, memory, tgt_mask, memory_mask, dropout=False)


# --- Transformer.encode / decode --------------------------------------------------------------
def _encode(model, src, src_mask, scale=True, causal=False, final_norm=True, scale_after_pe=False, dropout=True):
    d = model.config.d_model
    x = model.src_embed(src)
    if scale_after_pe:
        x = model.pos(x) * math.sqrt(d)
    else:
        x = model.pos(x * math.sqrt(d) if scale else x)
    x = model.dropout(x) if dropout else x
    mask = src_mask
    if causal:
        S = src.shape[1]
        mask = src_mask & torch.ones(S, S, dtype=torch.bool, device=src.device).tril()  # (B, S, S)
    for layer in model.encoder.layers:
        x = layer(x, mask)
    return model.encoder.norm(x) if final_norm else x


def _decode(
    model, tgt, memory, src_mask, scale=True, final_norm=True, scale_after_pe=False, dropout=True, mask_device=True
):
    d, T = model.config.d_model, tgt.shape[1]
    y = model.tgt_embed(tgt)
    y = model.pos(y) * math.sqrt(d) if scale_after_pe else model.pos(y * math.sqrt(d) if scale else y)
    y = model.dropout(y) if dropout else y
    tgt_mask = torch.ones(T, T, dtype=torch.bool, device=tgt.device if mask_device else None).tril()
    for layer in model.decoder.layers:
        y = layer(y, memory, tgt_mask, src_mask)
    return model.generator(model.decoder.norm(y) if final_norm else y)


@mistake(
    "no-sqrt-d-model",
    cell="test_transformer",
    replaces="Transformer",
    explanation="The embeddings are not multiplied by √d_model before the positions are added, so the "
    "positional signal dominates the word's identity.",
    hint="x = self.src_embed(src) * math.sqrt(self.config.d_model), then add the positions (same for tgt).",
)
class TransformerNoScale(transformer.Transformer):
    def encode(self, src, src_mask):
        return _encode(self, src, src_mask, scale=False)

    def decode(self, tgt, memory, src_mask):
        return _decode(self, tgt, memory, src_mask, scale=False)


@mistake(
    "scale-after-positions",
    cell="test_transformer",
    replaces="Transformer",
    explanation="You multiply by √d_model AFTER adding the positional encoding, which scales the positions too.",
    hint="Scale the embedding first, then add the positions: self.pos(self.src_embed(src) * √d_model).",
)
class TransformerScaleAfterPositions(transformer.Transformer):
    def encode(self, src, src_mask):
        return _encode(self, src, src_mask, scale_after_pe=True)

    def decode(self, tgt, memory, src_mask):
        return _decode(self, tgt, memory, src_mask, scale_after_pe=True)


@mistake(
    "causal-mask-on-encoder",
    cell="test_transformer",
    replaces="Transformer",
    explanation="Your encoder uses a causal (look-ahead) mask, so a source word cannot see the words after "
    "it; only the decoder must not look ahead.",
    hint="The encoder gets the source padding mask only: layer(x, src_mask).",
)
class TransformerCausalEncoder(transformer.Transformer):
    def encode(self, src, src_mask):
        return _encode(self, src, src_mask, causal=True)

    def decode(self, tgt, memory, src_mask):
        return _decode(self, tgt, memory, src_mask)


@mistake(
    "final-norm-missing",
    cell="test_transformer",
    replaces="Transformer",
    explanation="The final LayerNorms after the encoder and decoder stacks are missing.",
    hint="Return self.encoder.norm(x) from encode and apply self.decoder.norm before the generator.",
)
class TransformerNoFinalNorm(transformer.Transformer):
    def encode(self, src, src_mask):
        return _encode(self, src, src_mask, final_norm=False)

    def decode(self, tgt, memory, src_mask):
        return _decode(self, tgt, memory, src_mask, final_norm=False)


@mistake(
    "embedding-dropout-missing",
    cell="test_transformer",
    replaces="Transformer",
    explanation="self.dropout is never applied to the embeddings plus positions, so the model trains "
    "without the dropout its config asks for (in eval mode nothing changes, which is why it hides).",
    hint="x = self.dropout(self.pos(self.src_embed(src) * math.sqrt(d_model))); the same in decode.",
)
class TransformerNoEmbeddingDropout(transformer.Transformer):
    def encode(self, src, src_mask):
        return _encode(self, src, src_mask, dropout=False)

    def decode(self, tgt, memory, src_mask):
        return _decode(self, tgt, memory, src_mask, dropout=False)


@mistake(
    "lookahead-mask-on-cpu",
    cell="test_transformer",
    replaces="Transformer",
    explanation="decode creates the look-ahead mask on the CPU whatever device tgt is on, so the model fails on a GPU.",
    hint="torch.ones(T, T, dtype=torch.bool, device=tgt.device).tril().",
)
class TransformerMaskOnCPU(transformer.Transformer):
    def encode(self, src, src_mask):
        return _encode(self, src, src_mask)

    def decode(self, tgt, memory, src_mask):
        return _decode(self, tgt, memory, src_mask, mask_device=False)


# --- greedy_decode ----------------------------------------------------------------------------
def _greedy(
    model,
    src,
    max_len,
    bos_id,
    eos_id,
    pad_id,
    stop=True,
    pad_finished=True,
    position=-1,
    steps_extra=0,
    stop_on_any=False,
):
    B = src.shape[0]
    src_mask = model.source_mask(src)
    memory = model.encode(src, src_mask)
    ys = torch.full((B, 1), bos_id, dtype=torch.long, device=src.device)
    finished = torch.zeros(B, dtype=torch.bool, device=src.device)
    for _ in range(max_len + steps_extra):
        next_token = model.decode(ys, memory, src_mask)[:, position].argmax(-1)
        if pad_finished:
            next_token = next_token.masked_fill(finished, pad_id)
        ys = torch.cat([ys, next_token[:, None]], dim=1)
        finished |= next_token == eos_id
        if stop and (finished.any() if stop_on_any else finished.all()):
            break
    return ys


@mistake(
    "decode-past-eos",
    cell="test_greedy_decode",
    replaces="greedy_decode",
    explanation="Rows that already produced <eos> keep generating tokens, and decoding only stops at max_len.",
    hint="Keep a boolean 'finished' per row, write pad_id after a row's <eos>, and stop when all rows are finished.",
)
def greedy_past_eos(model, src, max_len, bos_id=1, eos_id=2, pad_id=0):
    return _greedy(model, src, max_len, bos_id, eos_id, pad_id, stop=False, pad_finished=False)


@mistake(
    "decode-reads-first-position",
    cell="test_greedy_decode",
    replaces="greedy_decode",
    explanation="You take the next token from the logits of the FIRST position (logits[:, 0]); the "
    "prediction for the next token is at the LAST position.",
    hint="next_token = logits[:, -1].argmax(dim=-1).",
)
def greedy_first_position(model, src, max_len, bos_id=1, eos_id=2, pad_id=0):
    return _greedy(model, src, max_len, bos_id, eos_id, pad_id, position=0)


@mistake(
    "decode-one-step-too-many",
    cell="test_greedy_decode",
    replaces="greedy_decode",
    explanation="Your loop generates max_len + 1 tokens after <bos>; max_len is the most it may generate.",
    hint="Loop for _ in range(max_len): the result has at most 1 + max_len columns.",
)
def greedy_one_too_many(model, src, max_len, bos_id=1, eos_id=2, pad_id=0):
    return _greedy(model, src, max_len, bos_id, eos_id, pad_id, steps_extra=1)


@mistake(
    "decode-stops-at-first-eos",
    cell="test_greedy_decode",
    replaces="greedy_decode",
    explanation="You stop the whole batch as soon as ONE row produces <eos>; the other rows are cut short.",
    hint="Stop when every row is finished: if finished.all(): break.",
)
def greedy_stop_on_any(model, src, max_len, bos_id=1, eos_id=2, pad_id=0):
    return _greedy(model, src, max_len, bos_id, eos_id, pad_id, stop_on_any=True)
