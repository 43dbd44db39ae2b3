"""Generative quality in the data's own feature space (:mod:`bench.features`): generated samples against as
many real test images, per sample source.

- FID (Heusel et al., 2017) and KID (Bińkowski et al., 2018) from torchmetrics, given the domain features
  through an identity "extractor"; KID is the unbiased MMD² with a cubic polynomial kernel, averaged over
  :data:`KID_SUBSETS` random subsets of :data:`KID_SUBSET` samples (half the samples when there are fewer
  than twice that, so that the subsets differ). The standard deviation over those overlapping subsets is
  kept as its own column (``kid_*_subset_sd``): it is a spread, neither a standard error nor a 95%
  interval, so KID itself has no interval. FID has no interval (it is biased in the sample size: every model
  of a comparison is scored on the same number of samples).
- Improved precision and recall (Kynkäänniemi et al., 2019) and density and coverage (Naeem et al., 2020)
  with k = :data:`NEAREST_K` nearest neighbours. Written here rather than taken from ``prdc`` (the
  authors' package, which the tests check these values against) because the reports need the per-sample
  indicators: recall and coverage are a 0/1 value per *real* test image, the same images for every
  model, so two models are compared on them by the exact McNemar test; precision and density are values
  per *generated* sample, which differ between models: they get an interval over samples, and are
  compared over seeds only.
- Train on synthetic, test on real (``tstr_acc``): scored by the evaluator (the reference CNN trained on
  the augmentation samples alone).
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING

from .metric import Metric, MetricResult

if TYPE_CHECKING:  # torch is imported where a metric is computed: declaring the metrics does not load it
    import torch

FAMILY = "generative"
SOURCES = {"prior": "samples decoded from z ~ N(0, I)", "aug": "the augmentation samples, z ~ q(z|x)"}
NEAREST_K = 5
KID_SUBSETS = 100
KID_SUBSET = 1000


def _metrics(source: str) -> dict[str, Metric]:
    what = SOURCES[source]
    return {
        "fid": Metric(f"fid_{source}", FAMILY, False, "", f"FID in the domain feature space, {what}"),
        "kid": Metric(f"kid_{source}", FAMILY, False, "", f"KID (unbiased, cubic kernel) in the domain feature "
                                                          f"space, {what}"),
        # the spread of KID over its overlapping subsets: neither a standard error nor a 95% interval, so it is
        # its own column (CSV) and KID itself has no interval
        "kid_subset_sd": Metric(f"kid_{source}_subset_sd", FAMILY, False, "",
                                f"standard deviation of KID over its {KID_SUBSETS} overlapping subsets (a spread, not "
                                f"an interval), {what}", detail=True),
        "precision": Metric(f"precision_{source}", FAMILY, True, "",
                            f"share of generated samples inside the real images' k-NN balls, {what}"),
        "recall": Metric(f"recall_{source}", FAMILY, True, "",
                         f"share of real test images inside the generated samples' k-NN balls, {what}",
                         test="mcnemar"),
        "density": Metric(f"density_{source}", FAMILY, True, "",
                          f"real k-NN balls containing each generated sample, over k, {what}", detail=True),
        "coverage": Metric(f"coverage_{source}", FAMILY, True, "",
                           f"share of real test images whose k-NN ball holds a generated sample, {what}",
                           test="mcnemar"),
    }


PRIOR, AUG = _metrics("prior"), _metrics("aug")
TSTR = Metric("tstr_acc", FAMILY, True, "", "accuracy on the real clean test set of the reference CNN trained on "
              "the augmentation samples alone, labelled by their source image", test="mcnemar")
FEATURE_ACC = Metric("feature_acc", FAMILY, True, "", "test accuracy of the domain feature network (the same "
                     "for every model of a dataset)", detail=True)


def noisy_fid(source: str) -> Metric:
    """FID against the evaluation images corrupted by the cell's noise at its severity: computed for a noisy
    training set (``--train-noise``), where below ``fid_<source>`` the samples look more like the noisy data
    than like the clean, i.e. they inherit the noise."""
    return Metric(f"fid_{source}_noisy", FAMILY, False, "", f"FID against the corrupted evaluation images, "
                  f"{SOURCES[source]}", detail=True)


def noisy_fid_result(source: str, noisy_real: torch.Tensor, fake: torch.Tensor) -> MetricResult:
    """``fid_<source>_noisy`` of ``fake`` features against the corrupted evaluation images' features."""
    return _fid_result(noisy_fid(source), noisy_real, fake)


