"""Reconstruction metrics: a model gets the noisy test input and is scored against the clean image."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ..grad import inference_mode
from .metric import Metric, MetricResult

if TYPE_CHECKING:  # torch is imported where a metric is computed: declaring the metrics does not load it
    import torch

FAMILY = "reconstruction"
BCE = Metric("bce", FAMILY, False, "nats", "binary cross-entropy summed over pixels, per image", test="paired-t")
MSE = Metric("mse", FAMILY, False, "", "mean squared error per pixel", test="paired-t")
# PSNR is a monotone function of the mean MSE, and every model of a comparison gets the same noisy inputs,
# so PSNR and its gain are tested on the per-image MSE.
PSNR = Metric("psnr", FAMILY, True, "dB", "peak signal-to-noise ratio of the reconstruction, range 1",
              test="paired-t", items="mse")
SSIM = Metric("ssim", FAMILY, True, "", "structural similarity, Gaussian window 11, sigma 1.5", test="paired-t")
PSNR_GAIN = Metric("psnr_gain", FAMILY, True, "dB", "PSNR of the reconstruction minus PSNR of the noisy input",
                   test="paired-t", items="mse")
RECONSTRUCTION = (BCE, MSE, PSNR, SSIM, PSNR_GAIN)

BATCH = 1000  # images per forward pass and per SSIM call: bounds memory on the full test set
_DB = 10 / math.log(10)


def squared_error(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-item mean squared error over all non-batch axes."""
    return (x - target).pow(2).flatten(1).mean(1)


def psnr_of(mse: torch.Tensor) -> float:
    """PSNR in dB (data range 1) of a set from its per-item MSEs: ``10·log10(1 / mean MSE)``.

    Taken over the set rather than averaged per image, so that an image left untouched (MSE 0, an
    infinite PSNR of its own) does not dominate the mean.
    """
    return 10 * math.log10(1.0 / max(mse.double().mean().item(), 1e-20))


def ssim(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image SSIM (Wang et al.: Gaussian window 11, sigma 1.5, data range 1, valid region);
    images smaller than the window use the largest odd window that fits. Vectors have no SSIM: NaNs."""
    import torch
    from pytorch_msssim import ssim as _msssim_ssim

    if x.dim() != 4:
        return torch.full((len(x),), float("nan"))
    side = min(x.shape[-2:])
    size = 11 if side >= 11 else side - (1 - side % 2)
    return _msssim_ssim(x, target, data_range=1.0, size_average=False, win_size=size, win_sigma=1.5)


@inference_mode
def score_reconstruction(model: torch.nn.Module, noisy: torch.Tensor, clean: torch.Tensor) -> list[MetricResult]:
    """Score ``model`` reconstructing ``clean`` from ``noisy`` (both ``[N, *shape]`` in [0, 1])."""
    import torch
    from torch.nn import functional as F

    model.eval()
    bce, mse, mse_in, ssims = [], [], [], []
    for start in range(0, len(clean), BATCH):
        x_in, x = noisy[start : start + BATCH], clean[start : start + BATCH]
        recon = model(x_in).clamp(0, 1)
        bce.append(F.binary_cross_entropy(recon, x, reduction="none").flatten(1).sum(1))
        mse.append(squared_error(recon, x))
        mse_in.append(squared_error(x_in, x))
        ssims.append(ssim(recon, x))
    bce, mse, mse_in, ssims = (torch.cat(t).double().cpu() for t in (bce, mse, mse_in, ssims))
    m_rec, m_in = mse.mean(), mse_in.mean()
    p_rec, p_in = psnr_of(mse), psnr_of(mse_in)
    return [
        BCE.result(bce),
        MSE.result(mse),
        PSNR.estimate(p_rec, -_DB * mse / m_rec),
        SSIM.result(ssims) if clean.dim() == 4 else SSIM.not_applicable("the inputs are vectors, not images"),
        PSNR_GAIN.estimate(p_rec - p_in, _DB * (mse_in / m_in - mse / m_rec)),
    ]
