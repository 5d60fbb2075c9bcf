"""course_lib.transformer and course_lib.decoding: parity with torch's nn.Transformer* modules,
greedy decoding, the training pieces and errors on bad input.

Parity tests randomise EVERY parameter (LayerNorm γ/β included) and compare in eval() with
dropout 0. Tolerance: atol 1e-5, rtol 1e-4 (measured max |difference| ≤ 5e-7 in float32)."""

import math

import pytest
import torch
from torch import nn

from course_lib.data import BOS, EOS, PAD
from course_lib.data.translation import Batch
from course_lib.data.vocab import Vocab
from course_lib.decoding import (
    attention_maps,
    cross_attention,
    evaluate_translation,
    ffn_grad_norms,
    greedy_decode,
    lookahead_table,
    train_translation,
    translation_loss,
)
from course_lib.transformer import (
    DecoderLayer,
    EncoderLayer,
    FeedForward,
    Transformer,
    TransformerConfig,
    TransformerDecoder,
    TransformerEncoder,
)

ATOL, RTOL = 1e-5, 1e-4


def randomise(module: nn.Module, seed: int, scale: float = 0.3) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * scale)
    return module


def copy_mha(src: nn.MultiheadAttention, dst) -> None:
    """nn.MultiheadAttention packs [W_q; W_k; W_v] into in_proj_weight (3C, C)."""
    C = dst.q_proj.weight.shape[0]
    with torch.no_grad():
        for i, name in enumerate(["q_proj", "k_proj", "v_proj"]):
            getattr(dst, name).weight.copy_(src.in_proj_weight[i * C : (i + 1) * C])
            getattr(dst, name).bias.copy_(src.in_proj_bias[i * C : (i + 1) * C])
        dst.out_proj.weight.copy_(src.out_proj.weight)
        dst.out_proj.bias.copy_(src.out_proj.bias)


def copy_encoder_layer(src: nn.TransformerEncoderLayer, dst: EncoderLayer) -> None:
    copy_mha(src.self_attn, dst.self_attn)
    dst.ff.fc1.load_state_dict(src.linear1.state_dict())
    dst.ff.fc2.load_state_dict(src.linear2.state_dict())
    dst.norm1.load_state_dict(src.norm1.state_dict())
    dst.norm2.load_state_dict(src.norm2.state_dict())


def copy_decoder_layer(src: nn.TransformerDecoderLayer, dst: DecoderLayer) -> None:
    copy_mha(src.self_attn, dst.self_attn)
    copy_mha(src.multihead_attn, dst.cross_attn)
    dst.ff.fc1.load_state_dict(src.linear1.state_dict())
    dst.ff.fc2.load_state_dict(src.linear2.state_dict())
    for name in ("norm1", "norm2", "norm3"):
        getattr(dst, name).load_state_dict(getattr(src, name).state_dict())


def key_padding(lengths, S):
    """torch's key_padding_mask (True = ignore) and ours (True = may attend, (B, 1, S))."""
    ignore = torch.arange(S)[None, :] >= torch.as_tensor(lengths)[:, None]  # (B, S)
    return ignore, ~ignore[:, None, :]


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation, eps", [("relu", 1e-5), ("gelu", 1e-6)])
def test_encoder_layer_matches_torch(norm_first, activation, eps):
    oracle = nn.TransformerEncoderLayer(
        16, 4, 40, dropout=0.0, activation=activation, layer_norm_eps=eps, batch_first=True, norm_first=norm_first
    )
    randomise(oracle, 0).eval()
    layer = EncoderLayer(16, 4, 40, norm_first=norm_first, activation=activation, eps=eps).eval()
    copy_encoder_layer(oracle, layer)
    x = torch.randn(3, 6, 16, generator=torch.Generator().manual_seed(1))
    ignore, ours = key_padding([6, 4, 1], 6)
    torch.testing.assert_close(layer(x, ours), oracle(x, src_key_padding_mask=ignore), atol=ATOL, rtol=RTOL)
    torch.testing.assert_close(layer(x), oracle(x), atol=ATOL, rtol=RTOL)
    assert layer.norm1.eps == eps and isinstance(layer.ff.act, nn.GELU if activation == "gelu" else nn.ReLU)


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_matches_torch(norm_first):
    oracle = nn.TransformerDecoderLayer(16, 4, 40, dropout=0.0, batch_first=True, norm_first=norm_first)
    randomise(oracle, 2).eval()
    layer = DecoderLayer(16, 4, 40, norm_first=norm_first).eval()
    copy_decoder_layer(oracle, layer)
    g = torch.Generator().manual_seed(3)
    y, memory = torch.randn(3, 5, 16, generator=g), torch.randn(3, 7, 16, generator=g)
    ignore, ours = key_padding([7, 3, 5], 7)
    causal = torch.ones(5, 5, dtype=torch.bool).tril()
    expected = oracle(y, memory, tgt_mask=~causal, memory_key_padding_mask=ignore)
    torch.testing.assert_close(layer(y, memory, causal, ours), expected, atol=ATOL, rtol=RTOL)


