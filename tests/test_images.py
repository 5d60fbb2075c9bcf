"""Tests of course_lib.data.images: scikit-learn digits, drawn shapes with captions, and the
opt-in torchvision datasets (their offline errors only: no test touches the network)."""

from __future__ import annotations

import socket
import time

import pytest
import torch
import torchvision  # noqa: F401 — imported up front so the timings below measure the call only

import course_lib.data.images as images
from course_lib.data import (
    ATTRIBUTE_NAMES,
    COLOUR_NAMES,
    POSITION_NAMES,
    SHAPE_NAMES,
    SIZE_NAMES,
    load_digits,
    make_shapes,
    resize_images,
    torchvision_dataset,
)

# ------------------------------------------------------------------------------ digits


def test_digits_shapes_range_labels_and_split_sizes():
    x_train, y_train, x_test, y_test = load_digits()
    assert x_train.shape[1:] == (1, 8, 8) and x_test.shape[1:] == (1, 8, 8)
    assert len(x_train) + len(x_test) == 1797 and len(x_train) == len(y_train)
    assert len(x_test) == pytest.approx(0.25 * 1797, abs=1)
    assert x_train.dtype == torch.float32 and y_train.dtype == torch.int64
    assert x_train.min() >= 0 and x_train.max() == 1.0
    assert set(y_train.tolist()) == set(range(10)) == set(y_test.tolist())


def test_digits_split_is_deterministic_per_seed_and_disjoint():
    a, b, c = load_digits(seed=0), load_digits(seed=0), load_digits(seed=1)
    assert torch.equal(a.x_test, b.x_test) and torch.equal(a.y_train, b.y_train)
    assert not torch.equal(a.y_test, c.y_test)
    train_rows = {tuple(r.flatten().tolist()) for r in a.x_train}
    overlap = sum(tuple(r.flatten().tolist()) in train_rows for r in a.x_test)
    assert overlap < 5  # a handful of digits are pixel-identical duplicates in the dataset itself


@pytest.mark.parametrize("size", [4, 16, 32])
def test_digits_resize_keeps_range_and_mean_ink(size):
    small, big = load_digits(8), load_digits(size)
    assert big.x_train.shape[1:] == (1, size, size)
    assert 0 <= big.x_train.min() and big.x_train.max() <= 1
    assert torch.equal(small.y_train, big.y_train)
    assert big.x_train.mean().item() == pytest.approx(small.x_train.mean().item(), rel=0.15)


def test_digits_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="size"):
        load_digits(size=1)
    with pytest.raises(ValueError, match="test_fraction"):
        load_digits(test_fraction=1.5)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        resize_images(torch.zeros(8, 8), 4)


# ------------------------------------------------------------------------------ shapes


def test_shapes_output_types_shapes_and_range():
    imgs, captions, attrs = make_shapes(50, size=24, seed=3)
    assert imgs.shape == (50, 3, 24, 24) and imgs.dtype == torch.float32
    assert 0 <= imgs.min() and imgs.max() <= 1
    assert isinstance(captions, list) and len(captions) == 50
    assert set(attrs) == {"shape", "colour", "size", "position"}
    for key, names in ATTRIBUTE_NAMES.items():
        assert attrs[key].dtype == torch.int64 and attrs[key].shape == (50,)
        assert 0 <= attrs[key].min() and attrs[key].max() < len(names)


def test_shapes_captions_spell_out_the_attributes():
    data = make_shapes(30, seed=0)
    for i, caption in enumerate(data.captions):
        a = {k: v[i].item() for k, v in data.attributes.items()}
        assert caption == (
            f"a {SIZE_NAMES[a['size']]} {COLOUR_NAMES[a['colour']]} "
            f"{SHAPE_NAMES[a['shape']]} in the {POSITION_NAMES[a['position']]}"
        )
    custom = make_shapes(3, seed=0, template="{shape}|{colour}")
    assert (
        custom.captions[0] == f"{SHAPE_NAMES[data.attributes['shape'][0]]}|{COLOUR_NAMES[data.attributes['colour'][0]]}"
    )


