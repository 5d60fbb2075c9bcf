"""Chapter 6 — training a translation Transformer and decoding with it.

- :func:`greedy_decode`: generate from <bos>, one token at a time, until <eos> or a maximum length;
- :func:`translation_loss`: teacher forcing — the decoder reads <bos> y_1 … y_{T-1} and predicts
  y_1 … y_T <eos>, cross-entropy with label smoothing, padding ignored;
- :func:`train_translation`: a step-counted run of :func:`course_lib.training.train_steps`, Adam
  with one of :mod:`course_lib.schedules` (warm-up + cosine, the 2017 paper's warm-up + 1/√step,
  warm-up + constant) or a constant learning rate;
- :func:`translate`, :func:`evaluate_translation`: exact match and corpus BLEU (sacrebleu);
- :func:`lookahead_table`: the −1e9 additive look-ahead mask next to the boolean one;
- :func:`ffn_grad_norms`: per-layer gradient norms at initialisation (Post-LN vs Pre-LN);
- :func:`attention_maps`: every attention layer's per-head weights for one sentence pair.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import training
from .data.translation import Batch
from .data.vocab import BOS, EOS, PAD, Vocab, pad_batch
from .reference import reference
from .schedules import warmup_constant, warmup_cosine, warmup_inverse_sqrt


@reference
@torch.no_grad()
def greedy_decode(
    model: nn.Module, src: Tensor, max_len: int, bos_id: int = BOS, eos_id: int = EOS, pad_id: int = PAD
) -> Tensor:
    """Greedy decoding: y_t = argmax p(y_t | y_<t, src), from <bos> until <eos> or max_len new tokens.

    model: has ``source_mask(src)``, ``encode(src, src_mask)`` and ``decode(tgt, memory, src_mask)``
    (logits (B, t, V)). src: (B, S) long, padded with pad_id.
    Returns (B, 1 + n) long with n ≤ max_len: column 0 is <bos>; after a row's <eos> it holds pad_id.
    Stops early once every row has produced <eos>.
    """
    if src.dim() != 2:
        raise ValueError(f"src must be (B, S) token ids; got shape {tuple(src.shape)}")
    if max_len < 1:
        raise ValueError(f"max_len must be >= 1; got {max_len}")
    B = src.shape[0]
    src_mask = model.source_mask(src)  # (B, 1, S)
    memory = model.encode(src, src_mask)  # (B, S, C), computed once
    ys = torch.full((B, 1), bos_id, dtype=torch.long, device=src.device)  # (B, 1)
    finished = torch.zeros(B, dtype=torch.bool, device=src.device)  # (B,)
    for _ in range(max_len):
        logits = model.decode(ys, memory, src_mask)  # (B, t, V)
        next_token = logits[:, -1].argmax(dim=-1)  # (B,): the last position predicts the next token
        next_token = next_token.masked_fill(finished, pad_id)  # finished rows only grow padding
        ys = torch.cat([ys, next_token[:, None]], dim=1)  # (B, t + 1)
        finished |= next_token == eos_id
        if finished.all():
            break
    return ys


def translation_loss(
    model: nn.Module, batch: Batch, label_smoothing: float = 0.1, pad_id: int = PAD
) -> tuple[Tensor, int, int]:
    """Teacher forcing: decoder input tgt[:, :-1], labels tgt[:, 1:]; smoothed cross-entropy.

    batch.src: (B, S), batch.tgt: (B, T) framed by <bos> … <eos>.
    Returns (mean loss over real target tokens, number of correct next-token predictions, number of tokens).
    """
    tgt_in, tgt_out = batch.tgt[:, :-1], batch.tgt[:, 1:]  # (B, T-1) each: shifted by one
    logits = model(batch.src, tgt_in)  # (B, T-1, V)
    loss = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1), ignore_index=pad_id, label_smoothing=label_smoothing
    )
    real = tgt_out != pad_id  # (B, T-1)
    correct = int(((logits.argmax(-1) == tgt_out) & real).sum())
    return loss, correct, int(real.sum())


@dataclass
class TrainLog:
    """What :func:`train_translation` records, one entry per step."""

    loss: list[float] = field(default_factory=list)  # training loss per step
    lr: list[float] = field(default_factory=list)  # learning rate used at each step


def _forever(loader):
    while True:
        yield from loader


def train_translation(
    model: nn.Module,
    loader,
    steps: int,
    lr: float,
    warmup_steps: int,
    device: torch.device,
    label_smoothing: float = 0.1,
    clip: Optional[float] = 1.0,
    schedule: str = "cosine",
    progress: bool = True,
    desc: str = "training",
) -> TrainLog:
    """Adam (β = 0.9, 0.98) for exactly ``steps`` steps at peak learning rate ``lr``.

    schedule: "cosine" (:func:`warmup_cosine`), "inverse_sqrt" (:func:`warmup_inverse_sqrt`, the 2017
    paper's), "warmup_constant" (:func:`warmup_constant`) or "constant" (lr throughout, no warm-up).
    loader yields :class:`~course_lib.data.Batch` es
    and is cycled as often as needed. Returns the per-step :class:`TrainLog`.
    """
    model.to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.98), eps=1e-9)
    factors = {
        "cosine": lambda: warmup_cosine(warmup_steps, steps),
        "inverse_sqrt": lambda: warmup_inverse_sqrt(warmup_steps),
        "warmup_constant": lambda: warmup_constant(warmup_steps),
        "constant": lambda: lambda step: 1.0,
    }
    if schedule not in factors:
        raise ValueError(f"schedule must be one of {sorted(factors)}; got {schedule!r}")
    factor = factors[schedule]()
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    log = TrainLog()

    def loss_fn(batch: Batch) -> Tensor:
        log.lr.append(optimizer.param_groups[0]["lr"])  # the learning rate this step uses
        return translation_loss(model, batch.to(device), label_smoothing)[0]

    def postfix(losses: list[float]) -> Optional[dict]:  # the mean of the last 50 steps, every 50 steps
        return {"loss": f"{sum(losses[-50:]) / 50:.3f}"} if len(losses) % 50 == 0 else None

    batches = (batch for _, batch in zip(range(steps), _forever(loader)))
    log.loss = training.train_steps(
        model,
        batches,
        loss_fn,
        optimizer,
        scheduler=scheduler,
        clip_grad_norm=clip,
        total=steps,
        desc=desc,
        progress=progress,
        postfix=postfix,
    )
    model.eval()
    return log


def translate(
    model: nn.Module,
    sentences: Sequence[str],
    src_vocab: Vocab,
    tgt_vocab: Vocab,
    device: torch.device,
    max_len: int = 60,
    batch_size: int = 256,
) -> list[str]:
    """Greedy translations of English sentences, as Spanish strings (tokens joined by spaces)."""
    model.eval()
    out: list[str] = []
    for start in range(0, len(sentences), batch_size):
        chunk = sentences[start : start + batch_size]
        src, _ = pad_batch([src_vocab.encode(s) for s in chunk])  # (B, S)
        ys = greedy_decode(model, src.to(device), max_len)  # (B, 1 + n)
        out += [tgt_vocab.decode(row.cpu()) for row in ys]
    return out


@dataclass
class TranslationScores:
    exact_match: float  # fraction of sentences translated exactly
    bleu: float  # corpus BLEU (sacrebleu, 0–100)
    hypotheses: list[str]  # the model's translations


def evaluate_translation(
    model: nn.Module,
    pairs: Sequence[tuple[str, str]],
    src_vocab: Vocab,
    tgt_vocab: Vocab,
    device: torch.device,
    max_len: int = 60,
) -> TranslationScores:
    """Exact match and corpus BLEU of greedy translations of (english, spanish) pairs.

    BLEU comes from ``sacrebleu.corpus_bleu`` with tokenize="none" and force=True: the corpus is already
    tokenised (" ." is a token), which sacrebleu would otherwise warn about.
    """
    import sacrebleu

    if len(pairs) == 0:
        raise ValueError("pairs must be a non-empty list of (english, spanish) sentences; got an empty list")
    hypotheses = translate(model, [en for en, _ in pairs], src_vocab, tgt_vocab, device, max_len)
    references = [es for _, es in pairs]
    exact = sum(h == r for h, r in zip(hypotheses, references)) / len(pairs)
    bleu = sacrebleu.corpus_bleu(hypotheses, [references], tokenize="none", force=True).score
    return TranslationScores(exact, bleu, hypotheses)


@torch.no_grad()
def cross_attention(model: nn.Module, src: Tensor, tgt: Tensor, layer: int = -1) -> Tensor:
    """Cross-attention weights of one decoder layer while reading tgt (teacher forcing).

    src: (B, S), tgt: (B, T) → weights (B, h, T, S): row t says where the decoder looks in the
    source while predicting target token t + 1.
    """
    decoder_layer = model.decoder.layers[layer]
    decoder_layer.keep_attention = True
    try:
        model.eval()
        model(src, tgt)
        return decoder_layer.cross_weights
    finally:
        decoder_layer.keep_attention = False


def lookahead_table(T: int, blocked: float = -1e9) -> tuple[Tensor, Tensor]:
    """The look-ahead mask two ways: boolean (T, T), True = may attend, and additive float (T, T)
    with 0 where allowed and ``blocked`` (the lectures' −1e9) above the diagonal."""
    allowed = torch.ones(T, T, dtype=torch.bool).tril()  # (T, T)
    additive = torch.zeros(T, T).masked_fill(~allowed, blocked)  # (T, T)
    return allowed, additive


def ffn_grad_norms(model: nn.Module, batch: Batch, label_smoothing: float = 0.1) -> dict[str, list[float]]:
    """‖∂L/∂W‖ of each layer's second feed-forward matrix (ff.fc2.weight) for one batch, no update.

    Xiong et al. (2020, Figure 3) read these at initialisation: with Post-LN they grow towards the
    last layers, with Pre-LN they stay level. batch: a :class:`~course_lib.data.Batch` on the
    model's device. Returns {"encoder": [n_encoder_layers floats], "decoder": [n_decoder_layers floats]}.
    """
    model.train()
    model.zero_grad(set_to_none=True)
    loss, _, _ = translation_loss(model, batch, label_smoothing)
    loss.backward()
    norms = {
        stack: [float(layer.ff.fc2.weight.grad.norm()) for layer in getattr(model, stack).layers]
        for stack in ("encoder", "decoder")
    }
    model.zero_grad(set_to_none=True)
    return norms


@torch.no_grad()
def attention_maps(model: nn.Module, src: Tensor, tgt: Tensor) -> dict[str, Tensor]:
    """Per-head attention weights of every attention layer while the model reads (src, tgt).

    src: (B, S), tgt: (B, T) (teacher forcing). Returns, in the order the layers run,
    "encoder k self" (B, h, S, S), "decoder k self" (B, h, T, T) and "decoder k cross" (B, h, T, S)
    for k = 1, 2, …: each layer's inputs are attended again with ``need_weights=True``.
    """
    maps: dict[str, Tensor] = {}

    def keep(name):
        def hook(module, args, kwargs, output):
            _, weights = module.forward(*args, **{**kwargs, "need_weights": True})  # no hooks again
            maps[name] = weights

        return hook

    modules = [(f"encoder {k} self", layer.self_attn) for k, layer in enumerate(model.encoder.layers, 1)]
    for k, layer in enumerate(model.decoder.layers, 1):
        modules += [(f"decoder {k} self", layer.self_attn), (f"decoder {k} cross", layer.cross_attn)]
    handles = [m.register_forward_hook(keep(name), with_kwargs=True) for name, m in modules]
    try:
        model.eval()
        model(src, tgt)
    finally:
        for handle in handles:
            handle.remove()
    return maps