def test_decoder_cross_attention_reads_the_memory():
    layer = randomise(DecoderLayer(8, 2, 16), 4).eval()
    y, memory = torch.randn(2, 3, 8), torch.randn(2, 4, 8)
    assert not torch.allclose(layer(y, memory), layer(y, memory + 1.0)), "the memory must change the output"


@pytest.mark.parametrize("norm_first", [False, True])
def test_stacks_match_torch(norm_first):
    enc_oracle = nn.TransformerEncoder(
        nn.TransformerEncoderLayer(16, 2, 32, 0.0, batch_first=True, norm_first=norm_first),
        3,
        norm=nn.LayerNorm(16),
        enable_nested_tensor=False,
    )
    randomise(enc_oracle, 5).eval()
    enc = TransformerEncoder(16, 2, 32, 3, norm_first=norm_first).eval()
    for ours, theirs in zip(enc.layers, enc_oracle.layers):
        copy_encoder_layer(theirs, ours)
    enc.norm.load_state_dict(enc_oracle.norm.state_dict())
    x = torch.randn(2, 5, 16)
    torch.testing.assert_close(enc(x), enc_oracle(x), atol=ATOL, rtol=RTOL)
    assert isinstance(TransformerEncoder(16, 2, 32, 1, final_norm=False).norm, nn.Identity)
    dec = TransformerDecoder(16, 2, 32, 2, norm_first=norm_first)
    assert dec(torch.randn(2, 3, 16), torch.randn(2, 4, 16)).shape == (2, 3, 16)


def _model_and_oracle(norm_first: bool, seed: int = 6):
    cfg = TransformerConfig(
        src_vocab_size=11,
        tgt_vocab_size=13,
        d_model=16,
        n_heads=4,
        d_ff=32,
        n_encoder_layers=2,
        n_decoder_layers=3,
        norm_first=norm_first,
    )
    model = randomise(Transformer(cfg), seed).eval()
    oracle = nn.Transformer(16, 4, 2, 3, 32, dropout=0.0, batch_first=True, norm_first=norm_first)
    randomise(oracle, seed + 1).eval()
    for ours, theirs in zip(model.encoder.layers, oracle.encoder.layers):
        copy_encoder_layer(theirs, ours)
    for ours, theirs in zip(model.decoder.layers, oracle.decoder.layers):
        copy_decoder_layer(theirs, ours)
    model.encoder.norm.load_state_dict(oracle.encoder.norm.state_dict())
    model.decoder.norm.load_state_dict(oracle.decoder.norm.state_dict())
    return model, oracle


def _sinusoids(T, d):
    pe = torch.zeros(T, d)
    pos = torch.arange(T, dtype=torch.float32)[:, None]
    i = torch.arange(0, d, 2, dtype=torch.float32)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(pos / 10000 ** (i / d)), torch.cos(pos / 10000 ** (i / d))
    return pe


