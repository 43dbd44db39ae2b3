"""What a metric is (name, direction, unit) and what scoring one produces (value with an interval)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Metric:
    name: str
    family: str
    higher_is_better: bool
    unit: str
    summary: str
    detail: bool = False  # a breakdown (e.g. per severity): in the CSVs, not in the markdown tables

    def result(self, per_item: torch.Tensor) -> "MetricResult":
        """The mean of per-item values, with the 95% interval of the mean over the items."""
        values = torch.as_tensor(per_item).double().flatten()
        return self.estimate(values.mean().item(), values)

    def estimate(self, value: float, influence: torch.Tensor | None = None) -> "MetricResult":
        """``value`` with a normal 95% interval whose standard error is that of the mean of the
        per-item ``influence`` values (the item values themselves for a mean; their linearisation,
        the delta method, for a smooth function of means such as PSNR). No influence, no interval."""
        if influence is None:
            return MetricResult(self, float(value), float("nan"), 0)
        influence = torch.as_tensor(influence).double().flatten()
        n = influence.numel()
        ci95 = 1.96 * influence.std().item() / math.sqrt(n) if n > 1 else float("nan")
        return MetricResult(self, float(value), ci95, n)

    def not_applicable(self, why: str) -> "MetricResult":
        """A result that says why this metric has no value for the cell (never a zero)."""
        return MetricResult(self, float("nan"), float("nan"), 0, note=f"not applicable: {why}")


@dataclass(frozen=True)
class MetricResult:
    metric: Metric
    value: float
    ci95: float  # half-width of the 95% interval of the mean over test items; NaN when none
    n: int
    note: str | None = None

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
            "note": self.note,
        }
