"""Pixel-wise corruptions: salt-and-pepper, speckle and shot (Poisson) noise. Each keeps the input's
shape and returns values in [0, 1]; randomness comes from torch's global generator."""

import torch


def salt_pepper(x: torch.Tensor, *, amount: float) -> torch.Tensor:
    """Each element, with probability ``amount``, set to 0 or 1 (equally likely)."""
    hit = torch.rand_like(x) < amount
    salt = torch.rand_like(x) < 0.5
    return torch.where(hit, salt.to(x.dtype), x)


def speckle(x: torch.Tensor, *, sigma: float) -> torch.Tensor:
    """Multiplicative noise ``clamp(x + x·N(0, sigma²), 0, 1)``: the error grows with the intensity."""
    return (x + x * torch.randn_like(x) * sigma).clamp(0, 1)


def shot(x: torch.Tensor, *, photons: float) -> torch.Tensor:
    """Photon (shot) noise ``clamp(Poisson(photons·x) / photons, 0, 1)``: variance ``x / photons``, so
    fewer photons is stronger noise."""
    return (torch.poisson(x * photons) / photons).clamp(0, 1)
