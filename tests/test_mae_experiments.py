"""course_lib.mae_experiments: fine-tuning an MAE encoder and reading its [CLS] attention."""

import pytest
import torch
from torch import nn

from course_lib import mae_experiments as mx
from course_lib import mae_model
from course_lib.multihead import copy_from_torch


def _tiny_mae(seed: int = 0) -> mae_model.MAE:
    torch.manual_seed(seed)
    return mae_model.MAE(mae_model.MAEConfig.tiny())  # 8 × 8 images, P = 4: L = 4 patches


def test_labels_per_class_is_balanced_and_distinct():
    y = torch.arange(30) % 3  # 10 of each class
    idx = mx.labels_per_class(y, 4, seed=1)
    assert len(idx) == 12 and len(set(idx.tolist())) == 12
    assert torch.bincount(y[idx]).tolist() == [4, 4, 4]
    assert not torch.equal(idx, mx.labels_per_class(y, 4, seed=2)), "the seed must change the pick"
    assert torch.equal(mx.labels_per_class(y, None), torch.arange(30))
    with pytest.raises(ValueError, match="only 10"):
        mx.labels_per_class(y, 11)


def test_finetune_learns_an_easy_task_and_leaves_the_pretrained_model_untouched():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(64) % 2
    x = 0.1 * torch.rand(64, 1, 8, 8, generator=g)
    x[y == 1, :, :4] += 0.8  # class 1: the top half is bright
    model = _tiny_mae()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    classifier = mx.finetune(model, x, y, steps=80, batch_size=32, lr=3e-3)
    assert mx.accuracy(classifier, x, y) >= 0.95
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert classifier.mae.decoder is None, "the classifier keeps the encoder only"


def test_cls_attention_matches_torch_multihead_attention():
    model = _tiny_mae().eval()
    last = model.encoder.layers[-1]
    torch.manual_seed(3)
    theirs = nn.MultiheadAttention(16, 2, batch_first=True)
    copy_from_torch(last.self_attn, theirs)
    imgs = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        x = model.patch_embed(imgs) + model.pos_embed[:, 1:]
        cls = (model.cls_token + model.pos_embed[:, :1]).expand(3, -1, -1)
        h = last.norm1(torch.cat([cls, x], dim=1))  # one encoder block: the last is the first
        _, oracle = theirs(h, h, h, need_weights=True, average_attn_weights=True)  # (B, 1 + L, 1 + L)
    got = mx.cls_attention(model, imgs)
    assert got.shape == (3, 4)
    torch.testing.assert_close(got, oracle[:, 0, 1:], atol=1e-6, rtol=1e-5)


def test_attention_on_object_closed_form():
    attention = torch.tensor([[0.5, 0.25, 0.125, 0.125], [0.25, 0.25, 0.25, 0.25]])
    coverage = torch.tensor([[1.0, 0.6, 0.2, 0.0], [0.0, 0.0, 0.0, 0.9]])
    share, area = mx.attention_on_object(attention, coverage)
    torch.testing.assert_close(share, torch.tensor([0.75, 0.25]))
    torch.testing.assert_close(area, torch.tensor([0.5, 0.25]))
    with pytest.raises(ValueError, match="same shape"):
        mx.attention_on_object(attention, coverage[:, :3])


def test_patch_coverage_counts_object_pixels_per_patch():
    mask = torch.zeros(1, 8, 8)
    mask[0, :4, :2] = 1  # half of the top-left 4 × 4 patch
    torch.testing.assert_close(mx.patch_coverage(mask, 4), torch.tensor([[0.5, 0.0, 0.0, 0.0]]))
