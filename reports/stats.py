"""Statistics over seeds: mean, spread and 95% interval of a metric (the paired tests between rows are in
:mod:`reports.significance`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Summary:
    mean: float
    std: float  # sample standard deviation over seeds (NaN with one seed)
    low: float  # 95% interval of the mean
    high: float
    seeds: int


def summarise(values: np.ndarray, ci95_one_seed: float = float("nan")) -> Summary:
    """Mean over seeds with Student's t interval; with one seed the interval over test items
    (``ci95_one_seed``, a half-width) is the only one there is."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    k = len(values)
    if k == 0:
        return Summary(math.nan, math.nan, math.nan, math.nan, 0)
    mean = float(values.mean())
    if k == 1:
        half = float(ci95_one_seed)
        return Summary(mean, math.nan, mean - half, mean + half, 1)
    std = float(values.std(ddof=1))
    half = float(stats.t.ppf(0.975, k - 1) * std / math.sqrt(k))
    return Summary(mean, std, mean - half, mean + half, k)
