"""The downstream family: does adding a model's samples to the limited training set help the reference CNN,
on clean and on corrupted test images (:mod:`bench.downstream`)? It also scores the reference CNN's own
cells, the baseline rows every model is compared with."""

from __future__ import annotations

import json

from registry import FamilySpec, MetricResult

from .. import downstream
from ..context import Context
from ..cost import STEP_S, cnn_steps
from ..grid import BASELINE

#: Severities a noise declares (1-5), and 0: a noise given its native parameter (``gaussian:sigma=0.1``).
SEVERITY_METRICS = tuple(downstream.acc_at(s) for s in range(6))


def cost(cell) -> float:
    """Seconds: the augmented CNN's steps (the baseline CNN is charged once per split by :mod:`bench.cost`)."""
    return 5.0 if cell.model == BASELINE else 5.0 + STEP_S * cnn_steps(cell, augmented=True)


def protocol_key(ctx: Context) -> list[str]:
    return [ctx.profile.cnn_budget, ctx.profile.precision]


def score(ctx: Context) -> list[MetricResult]:
    cell, profile = ctx.cell, ctx.profile
    severities = ctx.severities()
    if ctx.is_baseline:
        _, fit, source = ctx.baseline_cnn()
        ctx.note(baseline=fit.steps, baseline_cnn=source)
        base = ctx.baseline_accuracy()
        return downstream.score_downstream(base, base, cell.severity)
    if not ctx.model_spec.generative:
        return downstream.not_applicable(f"model '{cell.model}' cannot generate samples (its spec says so)",
                                         severities)
    from ..evaluator import validation_accuracy

    sample_key, x_gen, y_gen = ctx.augmentation()
    cnn_key = ["cnn", protocol_key(ctx), sample_key]

    def train():
        import torch

        with ctx.seeded("cnn"):  # the baseline's initial weights and batch stream (bench.evaluator.cnn_seed)
            return downstream.train_cnn(torch.cat([ctx.train_x, x_gen]), torch.cat([ctx.train_y, y_gen]),
                                        len(ctx.classes), profile=profile, baseline_size=len(ctx.train_x))

    cnn, fit = ctx.memo(cnn_key, train)
    validation = ctx.memo(["validation", cnn_key], lambda: validation_accuracy(cnn, ctx.split, profile.precision))
    accuracy = ctx.memo(["accuracy", cnn_key, cell.noise_label, json.dumps(cell.noise_overrides, sort_keys=True)],
                        lambda: downstream.accuracy(cnn, ctx.eval_x, ctx.eval_y, ctx.corrupted_eval_sets(),
                                                    precision=profile.precision))
    _, baseline_fit, source = ctx.baseline_cnn()
    ctx.add_figure("accuracy", None)  # drawn by the reports: the family's severity_figure
    ctx.note(augmented=fit.steps, baseline=baseline_fit.steps, baseline_cnn=source, augmented_validation=validation)
    return downstream.score_downstream(accuracy, ctx.baseline_accuracy(), cell.severity)


DOWNSTREAM = FamilySpec(
    "downstream", "1", "accuracy of the reference CNN trained on the limited subset plus the model's samples, "
    "on clean and corrupted test images, against the CNN trained on the subset alone",
    (*downstream.DOWNSTREAM, *SEVERITY_METRICS), score, headline="acc_noisy", inputs=("image",), cost=cost,
    baseline=True, compares=("acc_clean", "acc_noisy"), matched=("acc_noisy",),
    title="downstream accuracy (generative augmentation)", by_severity="acc_sev{}",
    severity_figure="accuracy")