@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_matches_nn_transformer(norm_first):
    model, oracle = _model_and_oracle(norm_first)
    src = torch.tensor([[1, 5, 6, 7, 2, 0], [1, 8, 2, 0, 0, 0], [1, 4, 4, 9, 10, 2]])
    tgt = torch.tensor([[1, 3, 4, 5], [1, 6, 2, 0], [1, 7, 8, 9]])
    scale = math.sqrt(16)
    src_x = model.src_embed(src) * scale + _sinusoids(6, 16)
    tgt_x = model.tgt_embed(tgt) * scale + _sinusoids(4, 16)
    hidden = oracle(
        src_x,
        tgt_x,
        tgt_mask=nn.Transformer.generate_square_subsequent_mask(4),
        src_key_padding_mask=src == PAD,
        memory_key_padding_mask=src == PAD,
    )
    torch.testing.assert_close(model(src, tgt), model.generator(hidden), atol=ATOL, rtol=RTOL)


def test_decoder_is_causal_and_encoder_is_not():
    model, _ = _model_and_oracle(True)
    src = torch.tensor([[1, 5, 6, 2]])
    tgt = torch.tensor([[1, 3, 4, 5]])
    changed = tgt.clone()
    changed[0, 3] = 7  # a future token: earlier positions must not see it
    torch.testing.assert_close(model(src, tgt)[:, :3], model(src, changed)[:, :3])
    src_changed = src.clone()
    src_changed[0, 3] = 9  # the last source token is visible to every target position
    assert not torch.allclose(model(src, tgt)[:, 0], model(src_changed, tgt)[:, 0])


def _step_by_step(model, src, max_len):
    """An independent greedy decode: one sentence at a time, the whole prefix recomputed."""
    rows = []
    for b in range(src.shape[0]):
        s = src[b : b + 1, : int((src[b] != PAD).sum())]
        ys = [BOS]
        while len(ys) <= max_len and ys[-1] != EOS:
            logits = model(s, torch.tensor([ys]))  # (1, t, V)
            ys.append(int(logits[0, -1].argmax()))
        rows.append(ys)
    width = max(len(r) for r in rows)
    return torch.tensor([r + [PAD] * (width - len(r)) for r in rows])


@pytest.mark.parametrize("max_len", [1, 4, 12])
def test_greedy_decode_matches_step_by_step(max_len):
    model, _ = _model_and_oracle(True, seed=8)
    with torch.no_grad():
        model.generator.bias[EOS] += 1.2  # so that some rows stop early and others run to max_len
    src = torch.tensor([[1, 5, 6, 7, 2], [1, 8, 2, 0, 0], [1, 9, 10, 2, 0], [1, 4, 2, 0, 0]])
    got = greedy_decode(model, src, max_len)
    expected = _step_by_step(model, src, max_len)
    assert torch.equal(got, expected), f"\n{got}\n{expected}"
    assert got.shape[1] <= max_len + 1 and (got[:, 0] == BOS).all()


def test_greedy_decode_stops_when_every_row_has_eos():
    model, _ = _model_and_oracle(True, seed=9)
    with torch.no_grad():
        model.generator.bias[EOS] += 100.0
    out = greedy_decode(model, torch.tensor([[1, 5, 2], [1, 6, 2]]), max_len=50)
    assert out.tolist() == [[BOS, EOS], [BOS, EOS]]


def test_translation_loss_shifts_targets():
    class Echo(nn.Module):  # predicts its input token: right only where label == input
        def forward(self, src, tgt):
            return nn.functional.one_hot(tgt, 6).float() * 50

    tgt = torch.tensor([[BOS, 4, 4, EOS, PAD]])
    batch = Batch(torch.tensor([[1, 2]]), torch.tensor([2]), tgt, torch.tensor([4]))
    loss, correct, n = translation_loss(Echo(), batch, label_smoothing=0.0)
    assert n == 3, "labels are tgt[:, 1:] without padding: 4, 4, <eos>"
    assert correct == 1, "input (bos, 4, 4) vs labels (4, 4, eos): one position agrees"


