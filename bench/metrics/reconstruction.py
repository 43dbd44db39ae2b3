"""Reconstruction metrics: a model gets the noisy test input and is scored against the clean image."""

from __future__ import annotations

import torch
from torch.nn import functional as F
from torchmetrics.functional.image import structural_similarity_index_measure

from .metric import Metric, MetricResult

FAMILY = "reconstruction"
BCE = Metric("bce", FAMILY, False, "nats", "binary cross-entropy summed over pixels, per image")
MSE = Metric("mse", FAMILY, False, "", "mean squared error per pixel")
PSNR = Metric("psnr", FAMILY, True, "dB", "peak signal-to-noise ratio of the reconstruction, range 1")
SSIM = Metric("ssim", FAMILY, True, "", "structural similarity, Gaussian window 11, sigma 1.5")
PSNR_GAIN = Metric("psnr_gain", FAMILY, True, "dB", "PSNR of the reconstruction minus PSNR of the noisy input")
RECONSTRUCTION = (BCE, MSE, PSNR, SSIM, PSNR_GAIN)

MAX_PSNR_DB = 100.0  # a perfect reconstruction would be +inf; cap so that means stay finite
BATCH = 1000  # images per forward pass and per SSIM call (bounds memory, keeps SSIM fast)


def psnr(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-item PSNR in dB for values in [0, 1]: ``10·log10(1 / mse)``, capped at 100 dB."""
    mse = (x - target).pow(2).flatten(1).mean(1)
    return (10 * torch.log10(1.0 / mse.clamp_min(10 ** (-MAX_PSNR_DB / 10)))).clamp_max(MAX_PSNR_DB)


def ssim(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image SSIM (Gaussian window 11, sigma 1.5, data range 1); images smaller than the window
    use the largest odd window that fits. Flat vectors have no SSIM: returns NaNs."""
    if x.dim() != 4:
        return torch.full((len(x),), float("nan"))
    side = min(x.shape[-2:])
    size = 11 if side >= 11 else side - (1 - side % 2)
    return structural_similarity_index_measure(
        x, target, gaussian_kernel=True, sigma=1.5, kernel_size=size, data_range=1.0, reduction="none"
    )


@torch.inference_mode()
def score_reconstruction(model: torch.nn.Module, noisy: torch.Tensor, clean: torch.Tensor) -> list[MetricResult]:
    """Score ``model`` reconstructing ``clean`` from ``noisy`` (both ``[N, *shape]`` in [0, 1])."""
    model.eval()
    per_item: dict[str, list[torch.Tensor]] = {m.name: [] for m in RECONSTRUCTION}
    for start in range(0, len(clean), BATCH):
        x_in, x = noisy[start : start + BATCH], clean[start : start + BATCH]
        recon = model(x_in).clamp(0, 1)
        p = psnr(recon, x)
        per_item["bce"].append(F.binary_cross_entropy(recon, x, reduction="none").flatten(1).sum(1))
        per_item["mse"].append((recon - x).pow(2).flatten(1).mean(1))
        per_item["psnr"].append(p)
        per_item["ssim"].append(ssim(recon, x))
        per_item["psnr_gain"].append(p - psnr(x_in, x))
    return [m.result(torch.cat(per_item[m.name]).cpu()) for m in RECONSTRUCTION]
