"""The augmentation protocol (downstream accuracy by generative augmentation): does adding a model's samples to the limited
training set help the reference CNN, on clean and on corrupted test images?"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from .grad import inference_mode
from .metrics.metric import Metric, MetricResult
from .profiles import Profile

if TYPE_CHECKING:  # torch and the CNN are imported where a CNN is trained: declaring the metrics does not load them
    import torch

    from .cnn import Fit

FAMILY = "augmentation"
ACC_CLEAN = Metric("acc_clean", FAMILY, True, "", "CNN accuracy on the clean test set", test="mcnemar",
                   label="clean accuracy")
ACC_NOISY = Metric("acc_noisy", FAMILY, True, "", "CNN accuracy on the test set corrupted at the cell's severity",
                   test="mcnemar", label="noisy accuracy")
ACC_CORRUPTED = Metric("acc_corrupted", FAMILY, True, "", "CNN accuracy averaged over the noise's severities",
                       test="paired-t")
# Every row of a comparison divides by the same baseline's errors, so rel_ce orders rows as the errors
# averaged over severities do: it is tested on the per-image accuracy averaged over severities.
REL_CE = Metric("rel_ce", FAMILY, False, "",
                "relative corruption error: summed errors over severities, against the baseline CNN's",
                test="paired-t", items="acc_corrupted")
AUGMENTATION = (ACC_CLEAN, ACC_NOISY, ACC_CORRUPTED, REL_CE)
EQUAL_EPOCHS_LR = 1e-3  # the constant learning rate of the equal-epochs protocol (as it was published)


def acc_at(severity: int) -> Metric:
    """Accuracy at one severity: in the CSVs and figures, not in the markdown tables."""
    return Metric(f"acc_sev{severity}", FAMILY, True, "", f"CNN accuracy at severity {severity}", detail=True,
                  test="mcnemar")


@dataclass(frozen=True)
class Accuracy:
    """Per-image correctness of one CNN on the clean test set and on each corrupted one."""

    clean: torch.Tensor
    by_severity: dict[int, torch.Tensor]

    def errors(self) -> float:
        return sum(1 - c.double().mean().item() for c in self.by_severity.values())


@inference_mode
def augment(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, *, k: int,
    corrupt: Callable[[torch.Tensor], torch.Tensor], generates: bool, batch: int = 1000,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``k`` generated samples per image of ``x`` with the image's label: ``model.generate(x)`` where the
    model's spec declares the capability (a VAE decodes z ~ q(z|x)), else reconstructions of freshly
    corrupted copies."""
    import torch

    model.eval()
    draw = model.generate if generates else (lambda b: model(corrupt(b)))
    samples = [torch.cat([draw(x[i : i + batch]) for i in range(0, len(x), batch)]).clamp(0, 1) for _ in range(k)]
    return torch.cat(samples).reshape(k * len(x), *x.shape[1:]), y.repeat(k)


def new_cnn(x: torch.Tensor, classes: int) -> torch.nn.Module:
    """The reference classifier of ``x``'s items (:func:`bench.cnn.new_classifier`), on ``x``'s device."""
    from .cnn import new_classifier

    return new_classifier(tuple(x.shape[1:]), classes).to(x.device)


def train_cnn(x: torch.Tensor, y: torch.Tensor, classes: int, *, profile: Profile, baseline_size: int,
              cnn: torch.nn.Module | None = None) -> tuple[torch.nn.Module, Fit]:
    """The reference CNN trained on ``x`` under the profile's budget: converged, ``cnn_converged_epochs``
    passes over ``x`` and at least ``cnn_min_steps`` steps, the learning rate decaying on a cosine;
    compute-matched, the optimizer steps the profile gives a baseline of ``baseline_size`` images,
    whatever the size of ``x``; or equal epochs, ``profile.cnn_epochs`` passes over ``x`` at the constant
    learning rate of the original protocol."""
    from .cnn import train_classifier

    cnn = cnn if cnn is not None else new_cnn(x, classes)
    if profile.cnn_budget in ("steps", "converged"):
        budget = {"steps": profile.cnn_steps(baseline_size, len(x)), "lr": profile.cnn_lr}
    else:
        budget = {"epochs": profile.cnn_epochs, "lr": EQUAL_EPOCHS_LR}
    fit = train_classifier(cnn, x, y, batch_size=profile.cnn_batch, precision=profile.precision, **budget)
    return cnn, fit


def accuracy(cnn: torch.nn.Module, clean: torch.Tensor, y: torch.Tensor, corrupted: dict[int, torch.Tensor],
             precision: str = "fp32") -> Accuracy:
    """One batched inference pass per test set."""
    from .cnn import predict

    return Accuracy(
        (predict(cnn, clean, precision=precision) == y).cpu(),
        {s: (predict(cnn, xs, precision=precision) == y).cpu() for s, xs in sorted(corrupted.items())},
    )


def score_augmentation(acc: Accuracy, baseline: Accuracy, severity: int) -> list[MetricResult]:
    import torch

    corrupted = torch.stack([c.double() for c in acc.by_severity.values()]).mean(0)
    base_errors = baseline.errors()
    rel = REL_CE.estimate(acc.errors() / base_errors) if base_errors > 0 else REL_CE.not_applicable(
        "the baseline makes no error on any corrupted test set")
    return [
        ACC_CLEAN.result(acc.clean),
        ACC_NOISY.result(acc.by_severity[severity]),
        ACC_CORRUPTED.result(corrupted),
        rel,
        *(acc_at(s).result(c) for s, c in acc.by_severity.items()),
    ]


def not_applicable(why: str, severities: list[int]) -> list[MetricResult]:
    return [m.not_applicable(why) for m in (*AUGMENTATION, *(acc_at(s) for s in severities))]