def test_shapes_deterministic_per_seed_prefix_stable_and_seed_sensitive():
    a, b = make_shapes(40, seed=7), make_shapes(40, seed=7)
    assert torch.equal(a.images, b.images) and a.captions == b.captions
    prefix = make_shapes(10, seed=7)
    assert torch.equal(prefix.images, a.images[:10]) and prefix.captions == a.captions[:10]
    assert make_shapes(40, seed=8).captions != a.captions


def test_shapes_colour_and_position_are_visible_in_the_pixels():
    imgs, _, attrs = make_shapes(200, size=32, seed=1)
    rgb = imgs.sum(dim=(2, 3))  # (N, 3) total colour
    want = images._RGB[attrs["colour"]]
    cos = torch.nn.functional.cosine_similarity(rgb, want, dim=1)
    assert cos.min() > 0.999
    ink = imgs.sum(1)  # (N, H, W)
    ys, xs = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    cx = (ink * xs).sum((1, 2)) / ink.sum((1, 2))
    cy = (ink * ys).sum((1, 2)) / ink.sum((1, 2))
    right, bottom = attrs["position"] % 2 == 1, attrs["position"] // 2 == 1
    assert torch.equal(cx > 16, right) and torch.equal(cy > 16, bottom)


def test_shapes_large_shapes_have_more_ink_than_small_ones_of_the_same_kind():
    imgs, _, attrs = make_shapes(600, size=32, seed=2)
    area = (imgs.amax(1) > 0.5).float().sum((1, 2))
    for k in range(len(SHAPE_NAMES)):
        small = area[(attrs["shape"] == k) & (attrs["size"] == 0)]
        large = area[(attrs["shape"] == k) & (attrs["size"] == 1)]
        assert small.max() < large.min(), SHAPE_NAMES[k]


@pytest.mark.parametrize("size", [8, 16, 64])
def test_shapes_any_resolution(size):
    imgs = make_shapes(5, size=size, seed=0).images
    assert imgs.shape == (5, 3, size, size) and imgs.amax() > 0.5


def test_shapes_noise_option_changes_pixels_but_not_attributes():
    clean, noisy = make_shapes(20, seed=0), make_shapes(20, seed=0, noise=0.1)
    assert clean.captions == noisy.captions
    assert (clean.images - noisy.images).abs().mean() > 0.01
    assert 0 <= noisy.images.min() and noisy.images.max() <= 1


def test_shapes_thousands_of_images_take_about_a_second():
    start = time.process_time()
    make_shapes(2000, size=32, seed=0)
    assert time.process_time() - start < 5.0  # ~0.4 s of CPU on the course machine


def test_shapes_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="n must"):
        make_shapes(-1)
    with pytest.raises(ValueError, match="size must"):
        make_shapes(3, size=2)
    with pytest.raises(ValueError, match="supersample"):
        make_shapes(3, supersample=0)


# ------------------------------------------------------------------------------ torchvision


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a socket fails at once, as offline."""

    def refuse(*args, **kwargs):
        raise OSError("network disabled in tests")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "cifar10"])
def test_torchvision_dataset_without_download_names_the_offline_alternative(tmp_path, no_network, name):
    start = time.monotonic()
    with pytest.raises(FileNotFoundError, match="download=True.*load_digits"):
        torchvision_dataset(name, root=str(tmp_path))
    assert time.monotonic() - start < 5


@pytest.mark.parametrize("name", ["MNIST", "FashionMNIST", "CIFAR-10"])
def test_torchvision_dataset_download_offline_fails_at_once(tmp_path, no_network, name):
    start = time.monotonic()
    with pytest.raises(ConnectionError, match="make_shapes"):
        torchvision_dataset(name, root=str(tmp_path), download=True)
    assert time.monotonic() - start < 5
    assert not any(tmp_path.rglob("*.gz"))  # nothing half-downloaded


def test_torchvision_dataset_unknown_name():
    with pytest.raises(ValueError, match="name must be one of"):
        torchvision_dataset("imagenet")
