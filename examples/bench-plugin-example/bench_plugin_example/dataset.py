"""A synthetic dataset that needs no files: 8x8 stripes in 4 orientations and 2 widths (8 classes)."""

from __future__ import annotations

from pathlib import Path

import torch

from registry import Dataset

CLASSES = tuple(f"{o} {w}" for o in ("horizontal", "vertical", "diagonal", "antidiagonal") for w in ("thin", "wide"))
TRAIN, TEST, SIZE = 800, 200, 8


def _image(label: int, phase: int) -> torch.Tensor:
    orientation, width = divmod(label, 2)
    i, j = torch.meshgrid(torch.arange(SIZE), torch.arange(SIZE), indexing="ij")
    coordinate = (i, j, i + j, i - j + SIZE)[orientation]
    period = 2 * (width + 1)
    return (((coordinate + phase) % period) < period // 2).float()


def _split(n: int, generator: torch.Generator, noise: float) -> tuple[torch.Tensor, torch.Tensor]:
    labels = torch.randint(0, len(CLASSES), (n,), generator=generator)
    phases = torch.randint(0, 4, (n,), generator=generator)
    images = torch.stack([_image(int(y), int(p)) for y, p in zip(labels, phases)]).unsqueeze(1)
    jitter = torch.rand(images.shape, generator=generator) * noise
    return (images * (1 - noise) + jitter).clamp(0, 1), labels


def load_stripes(root: Path, noise: float = 0.05) -> Dataset:
    """The same tensors on every call (a fixed generator): bench fingerprints them into its cell keys."""
    generator = torch.Generator().manual_seed(20261121)
    train_x, train_y = _split(TRAIN, generator, noise)
    test_x, test_y = _split(TEST, generator, noise)
    return Dataset(train_x, train_y, test_x, test_y, CLASSES)