def test_train_translation_warmup_constant_uses_the_warmup_then_the_peak():
    model = Transformer(TransformerConfig(src_vocab_size=8, tgt_vocab_size=8, d_model=16, n_heads=2, d_ff=32))
    batch = Batch(torch.tensor([[1, 5, 2]]), torch.tensor([3]), torch.tensor([[1, 6, 7, 2]]), torch.tensor([4]))
    log = train_translation(
        model,
        [batch],
        steps=5,
        lr=1e-3,
        warmup_steps=2,
        device=torch.device("cpu"),
        schedule="warmup_constant",
        progress=False,
    )
    assert log.lr == pytest.approx([5e-4, 1e-3, 1e-3, 1e-3, 1e-3])


def _toy_batch():
    src = torch.tensor([[BOS, 5, 6, 7, EOS], [BOS, 8, EOS, PAD, PAD]])  # (2, 5)
    tgt = torch.tensor([[BOS, 4, 5, EOS], [BOS, 6, EOS, PAD]])  # (2, 4)
    return Batch(src, torch.tensor([5, 3]), tgt, torch.tensor([4, 3]))


def test_ffn_grad_norms_match_autograd_and_leave_no_gradient():
    torch.manual_seed(0)
    config = TransformerConfig(
        src_vocab_size=10, tgt_vocab_size=9, d_model=16, n_heads=2, d_ff=32, n_encoder_layers=3, n_decoder_layers=2
    )
    model, batch = Transformer(config), _toy_batch()
    norms = ffn_grad_norms(model, batch, label_smoothing=0.1)
    logits = model(batch.src, batch.tgt[:, :-1])  # the oracle: cross-entropy written out, torch.autograd.grad
    labels = batch.tgt[:, 1:]
    logp = logits.log_softmax(-1)
    real = labels != PAD
    smoothed = 0.9 * -logp.gather(-1, labels[..., None])[..., 0] + 0.1 * -logp.mean(-1)
    loss = smoothed[real].mean()
    weights = [layer.ff.fc2.weight for layer in list(model.encoder.layers) + list(model.decoder.layers)]
    expected = [float(g.norm()) for g in torch.autograd.grad(loss, weights)]
    assert len(norms["encoder"]) == 3 and len(norms["decoder"]) == 2
    assert norms["encoder"] + norms["decoder"] == pytest.approx(expected, rel=1e-4)
    assert all(p.grad is None for p in model.parameters()), "the gradients are read, not left behind"


def test_attention_maps_give_every_head_of_every_layer():
    torch.manual_seed(0)
    config = TransformerConfig(src_vocab_size=10, tgt_vocab_size=9, d_model=16, n_heads=4, d_ff=32, use_sdpa=True)
    model, batch = Transformer(config), _toy_batch()
    tgt = batch.tgt[:, :-1]  # (2, 3)
    maps = attention_maps(model, batch.src, tgt)
    assert list(maps) == [
        "encoder 1 self",
        "encoder 2 self",
        "decoder 1 self",
        "decoder 1 cross",
        "decoder 2 self",
        "decoder 2 cross",
    ]
    assert maps["encoder 1 self"].shape == (2, 4, 5, 5) and maps["decoder 2 cross"].shape == (2, 4, 3, 5)
    for weights in maps.values():
        torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:-1]))
    assert maps["decoder 1 self"].triu(1).abs().max() == 0, "the decoder's self-attention is causal"
    assert maps["encoder 2 self"][1, :, :, 3:].abs().max() == 0, "no query attends to the source's padding"
    torch.testing.assert_close(maps["decoder 1 cross"], cross_attention(model, batch.src, tgt, layer=0))


def test_train_translation_rejects_unknown_schedule():
    model = Transformer(TransformerConfig(d_model=16, n_heads=2, d_ff=32))
    with pytest.raises(ValueError, match="schedule must be one of.*'linear'"):
        train_translation(model, [], steps=1, lr=1e-3, warmup_steps=0, device=torch.device("cpu"), schedule="linear")


