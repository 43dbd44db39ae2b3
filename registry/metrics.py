"""What a metric is (name, direction, unit, paired test) and what scoring one produces (value with an
interval, and the per-item values that let reports test one model against another on the same items)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch on first use: `import registry` stays light
    import torch

from .outcome import NotApplicable

#: Paired tests over test items. ``mcnemar``: per-item correctness (0/1), exact McNemar; ``paired-t``:
#: per-item values, paired t-test on their differences. A metric with neither is tested over seeds only.
TESTS = ("mcnemar", "paired-t")


@dataclass(frozen=True)
class Metric:
    name: str
    family: str
    higher_is_better: bool
    unit: str
    summary: str
    detail: bool = False  # a breakdown (e.g. per severity): in the CSVs, not in the markdown tables
    test: str | None = None  # one of TESTS: how two models are compared on the same test items
    items: str | None = None  # the per-item values that test uses, when they are another metric's (psnr: mse)
    label: str = ""  # the metric in report sentences ("clean accuracy"; default: its name)

    @property
    def items_name(self) -> str | None:
        """Name of the per-item vector this metric is tested on (None: no per-item test)."""
        return None if self.test is None else self.items or self.name

    def result(self, per_item: torch.Tensor) -> "MetricResult":
        """The mean of per-item values, with the 95% interval of the mean over the items; a metric with
        a paired test keeps the values for it."""
        import torch

        values = torch.as_tensor(per_item).double().flatten()
        result = self.estimate(values.mean().item(), values)
        if self.test is not None and self.items is None:
            return MetricResult(self, result.value, result.ci95, result.n, per_item=values.float())
        return result

    def estimate(self, value: float, influence: torch.Tensor | None = None) -> "MetricResult":
        """``value`` with a normal 95% interval whose standard error is that of the mean of the
        per-item ``influence`` values (the item values themselves for a mean; their linearisation,
        the delta method, for a smooth function of means such as PSNR). No influence, no interval."""
        if influence is None:
            return MetricResult(self, float(value), float("nan"), 0)
        import torch

        influence = torch.as_tensor(influence).double().flatten()
        n = influence.numel()
        ci95 = 1.96 * influence.std().item() / math.sqrt(n) if n > 1 else float("nan")
        return MetricResult(self, float(value), ci95, n)

    def not_applicable(self, why: str) -> "MetricResult":
        """A result that says why this metric has no value for the cell (never a zero)."""
        return MetricResult(self, float("nan"), float("nan"), 0, note=NotApplicable(why))


@dataclass(frozen=True)
class MetricResult:
    metric: Metric
    value: float
    ci95: float  # half-width of the 95% interval of the mean over test items; NaN when none
    n: int
    note: NotApplicable | None = None
    per_item: torch.Tensor | None = None  # values per test item, for the paired test of reports

    def as_row(self) -> dict:
        m = self.metric
        return {
            "metric": m.name,
            "family": m.family,
            "value": self.value,
            "ci95": self.ci95,
            "n": self.n,
            "higher_is_better": m.higher_is_better,
            "unit": m.unit,
            "detail": m.detail,
            "note": None if self.note is None else str(self.note),
            "test": m.test,
            "items": m.items_name,
        }
