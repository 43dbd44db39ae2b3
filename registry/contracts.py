"""What a model's outputs must be, said once: the plugin kit (:mod:`registry.testing`) checks it on a small
input before a plugin is published, and the harness checks it again on every output it uses (a trained model
can break what a fresh one kept: a decoder whose values left [0, 1], a NaN after training)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def values_problem(t: torch.Tensor) -> str | None:
    """What is wrong with an output's values, or None: floating point, finite, in [0, 1]."""
    import torch

    if not torch.is_floating_point(t):
        return f"dtype {t.dtype}, expected floating point"
    if not torch.isfinite(t).all():
        return "non-finite values"
    low, high = float(t.min()), float(t.max())
    if low < 0 or high > 1:
        return f"values in [{low:.3g}, {high:.3g}], expected [0, 1]"
    return None


def output_problem(y: torch.Tensor, what: str, shape: tuple[int, ...]) -> str | None:
    """What is wrong with ``what``'s output ``y`` (forward, decode, sample) expected as ``shape`` in [0, 1]."""
    if tuple(y.shape) != tuple(shape):
        return f"{what} gave shape {tuple(y.shape)}, expected {tuple(shape)}"
    problem = values_problem(y)
    return None if problem is None else f"{what} gave {problem}"


def codes_problem(z: torch.Tensor, n: int) -> str | None:
    """What is wrong with ``encode``'s output for ``n`` inputs: ``[n, latent]``, finite."""
    import torch

    if z.dim() != 2 or z.shape[0] != n:
        return f"encode gave {tuple(z.shape)}, expected [{n}, latent]"
    if not torch.is_floating_point(z) or not torch.isfinite(z).all():
        return f"encode gave {'non-finite values' if torch.is_floating_point(z) else f'dtype {z.dtype}'}, expected " \
               "finite floating-point codes"
    return None
