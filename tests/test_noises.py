"""Claims about the built-in noises: shape and range kept, stronger with severity, reproducible."""

from __future__ import annotations

import pytest
import torch

from bench.metrics.reconstruction import psnr_of, squared_error
from plugins.datasets.digits import load_digits
from registry import load_registry

NOISES = ["blur", "erasing", "gaussian", "salt_pepper", "shot", "speckle"]


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return load_digits(None).test_x


@pytest.mark.parametrize("name", NOISES)
def test_noise_keeps_shape_and_range_and_gets_stronger_with_severity(name, images):
    spec = load_registry().spec("noises", name)
    psnrs = []
    for severity in range(1, 6):
        torch.manual_seed(0)
        noisy = spec.function(images, **spec.resolve(severity))
        assert noisy.shape == images.shape and noisy.dtype == images.dtype
        assert noisy.min() >= 0 and noisy.max() <= 1
        psnrs.append(psnr_of(squared_error(noisy, images)))
    assert all(a > b for a, b in zip(psnrs, psnrs[1:])), psnrs


@pytest.mark.parametrize("name", NOISES)
def test_noise_is_reproducible_under_a_seed_and_leaves_its_input_alone(name, images):
    spec = load_registry().spec("noises", name)
    before = images.clone()
    torch.manual_seed(7)
    a = spec.function(images, **spec.resolve(3))
    torch.manual_seed(7)
    b = spec.function(images, **spec.resolve(3))
    assert torch.equal(a, b) and not torch.equal(a, images)
    assert torch.equal(images, before)


def test_erasing_gives_each_image_its_own_rectangle_of_the_requested_area():
    spec = load_registry().spec("noises", "erasing")
    x = torch.ones(2000, 1, 28, 28)
    torch.manual_seed(0)
    erased = spec.function(x, scale=0.2, value=0.0) == 0
    areas = erased.flatten(1).float().mean(1)
    assert areas.mean().item() == pytest.approx(0.2, abs=0.02)
    rows = erased.any(dim=3).squeeze(1)  # which rows hold the rectangle
    assert len({tuple(r.tolist()) for r in rows[:200]}) > 20  # positions and shapes vary per image
    for mask in erased[:50, 0]:  # each erased region is one filled rectangle
        r, c = mask.any(1).nonzero(), mask.any(0).nonzero()
        assert mask[r.min():r.max() + 1, c.min():c.max() + 1].all()


def test_erasing_on_flat_vectors_erases_a_contiguous_run():
    spec = load_registry().spec("noises", "erasing")
    x = torch.ones(100, 20)
    erased = spec.function(x, scale=0.25, value=0.0) == 0
    assert (erased.sum(1) == 5).all()
