"""course_lib.clip against closed forms written here (float32, tolerance 1e-5)."""

import math

import pytest
import torch

from course_lib import clip

TOL = dict(atol=1e-5, rtol=1e-5)


def _g(seed):
    return torch.Generator().manual_seed(seed)


def _infonce_by_hand(img, txt, log_scale):
    """Both directions written as sums over the similarity matrix, one pair at a time."""
    img = img / img.norm(dim=1, keepdim=True)
    txt = txt / txt.norm(dim=1, keepdim=True)
    s = min(math.exp(float(log_scale)), 100.0)
    sim = s * img @ txt.T
    B = sim.shape[0]
    row = sum(-(sim[i, i] - torch.logsumexp(sim[i, :], 0)) for i in range(B)) / B
    col = sum(-(sim[i, i] - torch.logsumexp(sim[:, i], 0)) for i in range(B)) / B
    return (row + col) / 2, row, col


def _asymmetric(B, E, seed):
    """Features whose similarity matrix is far from symmetric: image 0 resembles every caption."""
    img, txt = torch.randn(B, E, generator=_g(seed)), torch.randn(B, E, generator=_g(seed + 1))
    img[0] = 3 * txt.sum(0)  # a 'hub' image: its row is high everywhere
    return img * torch.linspace(0.5, 4, B)[:, None], txt  # rows of different norms


@pytest.mark.parametrize("B, E, seed", [(2, 3, 0), (5, 8, 1), (16, 32, 2)])
def test_clip_loss_matches_the_formula(B, E, seed):
    img, txt = _asymmetric(B, E, seed)
    log_scale = torch.tensor(clip.LOGIT_SCALE_INIT)
    expected, _, _ = _infonce_by_hand(img, txt, log_scale)
    torch.testing.assert_close(clip.clip_loss(img, txt, log_scale), expected, **TOL)


def test_test_matrix_is_asymmetric_enough_to_separate_directions():
    img, txt = _asymmetric(8, 16, 3)
    _, row, col = _infonce_by_hand(img, txt, torch.tensor(clip.LOGIT_SCALE_INIT))
    assert abs(row - col) > 0.2  # a one-direction loss is far off


def test_clip_loss_clamps_the_scale_at_100():
    img, txt = _asymmetric(6, 8, 4)
    big = clip.clip_loss(img, txt, torch.tensor(math.log(1000.0)))
    at_100 = clip.clip_loss(img, txt, torch.tensor(math.log(100.0)))
    torch.testing.assert_close(big, at_100, **TOL)


def test_clip_loss_gradient_reaches_the_scale_below_the_clamp():
    img, txt = _asymmetric(4, 8, 5)
    scale = clip.new_logit_scale()
    clip.clip_loss(img, txt, scale).backward()
    assert scale.grad is not None and scale.grad.abs() > 0
    assert math.isclose(scale.item(), math.log(1 / 0.07), rel_tol=1e-6)


def test_clip_loss_is_log_B_for_identical_features():
    x = torch.ones(5, 4)
    torch.testing.assert_close(clip.clip_loss(x, x, torch.tensor(0.0)), torch.tensor(math.log(5)), **TOL)


def test_clip_loss_rejects_mismatched_batches():
    with pytest.raises(ValueError, match=r"image_features .*\(3, 4\).*text_features .*\(2, 4\)"):
        clip.clip_loss(torch.randn(3, 4), torch.randn(2, 4), torch.tensor(0.0))
    with pytest.raises(ValueError, match="2-D"):
        clip.clip_loss(torch.randn(3), torch.randn(3), torch.tensor(0.0))


def test_embed_text_pools_the_end_token_projects_and_normalises():
    hidden = torch.randn(3, 6, 4, generator=_g(0))
    W = torch.randn(4, 5, generator=_g(1))
    lengths = torch.tensor([6, 1, 3])
    out = clip.embed_text(hidden, lengths, W)
    for b, n in enumerate(lengths.tolist()):
        v = hidden[b, n - 1] @ W
        torch.testing.assert_close(out[b], v / v.norm(), **TOL)


def test_embed_text_ignores_padding():
    hidden = torch.randn(2, 5, 4, generator=_g(2))
    W = torch.randn(4, 3, generator=_g(3))
    lengths = torch.tensor([2, 4])
    changed = hidden.clone()
    changed[0, 2:], changed[1, 4:] = 100.0, -7.0
    torch.testing.assert_close(clip.embed_text(hidden, lengths, W), clip.embed_text(changed, lengths, W))


def test_embed_text_rejects_bad_lengths_and_projection():
    with pytest.raises(ValueError, match=r"lengths must have shape \(B,\)"):
        clip.embed_text(torch.randn(2, 5, 4), torch.tensor([1, 2, 3]), torch.randn(4, 3))
    with pytest.raises(ValueError, match="lengths must lie in"):
        clip.embed_text(torch.randn(2, 5, 4), torch.tensor([0, 6]), torch.randn(4, 3))
    with pytest.raises(ValueError, match=r"projection must be \(C, E\)"):
        clip.embed_text(torch.randn(2, 5, 4), torch.tensor([1, 2]), torch.randn(3, 3))


@pytest.mark.parametrize("N, K, M, E", [(1, 2, 1, 3), (7, 4, 3, 8), (20, 10, 5, 16)])
def test_zero_shot_logits_match_the_closed_form(N, K, M, E):
    img = torch.randn(N, E, generator=_g(N))
    tpl = torch.randn(K, M, E, generator=_g(K)) * torch.rand(K, M, 1, generator=_g(M)) * 5
    expected = torch.empty(N, K)
    for k in range(K):
        w = sum(tpl[k, m] / tpl[k, m].norm() for m in range(M)) / M
        w = w / w.norm()
        for n in range(N):
            expected[n, k] = img[n] @ w / img[n].norm()
    torch.testing.assert_close(clip.zero_shot_logits(img, tpl), expected, **TOL)


def test_zero_shot_logits_reject_mismatched_widths():
    with pytest.raises(ValueError, match="share E"):
        clip.zero_shot_logits(torch.randn(3, 4), torch.randn(2, 2, 5))
    with pytest.raises(ValueError, match=r"\(K, M, E\)"):
        clip.zero_shot_logits(torch.randn(3, 4), torch.randn(2, 4))


def _recall_by_hand(sim, k):
    N = sim.shape[0]
    i2t = sum(int((sim[i] > sim[i, i]).sum()) < k for i in range(N)) / N  # rank of the true caption
    t2i = sum(int((sim[:, j] > sim[j, j]).sum()) < k for j in range(N)) / N
    return i2t, t2i


@pytest.mark.parametrize("N, k, seed", [(1, 1, 0), (6, 1, 1), (6, 2, 2), (30, 5, 3), (9, 9, 4)])
def test_recall_at_k_matches_ranks(N, k, seed):
    sim = torch.randn(N, N, generator=_g(seed))
    sim[0] += 3  # asymmetric: image 0 scores high with everything
    assert clip.recall_at_k(sim, k) == pytest.approx(_recall_by_hand(sim, k))


def test_recall_at_k_perfect_and_bad_input():
    assert clip.recall_at_k(torch.eye(4), 1) == (1.0, 1.0)
    with pytest.raises(ValueError, match="square"):
        clip.recall_at_k(torch.randn(3, 4), 1)
    with pytest.raises(ValueError, match=r"k must lie in \[1, N = 3\]; got 4"):
        clip.recall_at_k(torch.randn(3, 3), 4)
