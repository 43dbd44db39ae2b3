"""The augmentation family (the augmentation protocol of the DVAE comparison): does adding a model's samples to
the limited training set help the reference CNN, on clean and on corrupted test images
(:mod:`bench.augmentation`)? It also scores the reference CNN's own cells, the baseline rows every model is
compared with. Opt-in: a CNN per cell. Named ``downstream`` before bench stored the denoise-then-classify
family under that name; stores and documents of that time are renamed when they are opened or imported."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from registry import BASELINE, FamilySpec, MetricResult

from .. import augmentation
from ..cost import STEP_S, cnn_steps, samples_key

if TYPE_CHECKING:
    from ..context import Context

#: Severities a noise declares (1-5), and 0: a noise given its native parameter (``gaussian:sigma=0.1``).
SEVERITY_METRICS = tuple(augmentation.acc_at(s) for s in range(6))


def cost(cell) -> float | dict:
    """Seconds: the augmented CNN's steps, once per set of samples (a model that generates by itself has one for
    every noise), and the cell's accuracy passes (the baseline CNN is charged once per split by :mod:`bench.cost`)."""
    if cell.model == BASELINE:
        return 5.0
    return {cell.key: 5.0, ("augmented cnn", *samples_key(cell)): STEP_S * cnn_steps(cell, augmented=True)}


def protocol_key(ctx: Context) -> list[str]:
    return [ctx.profile.cnn_budget, ctx.profile.precision]


def score(ctx: Context) -> list[MetricResult]:
    cell, profile = ctx.cell, ctx.profile
    severities = ctx.severities()
    if ctx.is_baseline:
        _, fit, source = ctx.baseline_cnn()
        ctx.cnn_used("baseline", fit.steps, source=source, validation=ctx.baseline_validation())
        base = ctx.baseline_accuracy()
        return augmentation.score_augmentation(base, base, cell.severity)
    if not ctx.model_spec.generative:
        return augmentation.not_applicable(f"model '{cell.model}' cannot generate samples (its spec says so)",
                                         severities)
    sample_key, x_gen, y_gen = ctx.augmentation()
    cnn_key = ["cnn", protocol_key(ctx), sample_key]

    def train():
        import torch

        with ctx.seeded("cnn"):  # the baseline's initial weights and batch stream (bench.evaluator.cnn_seed)
            return augmentation.train_cnn(torch.cat([ctx.train_x, x_gen]), torch.cat([ctx.train_y, y_gen]),
                                        len(ctx.classes), profile=profile, baseline_size=len(ctx.train_x))

    cnn, fit = ctx.memo(cnn_key, train)
    validation = ctx.memo(["validation", cnn_key], lambda: ctx.validation_accuracy(cnn))
    accuracy = ctx.memo(["accuracy", cnn_key, cell.noise_label, json.dumps(cell.noise_overrides, sort_keys=True)],
                        lambda: augmentation.accuracy(cnn, ctx.eval_x, ctx.eval_y, ctx.corrupted_eval_sets(),
                                                    precision=profile.precision))
    _, baseline_fit, source = ctx.baseline_cnn()
    ctx.add_figure("accuracy", None)  # drawn by the reports: the family's severity_figure
    ctx.cnn_used("baseline", baseline_fit.steps, source=source, validation=ctx.baseline_validation())
    ctx.cnn_used("augmented", fit.steps, validation=validation)
    return augmentation.score_augmentation(accuracy, ctx.baseline_accuracy(), cell.severity)


AUGMENTATION = FamilySpec(
    "augmentation", "1", "accuracy of the reference CNN trained on the limited subset plus the model's samples, "
    "on clean and corrupted test images, against the CNN trained on the subset alone",
    (*augmentation.AUGMENTATION, *SEVERITY_METRICS), score, headline="acc_noisy", inputs=("image",), cost=cost,
    baseline=True, compares=("acc_clean", "acc_noisy"), matched=("acc_noisy",),
    title="augmentation: a CNN trained on the subset plus the model's samples", by_severity="acc_sev{}",
    severity_figure="accuracy", trains_cnn=True)