def _fid_result(metric: Metric, real: torch.Tensor, fake: torch.Tensor) -> MetricResult:
    """FID as a result: no interval, and its sample size, since FID is biased in it."""
    return MetricResult(metric, fid(real, fake), float("nan"), len(real))


def metrics_of(source: str) -> dict[str, Metric]:
    return {"prior": PRIOR, "aug": AUG}[source]


def _identity(num_features: int) -> torch.nn.Module:
    """torchmetrics' "feature extractor" for features computed beforehand."""
    import torch

    class Identity(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.num_features = num_features

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    return Identity()


def fid(real: torch.Tensor, fake: torch.Tensor) -> float:
    from torchmetrics.image.fid import FrechetInceptionDistance

    metric = FrechetInceptionDistance(feature=_identity(real.shape[1]), reset_real_features=False)
    metric.update(real.double(), real=True)
    metric.update(fake.double(), real=False)
    return float(metric.compute())


def kid(real: torch.Tensor, fake: torch.Tensor, *, subsets: int = KID_SUBSETS,
        subset_size: int = KID_SUBSET) -> tuple[float, float]:
    """KID's mean and standard deviation over subsets (draws from torch's generator: seed it)."""
    from torchmetrics.image.kid import KernelInceptionDistance

    size = min(subset_size, len(real) // 2, len(fake) // 2)
    with warnings.catch_warnings():  # it warns that it keeps every feature: these are ours, already in memory
        warnings.simplefilter("ignore", UserWarning)
        metric = KernelInceptionDistance(feature=_identity(real.shape[1]), subsets=subsets, subset_size=size)
    metric.update(real.double(), real=True)
    metric.update(fake.double(), real=False)
    mean, std = metric.compute()
    return float(mean), float(std)


#: Rows of a distance matrix computed at a time: the full matrices of 10,000 × 10,000 doubles took 2.4 GB.
CHUNK = 1024


def _kth_neighbour_distance(features: torch.Tensor, k: int) -> torch.Tensor:
    """Each point's distance to its k-th nearest neighbour within ``features`` (itself excluded)."""
    import torch

    return torch.cat([torch.cdist(features[i : i + CHUNK], features).kthvalue(k + 1, dim=1).values
                      for i in range(0, len(features), CHUNK)])


def prdc(real: torch.Tensor, fake: torch.Tensor, k: int = NEAREST_K) -> dict[str, torch.Tensor]:
    """Per-sample indicators: ``precision`` and ``density`` per generated sample, ``recall`` and
    ``coverage`` per real image; their means are the four metrics. Distances are computed a block of real
    images at a time."""
    import torch

    real, fake = real.double(), fake.double()
    real_radius = _kth_neighbour_distance(real, k)
    fake_radius = _kth_neighbour_distance(fake, k)
    precision = torch.zeros(len(fake), dtype=torch.bool, device=fake.device)
    density = torch.zeros(len(fake), dtype=torch.float64, device=fake.device)
    recall, coverage = [], []
    for i in range(0, len(real), CHUNK):
        between = torch.cdist(real[i : i + CHUNK], fake)  # real × fake
        radius = real_radius[i : i + CHUNK]
        inside_real = between < radius[:, None]
        precision |= inside_real.any(dim=0)
        density += inside_real.sum(dim=0)
        recall.append((between < fake_radius[None, :]).any(dim=1))
        coverage.append(between.min(dim=1).values < radius)
    return {
        "precision": precision.double(),
        "recall": torch.cat(recall).double(),
        "density": density / k,
        "coverage": torch.cat(coverage).double(),
    }


def score_generative(real: torch.Tensor, fake: torch.Tensor, source: str) -> list[MetricResult]:
    """The six metrics of ``source`` for ``fake`` features against as many ``real`` ones (seed torch's
    generator first: KID draws subsets)."""
    metrics = metrics_of(source)
    if len(real) != len(fake):
        raise ValueError(f"{len(fake)} generated samples against {len(real)} real images: give as many of each")
    kid_mean, kid_std = kid(real, fake)
    indicators = prdc(real, fake)
    return [
        _fid_result(metrics["fid"], real, fake),
        MetricResult(metrics["kid"], kid_mean, math.nan, len(real)),
        MetricResult(metrics["kid_subset_sd"], kid_std, math.nan, len(real)),
        *(metrics[name].result(values) for name, values in indicators.items()),
    ]


def not_applicable(source: str, why: str) -> list[MetricResult]:
    return [m.not_applicable(why) for m in metrics_of(source).values()]
