"""Pixel dropout: dead pixels, each set to 0 independently with probability ``p``."""

from __future__ import annotations

import torch


def pixel_dropout(x: torch.Tensor, p: float = 0.1) -> torch.Tensor:
    """Randomness from torch's global generator, which bench seeds per cell: reproducible corruption."""
    keep = torch.rand(x.shape, device=x.device) >= p
    return x * keep
