"""The reconstruction family: a model gets the corrupted test images and is scored against the clean ones
(:mod:`bench.metrics.reconstruction`); it also keeps the first images clean, corrupted and reconstructed for
the reports' grids."""

from __future__ import annotations

from typing import TYPE_CHECKING

from registry import FamilySpec, MetricResult

from ..metrics.reconstruction import RECONSTRUCTION as METRICS
from ..metrics.reconstruction import score_reconstruction
from ..result import SAMPLES
from .images import uint8_npy

SAMPLE_COUNT = 8

if TYPE_CHECKING:
    from ..context import Context


def score(ctx: Context) -> list[MetricResult]:
    import torch

    noisy = ctx.noisy_test
    results = score_reconstruction(ctx.model, noisy, ctx.test_x)
    if ctx.images:
        idx = ctx.split.eval_idx[:SAMPLE_COUNT]
        with torch.no_grad():
            recon = ctx.model(noisy[idx])
        ctx.add_artifact(SAMPLES, uint8_npy(torch.stack([ctx.test_x[idx], noisy[idx], recon.reshape(noisy[idx].shape)])))
    return results


RECONSTRUCTION = FamilySpec(
    "reconstruction", "1", "BCE, MSE, PSNR, SSIM and PSNR gain of the reconstruction of corrupted test images",
    METRICS, score, headline="psnr", cost=0.3, matched=("psnr",), title="reconstruction")
