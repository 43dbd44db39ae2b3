"""A metric family: the gradient magnitude similarity deviation (GMSD, Xue, Zhang, Mou and Bovik, IEEE TIP
2014) of each reconstruction against its clean image. Image-quality work uses it because it sees what
PSNR hides: a blurred reconstruction loses edges while keeping a fair PSNR. Lower is better; 0 means the
gradient magnitudes agree everywhere.

Per image: the gradient magnitudes of the clean image ``r`` and of the reconstruction ``d`` (Prewitt
filters); the similarity map ``(2·m_r·m_d + c) / (m_r² + m_d² + c)``; GMSD is the map's standard deviation.
``c = 170 / 255²``: the paper's constant for 8-bit images, on images in [0, 1]. The paper first averages 2x2
blocks of 256-pixel-wide images; these are small, so no downsampling.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from registry import FamilySpec, Metric, MetricResult

if TYPE_CHECKING:  # torch is imported where the metric is computed: registering the family does not load it
    import torch

C = 170 / 255**2
GMSD = Metric("gmsd", "gmsd", False, "", "gradient magnitude similarity deviation of the reconstruction "
              "(Xue et al. 2014), 0 is best", test="paired-t")
GMSD_INPUT = Metric("gmsd_input", "gmsd", False, "", "GMSD of the corrupted input itself (the reference the "
                    "reconstruction should beat)", detail=True)
PREWITT = [[1.0, 0.0, -1.0]] * 3  # divided by 3


def _magnitude(x: torch.Tensor) -> torch.Tensor:
    import torch
    from torch.nn import functional as F

    gray = x.mean(1, keepdim=True)
    kx = (torch.tensor(PREWITT) / 3).to(x)[None, None]
    gx = F.conv2d(gray, kx, padding=1)
    gy = F.conv2d(gray, kx.transpose(-1, -2), padding=1)
    return (gx.square() + gy.square()).sqrt()


def gmsd(x: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Per-image GMSD of ``x`` against ``reference`` (both ``[N, C, H, W]`` in [0, 1])."""
    m_d, m_r = _magnitude(x), _magnitude(reference)
    similarity = (2 * m_r * m_d + C) / (m_r.square() + m_d.square() + C)
    return similarity.flatten(1).std(1, unbiased=False)


def score(context) -> list[MetricResult]:
    """The cell's reconstructions of its corrupted test images (the harness hands them out) against the clean
    ones, a thousand at a time."""
    import torch

    model, noisy, clean = context.model, context.noisy_test, context.test_x
    values, inputs = [], []
    with torch.no_grad():
        for i in range(0, len(clean), 1000):
            recon = model(noisy[i : i + 1000]).clamp(0, 1).reshape(clean[i : i + 1000].shape)
            values.append(gmsd(recon, clean[i : i + 1000]))
            inputs.append(gmsd(noisy[i : i + 1000], clean[i : i + 1000]))
    return [GMSD.result(torch.cat(values).cpu()), GMSD_INPUT.result(torch.cat(inputs).cpu())]


FAMILY = FamilySpec(
    name="gmsd",
    version="1",  # raise it when what score computes changes: stored results of another version are recomputed
    summary="gradient magnitude similarity deviation of reconstructions (Xue et al. 2014; example plugin)",
    metrics=(GMSD, GMSD_INPUT),
    score=score,
    headline="gmsd",
    inputs=("image",),
    cost=2.0,  # seconds per cell on one core, for the ETA
)
