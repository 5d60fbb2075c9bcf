"""course_lib.embeddings against closed forms and torch's functions (float32, atol 1e-5 unless stated)."""

import pytest
import torch
import torch.nn.functional as F

from course_lib import embeddings as E

TOL = dict(atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("N, M, d", [(1, 1, 1), (4, 6, 3), (7, 2, 16)])
def test_cosine_matrix_matches_torch(N, M, d):
    a, b = torch.randn(N, d), torch.randn(M, d)
    expected = F.cosine_similarity(a[:, None, :], b[None, :, :], dim=-1)  # (N, M)
    torch.testing.assert_close(E.cosine_similarity_matrix(a, b), expected, **TOL)


def test_cosine_matrix_gives_zero_for_zero_vectors():
    a = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    sims = E.cosine_similarity_matrix(a, a)
    assert not sims.isnan().any()
    torch.testing.assert_close(sims, torch.tensor([[0.0, 0.0], [0.0, 1.0]]))


def test_one_hot_vectors_are_all_orthogonal():
    one_hot = torch.eye(5)
    torch.testing.assert_close(E.cosine_similarity_matrix(one_hot, one_hot), torch.eye(5))


def test_nearest_neighbors_exclude_the_word_and_sort_by_cosine():
    emb = torch.tensor([[1.0, 0.0], [10.0, 1.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]])
    assert E.nearest_neighbors(emb, 0, 3).tolist() == [1, 3, 2]  # cosine, not dot product: 1 before 3
    for i in range(5):
        assert i not in E.nearest_neighbors(emb, i, 4).tolist()


@pytest.mark.parametrize("B, K, d", [(1, 1, 1), (5, 3, 8), (16, 10, 4)])
def test_sgns_loss_matches_closed_form(B, K, d):
    v, u, n = torch.randn(B, d), torch.randn(B, d), torch.randn(B, K, d)
    pos = torch.einsum("bd,bd->b", v, u)
    neg = torch.einsum("bkd,bd->bk", n, v)
    expected = (torch.log1p(torch.exp(-pos)) + torch.log1p(torch.exp(neg)).sum(-1)).mean()  # −log σ(x) = log(1+e^{−x})
    torch.testing.assert_close(E.skipgram_negative_sampling_loss(v, u, n), expected, **TOL)


def test_sgns_loss_is_finite_for_large_scores():
    v = torch.full((2, 4), 30.0)
    loss = E.skipgram_negative_sampling_loss(v, -v, v[:, None, :].repeat(1, 3, 1))  # scores ±3600
    assert torch.isfinite(loss)
    torch.testing.assert_close(loss, torch.tensor(4 * 3600.0))


def test_analogy_on_the_lecture_table_and_excludes_inputs():
    words = list(E.EXAMPLE_EMBEDDINGS)
    emb = torch.tensor(list(E.EXAMPLE_EMBEDDINGS.values()))
    ix = {w: i for i, w in enumerate(words)}
    assert words[int(E.analogy(emb, ix["king"], ix["man"], ix["woman"])[0])] == "queen"
    got = E.analogy(emb, ix["king"], ix["man"], ix["woman"], k=len(words) - 3).tolist()
    assert not {ix["king"], ix["man"], ix["woman"]} & set(got)


def test_analogy_matches_a_brute_force_closed_form():
    emb = torch.randn(30, 6) * torch.rand(30, 1) * 5  # rows of very different norms
    a, b, c = 3, 7, 11
    unit = emb / emb.norm(dim=-1, keepdim=True)
    target = unit[a] - unit[b] + unit[c]
    scores = {i: float(target @ unit[i] / target.norm()) for i in range(30) if i not in (a, b, c)}
    expected = sorted(scores, key=scores.get, reverse=True)[:4]
    assert E.analogy(emb, a, b, c, k=4).tolist() == expected


def test_functions_keep_the_device():
    emb = torch.randn(6, 3, device="meta")
    assert E.cosine_similarity_matrix(emb, emb).device.type == "meta"
    assert E.skipgram_negative_sampling_loss(emb, emb, emb[:, None]).device.type == "meta"


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: E.cosine_similarity_matrix(torch.randn(3), torch.randn(2, 3)),
            r"a must be a 2-D matrix \(n, d\); got \(3,\)",
        ),
        (
            lambda: E.cosine_similarity_matrix(torch.randn(2, 3), torch.randn(2, 4)),
            r"share the dim d; got a \(2, 3\) and b \(2, 4\)",
        ),
        (lambda: E.nearest_neighbors(torch.randn(5, 2), 5, 1), r"index must be a word index in \[0, 5\); got 5"),
        (lambda: E.nearest_neighbors(torch.randn(5, 2), 0, 5), r"k must be in \[1, V - 1\] = \[1, 4\]; got 5"),
        (
            lambda: E.skipgram_negative_sampling_loss(torch.randn(2, 3), torch.randn(2, 3), torch.randn(2, 3)),
            r"negatives must be \(B, K, d\) = \(2, K, 3\); got \(2, 3\)",
        ),
        (
            lambda: E.skipgram_negative_sampling_loss(torch.randn(2, 3), torch.randn(3, 3), torch.randn(2, 1, 3)),
            "center and context must both be",
        ),
        (lambda: E.analogy(torch.randn(5, 2), 0, 1, -1), r"c must be a word index in \[0, 5\); got -1"),
        (lambda: E.skipgram_pairs([[1, 2]], 0), "window must be ≥ 1; got 0"),
        (lambda: E.neighbour_role_purity(torch.randn(3, 2), ["a"]), "one label per row"),
    ],
)
def test_bad_input_names_the_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_skipgram_pairs_and_noise_distribution():
    pairs = E.skipgram_pairs([[5, 6, 7]], window=1)
    assert pairs.tolist() == [[5, 6], [6, 5], [6, 7], [7, 6]]
    noise = E.noise_distribution([[1, 1, 1, 1, 2]], vocab_size=3)
    torch.testing.assert_close(noise, torch.tensor([0.0, 4**0.75, 1.0]) / (4**0.75 + 1))


