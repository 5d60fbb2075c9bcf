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
    L = model.config.n_patches
    assert loss.shape == () and pred.shape == (3, L, 16) and mask.shape == (3, L)
    assert mask.sum(1).tolist() == [L - int(L * 0.25)] * 3


def test_encoder_sees_only_visible_tokens():
    model = _model(image_size=16, patch_size=4, d_model=16, n_heads=2, n_layers=1, decoder_d_model=8, decoder_n_heads=2)
    imgs = torch.rand(2, 1, 16, 16)
    noise = torch.rand(2, 16)  # fixes which 4 of the 16 patches stay visible
    latent, mask, ids = model.forward_encoder(imgs, 0.75, noise)
    assert latent.shape == (2, 1 + 4, 16)
    masked, visible = [int(i) for i in (mask[0] == 1).nonzero()[:1]], [int(i) for i in (mask[0] == 0).nonzero()[:1]]

    def changed(patch: int) -> torch.Tensor:
        """imgs with patch ``patch`` (row-major in the 4 x 4 grid) of image 0 replaced by noise."""
        out = imgs.clone()
        r, c = divmod(patch, 4)
        out[0, :, 4 * r : 4 * r + 4, 4 * c : 4 * c + 4] = torch.rand(1, 4, 4) + 2
        return out

    same, _, _ = model.forward_encoder(changed(masked[0]), 0.75, noise)
    torch.testing.assert_close(same, latent, rtol=0, atol=0)  # a removed patch has no effect
    moved, _, _ = model.forward_encoder(changed(visible[0]), 0.75, noise)
    assert (moved[0] - latent[0]).abs().max() > 1e-3, "a visible patch must change image 0's latent"
    torch.testing.assert_close(moved[1], latent[1], rtol=0, atol=0)  # and nothing of image 1


def test_visible_patches_do_not_change_the_loss():
    """The loss reads removed patches only: changing the pixels the loss ignores (none: prediction
    depends on visible pixels) is not testable directly, so check that a perfect prediction of the
    removed patches gives zero loss whatever the visible ones are."""
    model = _model()
    imgs = torch.rand(2, 1, 8, 8)
    noise = torch.rand(2, model.config.n_patches)
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
    acc = mae_model.linear_probe(
        feats[::2], (torch.arange(64) < 32)[::2].long(), feats[1::2], (torch.arange(64) < 32)[1::2].long()
    )
    assert acc >= 0.8, f"the probe cannot tell dark-topped images apart (chance 0.5, 32 test images): {acc}"


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
