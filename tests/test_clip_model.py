"""course_lib.clip_model: captions, encoders (end-token pooling, padding ignored), training and zero-shot."""

import pytest
import torch

from course_lib import clip_model
from course_lib.data import make_shapes
from course_lib.data.images import COLOUR_NAMES
from course_lib.data.vocab import UNK


def _model():
    torch.manual_seed(0)
    return clip_model.CLIP(clip_model.CLIPConfig.tiny())


def test_vocab_covers_every_template_and_attribute():
    vocab = clip_model.caption_vocab()
    data = make_shapes(50, size=16, seed=1)
    captions = clip_model.random_captions(data.attributes, seed=1)
    zero_shot = [t.format(shape="circle", colour="red") for ts in clip_model.ZERO_SHOT_TEMPLATES.values() for t in ts]
    for caption in captions + zero_shot:
        assert UNK not in vocab.encode(caption), caption
    assert len(vocab) <= clip_model.CLIPConfig().vocab_size


def test_random_captions_are_deterministic_and_use_train_templates():
    data = make_shapes(20, size=16, seed=2)
    a = clip_model.random_captions(data.attributes, seed=3)
    assert a == clip_model.random_captions(data.attributes, seed=3)
    assert len(set(a)) > 1 and all(" " in c for c in a)


def test_text_encoder_ignores_padding_and_returns_unit_vectors():
    model = _model().eval()
    vocab = clip_model.caption_vocab()
    ids, lengths = clip_model.tokenize_captions(["a red circle", "a small blue square in the top left"], vocab)
    out = model.text_encoder(ids, lengths)
    alone = model.text_encoder(*clip_model.tokenize_captions(["a red circle"], vocab))
    torch.testing.assert_close(out[0], alone[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.norm(dim=1), torch.ones(2))


def test_image_encoder_shapes_and_loss():
    model = _model()
    data = make_shapes(8, size=16, seed=0)
    vocab = clip_model.caption_vocab()
    ids, lengths = clip_model.tokenize_captions(data.captions, vocab)
    img = model.image_encoder(data.images)
    assert img.shape == (8, 8)
    loss = model(data.images, ids, lengths)
    assert loss.shape == () and loss.item() > 0


def test_training_reduces_the_loss_and_zero_shot_runs():
    model = _model()
    data = make_shapes(128, size=16, seed=0)
    vocab = clip_model.caption_vocab()
    ids, lengths = clip_model.tokenize_captions(clip_model.random_captions(data.attributes), vocab)
    losses = clip_model.train_clip(model, data.images, ids, lengths, steps=25, batch_size=32, lr=3e-3, progress=False)
    assert sum(losses[-5:]) < sum(losses[:5])
    acc = clip_model.zero_shot_accuracy(model, data.images, data.attributes["colour"], "colour", vocab)
    chance = 1 / len(COLOUR_NAMES)  # six colours
    margin = 3 * (chance * (1 - chance) / len(data.images)) ** 0.5  # three standard errors of a guesser
    assert acc > chance + margin, f"zero-shot colour accuracy {acc:.3f} is not above chance {chance:.3f}"


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="image_pool"):
        clip_model.CLIP(clip_model.CLIPConfig(image_pool="max"))
    with pytest.raises(ValueError, match="position must be 'learned', '2d' or 'none'; got 'rotary'"):
        clip_model.CLIP(clip_model.CLIPConfig(position="rotary"))
    model = _model()
    with pytest.raises(ValueError, match="same N pairs"):
        clip_model.train_clip(
            model,
            torch.rand(3, 3, 16, 16),
            torch.zeros(2, 4, dtype=torch.long),
            torch.ones(2, dtype=torch.long),
            steps=1,
        )


def test_decay_groups_exempt_logit_scale_gains_and_biases():
    model = _model()
    decay, no_decay = clip_model.decay_groups(model, weight_decay=0.05)
    assert decay["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0.0
    named = dict(model.named_parameters())
    ids = lambda group: {id(p) for p in group["params"]}  # noqa: E731
    assert id(model.logit_scale) in ids(no_decay)
    assert ids(decay) | ids(no_decay) == {id(p) for p in named.values()}
    assert not ids(decay) & ids(no_decay)
    for name, p in named.items():  # open_clip's rule: biases, norm gains and scalars are not decayed
        expected = no_decay if ("bias" in name or "norm" in name or p.ndim < 2) else decay
        assert id(p) in ids(expected), name
