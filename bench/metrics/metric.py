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

    def result(self, per_item: torch.Tensor) -> "MetricResult":
        """The mean of per-item values, with the 95% interval of the mean over the items."""
        values = per_item.double().flatten()
        return self.estimate(values.mean().item(), values)

    def estimate(self, value: float, influence: torch.Tensor) -> "MetricResult":
        """``value`` with a normal 95% interval whose standard error is that of the mean of the
        per-item ``influence`` values (the item values themselves for a mean; their linearisation,
        the delta method, for a smooth function of means such as PSNR)."""
        influence = influence.double().flatten()
        n = influence.numel()
        ci95 = 1.96 * influence.std().item() / math.sqrt(n) if n > 1 else float("nan")
        return MetricResult(self, value, ci95, n)


@dataclass(frozen=True)
class MetricResult:
    metric: Metric
    value: float
    ci95: float  # half-width of the 95% interval of the mean over test items
    n: int

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
        }
