"""Additive Gaussian noise, clamped to [0, 1] (torchvision's ``gaussian_noise``)."""

import torch


def gaussian(x: torch.Tensor, *, sigma: float) -> torch.Tensor:
    """``clamp(x + N(0, sigma²), 0, 1)`` elementwise, for any batch shape."""
    from torchvision.transforms.v2 import functional as TF  # imported on use: keeps `bench` startup fast

    return TF.gaussian_noise(x, mean=0.0, sigma=sigma, clip=True)
