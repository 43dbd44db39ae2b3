"""The downstream family: *does the model, put in front of a classifier, restore what the noise took?*

Denoise, then classify. The reference classifier (the reference CNN for images, a small MLP for vectors),
trained once per dataset, seed and training subset on the clean limited subset under the converged protocol
and shared by every cell and family (:meth:`bench.context.Context.reference_classifier`), classifies the clean
evaluation images, the same images corrupted at the cell's noise and severity (the model's input), and the
model's reconstructions of those corrupted images. This is how denoisers put in front of a classifier are
judged in the literature: a clean-trained classifier on denoised inputs. The gain is the reconstructions'
accuracy minus the noisy input's, per image, so that models are compared paired on the same images.

Like a third party's family, this module imports only ``registry`` (and torch, when it scores).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from registry import FamilySpec, Metric, MetricResult

NAME = "downstream"
CLF_CLEAN = Metric("clf_clean", NAME, True, "", "the reference classifier's accuracy on the clean evaluation images "
                   "(the same for every model of a seed: the ceiling)", test="mcnemar", label="clean accuracy")
CLF_NOISY = Metric("clf_noisy", NAME, True, "", "the reference classifier's accuracy on the evaluation images "
                   "corrupted at the cell's severity (the model's input: the floor)", test="mcnemar",
                   label="accuracy on the noisy input")
CLF_DENOISED = Metric("clf_denoised", NAME, True, "", "the reference classifier's accuracy on the model's "
                      "reconstructions of the corrupted evaluation images", test="mcnemar",
                      label="accuracy on the reconstructions")
CLF_GAIN = Metric("clf_gain", NAME, True, "", "accuracy on the reconstructions minus on the noisy input, per image "
                  "(positive: the model restores what the noise took)", test="paired-t", label="accuracy gain")
METRICS = (CLF_CLEAN, CLF_NOISY, CLF_DENOISED, CLF_GAIN)
BATCH = 1000

if TYPE_CHECKING:
    import torch


def reconstruct(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The model's reconstructions of ``x``, shaped as ``x``, in batches."""
    import torch  # here, not at import: loading the registry does not load torch

    with torch.no_grad():
        out = [model(x[i:i + BATCH]) for i in range(0, len(x), BATCH)]
    return torch.cat(out).reshape(x.shape)


def score(ctx: Any) -> list[MetricResult]:
    import torch

    found = len(torch.unique(ctx.train_y))
    if len(ctx.classes) < 2 or found < 2:
        why = (f"dataset '{ctx.cell.dataset}' has no labels to classify ({max(len(ctx.classes), found)} class in its "
               "training subset): the downstream family needs two classes or more")
        return [m.not_applicable(why) for m in METRICS]
    classifier = ctx.reference_classifier()
    labels = ctx.eval_y
    noise = [ctx.cell.noise_label, ctx.cell.severity, ctx.cell.noise_params]
    clean = ctx.shared(["downstream", "clean", classifier.precision],
                       lambda: (classifier.predict(ctx.eval_x) == labels).cpu())
    noisy = ctx.shared(["downstream", "noisy", classifier.precision, noise],
                       lambda: (classifier.predict(ctx.noisy_eval) == labels).cpu())
    denoised = (classifier.predict(reconstruct(ctx.model, ctx.noisy_eval)) == labels).cpu()
    ctx.cnn_used("reference", classifier.steps, source=classifier.source, validation=classifier.validation)
    return [CLF_CLEAN.result(clean), CLF_NOISY.result(noisy), CLF_DENOISED.result(denoised),
            CLF_GAIN.result(denoised.double() - noisy.double())]


def cost(cell: Any) -> float:
    """Seconds of one cell: a pass of the classifier over the reconstructions (the reference classifier's
    training is charged once per split by :mod:`bench.cost`)."""
    return 1.0


DOWNSTREAM = FamilySpec(
    NAME, "1", "denoise, then classify: the reference classifier (trained once on the clean limited subset) on the "
    "clean, the noisy and the model's reconstructed test images, and the gain of the reconstructions over the "
    "noisy input", METRICS, score, headline="clf_denoised", cost=cost, matched=("clf_denoised",),
    title="downstream: a clean-trained classifier on the reconstructions", reference=True)
