"""Gaussian blur (torchvision's ``gaussian_blur``), for images."""

import math

import torch


def blur(x: torch.Tensor, *, sigma: float) -> torch.Tensor:
    """Blur each image with a Gaussian of standard deviation ``sigma`` pixels; the kernel spans ±3σ,
    capped at what reflect padding allows for the image size."""
    if sigma <= 0:
        return x.clone()
    side = min(x.shape[-2:])
    size = min(2 * math.ceil(3 * sigma) + 1, 2 * side - 1)
    size -= 1 - size % 2
    from torchvision.transforms.v2 import functional as TF  # imported on use: keeps `bench` startup fast

    return TF.gaussian_blur(x, kernel_size=[size, size], sigma=[sigma, sigma]).clamp(0, 1)
