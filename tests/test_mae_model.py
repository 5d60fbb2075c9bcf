"""course_lib.mae_model: shapes, the encoder sees only visible tokens, the loss, pretraining and the probe."""
import pytest
import torch

from course_lib import mae, mae_model


def _model(**kw):
    torch.manual_seed(0)
    return mae_model.MAE(mae_model.MAEConfig.tiny() if not kw else mae_model.MAEConfig(**kw))


def test_forward_shapes_and_mask_ratio():
    model = _model()
    imgs = torch.rand(3, 1, 8, 8)
    loss, pred, mask = model(imgs)
    L = model.config.num_patches
    assert loss.shape == () and pred.shape == (3, L, 16) and mask.shape == (3, L)
    assert mask.sum(1).tolist() == [L - int(L * 0.25)] * 3


def test_encoder_sees_only_visible_tokens():
    model = _model(image_size=16, patch_size=4, d_model=16, n_heads=2, n_layers=1, decoder_d_model=8,
                   decoder_n_heads=2)
    latent, mask, ids = model.forward_encoder(torch.rand(2, 1, 16, 16), 0.75)
    assert latent.shape == (2, 1 + 4, 16)


def test_visible_patches_do_not_change_the_loss():
    """The loss reads removed patches only: changing the pixels the loss ignores (none: prediction
    depends on visible pixels) is not testable directly, so check that a perfect prediction of the
    removed patches gives zero loss whatever the visible ones are."""
    model = _model()
    imgs = torch.rand(2, 1, 8, 8)
    noise = torch.rand(2, model.config.num_patches)
    _, pred, mask = model(imgs, noise=noise)
    target = mae.to_patches(imgs, 4)
    perfect = torch.where(mask[..., None].bool(), target, pred + 5)
    assert model.forward_loss(imgs, perfect, mask).item() == pytest.approx(0.0, abs=1e-7)


def test_pretraining_reduces_the_loss_and_probe_runs():
    model = _model()
    imgs = torch.rand(64, 1, 8, 8)
    imgs[:32, :, :4] = 0  # some structure to learn
    losses = mae_model.pretrain(model, imgs, steps=30, batch_size=32, lr=3e-3, progress=False)
    assert sum(losses[-5:]) < sum(losses[:5])
    feats = model.features(imgs)
    assert feats.shape == (64, model.config.d_model)
    acc = mae_model.linear_probe(feats[::2], (torch.arange(64) < 32)[::2].long(), feats[1::2],
                                 (torch.arange(64) < 32)[1::2].long())
    assert 0.0 <= acc <= 1.0


def test_reconstruct_pastes_visible_patches():
    model = _model()
    imgs = torch.rand(2, 1, 8, 8)
    _, pred, mask = model(imgs)
    masked, pasted = mae_model.reconstruct(model, imgs, pred, mask)
    keep = (1 - mae.from_patches(mask[..., None].expand(-1, -1, 16), 4)).bool()
    assert torch.equal(pasted[keep], imgs[keep]) and (masked[~keep] == 0.35).all()


def test_bad_configuration_is_rejected():
    with pytest.raises(ValueError, match="patch_size must divide image_size"):
        mae_model.MAE(mae_model.MAEConfig(image_size=10, patch_size=4))
    with pytest.raises(ValueError, match="steps"):
        mae_model.pretrain(_model(), torch.rand(4, 1, 8, 8), steps=0)