def test_training_reduces_the_loss_and_scores_translations():
    torch.manual_seed(0)
    src_vocab, tgt_vocab = Vocab(["a", "b", "c"]), Vocab(["x", "y", "z"])
    pairs = [("a b", "y x x z"), ("b c", "z y y x"), ("c a", "x z z y"), ("a c", "z x x y")]  # BLEU needs 4-grams
    from course_lib.data import translation_loader

    loader = translation_loader(pairs, src_vocab, tgt_vocab, batch_size=4, shuffle=True)
    model = Transformer(
        TransformerConfig(
            len(src_vocab), len(tgt_vocab), d_model=32, n_heads=2, d_ff=64, n_encoder_layers=1, n_decoder_layers=1
        )
    )
    log = train_translation(
        model, loader, steps=150, lr=3e-3, warmup_steps=10, device=torch.device("cpu"), progress=False
    )
    assert len(log.loss) == 150 and log.loss[-1] < log.loss[0] / 3
    scores = evaluate_translation(model, pairs, src_vocab, tgt_vocab, torch.device("cpu"))
    assert scores.exact_match == 1.0 and scores.bleu == pytest.approx(100.0)
    weights = cross_attention(model, torch.tensor([[1, 4, 5, 2]]), torch.tensor([[1, 5, 4]]))
    assert weights.shape == (1, 2, 3, 4)
    torch.testing.assert_close(weights.sum(-1), torch.ones(1, 2, 3))


def test_lookahead_table():
    allowed, additive = lookahead_table(4)
    assert allowed.dtype == torch.bool and allowed[2].tolist() == [True, True, True, False]
    assert additive[0, 1] == -1e9 and additive[3].tolist() == [0, 0, 0, 0]
    scores = torch.randn(4, 4)
    torch.testing.assert_close((scores + additive).softmax(-1), scores.masked_fill(~allowed, -math.inf).softmax(-1))


# ------------------------------------------------------------------------------ bad input


def test_bad_input_names_the_argument():
    model = Transformer(TransformerConfig(src_vocab_size=10, tgt_vocab_size=12, d_model=16, n_heads=4, d_ff=32))
    with pytest.raises(ValueError, match=r"src and tgt must have the same batch size.*\(2, 3\).*\(3, 4\)"):
        model(torch.ones(2, 3, dtype=torch.long), torch.ones(3, 4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"src ids must lie in \[0, 10\).*got ids from 1 to 10"):
        model(torch.tensor([[1, 10]]), torch.tensor([[1]]))
    with pytest.raises(ValueError, match=r"tgt ids must lie in \[0, 12\).*-1"):
        model(torch.tensor([[1, 2]]), torch.tensor([[-1]]))
    with pytest.raises(ValueError, match=r"src must be a \(B, T\) tensor of token ids.*float"):
        model(torch.ones(2, 3), torch.ones(2, 3, dtype=torch.long))
    layer = EncoderLayer(16, 4, 32)
    with pytest.raises(ValueError, match=r"mask must have shape \(L, S\) = \(5, 5\).*got \(5, 4\)"):
        layer(torch.randn(2, 5, 16), torch.ones(5, 4, dtype=torch.bool))
    with pytest.raises(TypeError, match="mask must be a bool tensor.*float32"):
        layer(torch.randn(2, 5, 16), torch.ones(5, 5))
    with pytest.raises(ValueError, match=r"x must have shape \(B, T, d_model=16\); got \(2, 5, 8\)"):
        layer(torch.randn(2, 5, 8))
    dec = DecoderLayer(16, 4, 32)
    with pytest.raises(ValueError, match=r"memory_mask must have shape.*\(2, 1, 7\).*got \(2, 1, 6\)"):
        dec(torch.randn(2, 3, 16), torch.randn(2, 7, 16), memory_mask=torch.ones(2, 1, 6, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"same batch size.*y \(2, 3, 16\), memory \(1, 7, 16\)"):
        dec(torch.randn(2, 3, 16), torch.randn(1, 7, 16))
    with pytest.raises(ValueError, match="activation must be one of.*'tanh'"):
        FeedForward(16, 32, activation="tanh")
    with pytest.raises(ValueError, match="divisible by config.n_heads; got 10 and 4"):
        Transformer(TransformerConfig(d_model=10, n_heads=4))
    with pytest.raises(ValueError, match="max_len must be >= 1; got 0"):
        greedy_decode(model, torch.tensor([[1, 2]]), 0)
