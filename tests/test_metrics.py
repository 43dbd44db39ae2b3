"""Claims about the reconstruction metrics, on inputs where the answer is known."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from bench.metrics import score_reconstruction
from bench.metrics.reconstruction import psnr_of, squared_error, ssim


class Identity(nn.Module):
    def forward(self, x):
        return x


class Constant(nn.Module):
    def __init__(self, value):
        super().__init__()
        self.value = value

    def forward(self, x):
        return torch.full_like(x, self.value)


def scores(model, noisy, clean):
    return {r.metric.name: r for r in score_reconstruction(model, noisy, clean)}


def test_a_model_that_returns_its_noisy_input_gains_nothing():
    torch.manual_seed(0)
    clean = torch.rand(300, 1, 28, 28)
    noisy = (clean + 0.1 * torch.randn_like(clean)).clamp(0, 1)
    s = scores(Identity(), noisy, clean)
    assert s["psnr_gain"].value == pytest.approx(0.0, abs=1e-9)
    assert s["psnr"].value == pytest.approx(psnr_of(squared_error(noisy, clean)))
    assert s["mse"].value == pytest.approx(squared_error(noisy, clean).mean().item(), rel=1e-6)


def test_psnr_of_a_constant_error_matches_the_definition():
    clean = torch.zeros(10, 1, 28, 28)
    s = scores(Constant(0.1), clean, clean)
    assert s["psnr"].value == pytest.approx(20.0, abs=1e-4)  # 10·log10(1 / 0.01)
    assert s["mse"].value == pytest.approx(0.01, rel=1e-5)
    assert s["bce"].value == pytest.approx(-784 * math.log(0.9), rel=1e-4)


def test_perfect_reconstruction_has_ssim_one_and_worse_ones_rank_below():
    torch.manual_seed(0)
    clean = torch.rand(50, 1, 28, 28)
    assert ssim(clean, clean).min().item() == pytest.approx(1.0, abs=1e-5)
    mild = (clean + 0.05 * torch.randn_like(clean)).clamp(0, 1)
    strong = (clean + 0.3 * torch.randn_like(clean)).clamp(0, 1)
    assert ssim(mild, clean).mean() > ssim(strong, clean).mean()


def test_ssim_works_on_images_smaller_than_its_window():
    x = torch.rand(4, 1, 8, 8)
    assert ssim(x, x).allclose(torch.ones(4), atol=1e-5)


def test_intervals_shrink_with_more_test_images():
    torch.manual_seed(0)
    small, large = torch.rand(100, 1, 28, 28), torch.rand(2500, 1, 28, 28)
    noise = lambda x: (x + 0.2 * torch.randn_like(x)).clamp(0, 1)  # noqa: E731
    a = scores(Constant(0.5), noise(small), small)["psnr"].ci95
    b = scores(Constant(0.5), noise(large), large)["psnr"].ci95
    assert 0 < b < a / 3
