"""The generative family: prior samples and augmentation samples against as many real evaluation images in
the dataset's feature space (FID, KID, precision/recall/density/coverage), and the reference CNN trained on
the augmentation samples alone, tested on the real clean images (:mod:`bench.metrics.generative`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from registry import Contrast, FamilySpec, MetricResult

from .. import augmentation
from ..cost import STEP_S, cnn_steps, samples_key
from ..data import subset
from ..metrics import generative
from ..result import PRIOR_SAMPLES
from .images import uint8_npy

if TYPE_CHECKING:
    import torch

    from ..context import Context

PRIOR_GRID = 32  # prior samples kept per cell for the report's grid


def _prior(ctx: Context, real: torch.Tensor) -> list[MetricResult]:
    cell = ctx.cell
    if "sample" not in ctx.model_spec.capabilities:
        return generative.not_applicable("prior", f"model '{cell.model}' has no prior to sample from (it declares "
                                         "no 'sample' capability)")

    def compute() -> tuple[list[MetricResult], bytes | None]:
        import torch

        model = ctx.model
        with ctx.seeded("prior-samples"), torch.inference_mode():
            fake = torch.cat([model.sample(min(1000, len(real) - i)).clamp(0, 1) for i in range(0, len(real), 1000)])
        if fake.shape[1:] != ctx.eval_x.shape[1:]:
            raise ValueError(f"model '{cell.model}' sampled shape {tuple(fake.shape[1:])}; expected "
                             f"{tuple(ctx.eval_x.shape[1:])}")
        fake_features = ctx.domain_features()(fake)
        with ctx.seeded("kid", "prior"):
            results = generative.score_generative(real, fake_features, "prior")
        if cell.train_noise:  # do the samples inherit the training set's noise?
            results.append(generative.noisy_fid_result("prior", ctx.noisy_features(), fake_features))
        return results, (uint8_npy(fake[:PRIOR_GRID]) if fake.dim() == 4 else None)

    results, grid = ctx.memo(["generative", "prior", cell.train_noise and [cell.noise_label, cell.severity]], compute)
    if grid is not None:
        ctx.add_artifact(PRIOR_SAMPLES, grid)
    return results


def _augmentation(ctx: Context, real: torch.Tensor) -> list[MetricResult]:
    cell = ctx.cell
    sample_key, x_gen, y_gen = ctx.augmentation()

    def compute() -> list[MetricResult]:
        m = min(len(x_gen), len(real))  # as many real images as samples
        real_idx = subset(len(real), m, ctx.seed("generative-real")).sort().values
        fake_idx = subset(len(x_gen), m, ctx.seed("generative-fake"))
        fake_features = ctx.domain_features()(x_gen[fake_idx.to(x_gen.device)])
        with ctx.seeded("kid", "aug"):
            results = generative.score_generative(real[real_idx], fake_features, "aug")
        if cell.train_noise:
            results.append(generative.noisy_fid_result("aug", ctx.noisy_features()[real_idx], fake_features))
        return results

    return ctx.memo(["generative", "aug", sample_key, cell.train_noise and [cell.noise_label, cell.severity]], compute)


def _tstr(ctx: Context) -> MetricResult:
    if not ctx.images:
        return generative.TSTR.not_applicable("the reference CNN takes images, the dataset has vectors")
    profile = ctx.profile
    sample_key, x_gen, y_gen = ctx.augmentation()

    def compute() -> torch.Tensor:
        from ..cnn import predict

        with ctx.seeded("cnn"):
            cnn, _ = augmentation.train_cnn(x_gen, y_gen, len(ctx.classes), profile=profile,
                                          baseline_size=len(ctx.train_x))
        return (predict(cnn, ctx.eval_x, precision=profile.precision) == ctx.eval_y).cpu()

    return generative.TSTR.result(ctx.memo(["tstr", [profile.cnn_budget, profile.precision], sample_key], compute))


def cost(cell) -> dict:
    """Seconds: the train-on-synthetic CNN's steps, once per set of augmentation samples (a model that generates
    by itself has one for every noise), and the cell's feature-space metrics."""
    k = cell.profile.augment_k
    return {cell.key: 30.0, ("tstr cnn", *samples_key(cell)): STEP_S * cnn_steps(cell, augmented=True) * k / (1 + k)}


def score(ctx: Context) -> list[MetricResult]:
    cell = ctx.cell
    features = ctx.domain_features()
    results = [generative.FEATURE_ACC.estimate(features.test_accuracy) if features.test_accuracy is not None
               else generative.FEATURE_ACC.not_applicable("vectors are their own features (standardised)")]
    real = ctx.real_features()
    results += _prior(ctx, real)
    if not ctx.model_spec.generative:
        why = f"model '{cell.model}' cannot generate samples (its spec says so)"
        return [*results, *generative.not_applicable("aug", why), generative.TSTR.not_applicable(why)]
    return [*results, *_augmentation(ctx, real), _tstr(ctx)]


GENERATIVE = FamilySpec(
    "generative", "1", "samples of the prior and the augmentation samples against real test images in the "
    "dataset's feature space (FID, KID, precision, recall, density, coverage), and train-on-synthetic accuracy",
    (*generative.PRIOR.values(), *generative.AUG.values(), generative.noisy_fid("prior"), generative.noisy_fid("aug"),
     generative.TSTR, generative.FEATURE_ACC), score, headline="fid_prior", cost=cost,
    title="generative quality (domain features)", trains_cnn=True, features=True,
    plots=("fid_prior", "precision_prior", "recall_prior", "fid_aug", "precision_aug", "recall_aug"),
    contrasts=tuple(Contrast(f"fid_{source}_noisy", f"fid_{source}", what, "the noisy test images",
                             "the clean test images", "they inherit the training set's noise",
                             "they do not inherit the training set's noise")
                    for source, what in (("prior", "prior samples"), ("aug", "augmentation samples"))))
