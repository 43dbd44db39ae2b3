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
        """Mean of per-item values with the half-width of its normal 95% interval over the items."""
        values = per_item.double().flatten()
        n = values.numel()
        mean = values.mean().item()
        ci95 = 1.96 * values.std().item() / math.sqrt(n) if n > 1 else float("nan")
        return MetricResult(self, mean, ci95, n)


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