def test_training_separates_two_roles_and_is_deterministic():
    # words 0–3 are "animals", 4–7 are "verbs": each sentence is animal verb animal
    g = torch.Generator().manual_seed(0)
    sentences = [
        [
            int(torch.randint(0, 4, (1,), generator=g)),
            int(torch.randint(4, 8, (1,), generator=g)),
            int(torch.randint(0, 4, (1,), generator=g)),
        ]
        for _ in range(400)
    ]
    cfg = E.SkipGramConfig(dim=8, window=1, epochs=20, batch_size=128, lr=0.05)
    model, losses = E.train_skipgram(sentences, 8, cfg, progress=False)
    model2, _ = E.train_skipgram(sentences, 8, cfg, progress=False)
    assert torch.equal(model.in_embed.weight, model2.in_embed.weight)
    assert losses[-1] < losses[0]
    roles = ["animal"] * 4 + ["verb"] * 4
    assert E.neighbour_role_purity(model.in_embed.weight.detach(), roles, k=3) == 1.0


def test_pca_2d_keeps_the_main_direction():
    x = torch.tensor([[0.0, 0.0, 0.0], [10.0, 0.0, 0.1], [20.0, 0.0, -0.1]])
    p = E.pca_2d(x)
    assert p.shape == (3, 2)
    torch.testing.assert_close(p[:, 0].abs(), torch.tensor([10.0, 0.0, 10.0]), atol=1e-3, rtol=0)


def test_pca_2d_fixes_the_sign_of_each_direction():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(12, 5, generator=g) * torch.tensor([5.0, 3.0, 1.0, 0.5, 0.2])  # distinct variances
    p = E.pca_2d(x)
    for col in range(2):  # the entry of largest magnitude in each column is positive
        assert p[p[:, col].abs().argmax(), col] > 0
    torch.testing.assert_close(E.pca_2d(-x), p, atol=1e-5, rtol=0)  # x and −x: same picture
    centred = x - x.mean(0)
    eigvals, eigvecs = torch.linalg.eigh(centred.T @ centred)  # oracle: covariance eigenvectors
    oracle = centred @ eigvecs[:, [-1, -2]]  # (12, 2), the two largest eigenvalues
    torch.testing.assert_close(p.abs(), oracle.abs(), atol=1e-4, rtol=0)


def test_spanish_word_roles_cover_the_lexicon():
    coarse, fine = E.spanish_word_roles(), E.spanish_word_roles(fine=True)
    assert coarse.keys() == fine.keys()
    assert coarse["jaguar"] == "animate noun" and fine["jaguar"] == "animal" and fine["niña"] == "person"
    assert coarse["rama"] == "inanimate noun" and coarse["negra"] == "adjective" and fine["negra"] == "colour"
    assert coarse["dormía"] == "verb" and set(coarse.values()) == {
        "animate noun",
        "inanimate noun",
        "adjective",
        "verb",
    }
