"""Statistics over seeds: mean, spread and 95% interval of a metric, and the paired test that says
whether a gap between two models is more than seed-to-seed noise."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

ALPHA = 0.05  # a gap is "supported" when the paired test over seeds gives p < ALPHA


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


def paired_p(a: dict[int, float], b: dict[int, float]) -> float:
    """p-value of the paired t-test of ``a`` against ``b`` over the seeds both have (seed → value);
    NaN with fewer than two common seeds. Identical pairs give 1; a constant non-zero gap gives 0."""
    seeds = sorted(s for s in set(a) & set(b) if not (math.isnan(a[s]) or math.isnan(b[s])))
    if len(seeds) < 2:
        return math.nan
    diffs = np.array([a[s] - b[s] for s in seeds])
    scale = max(1.0, float(np.abs([a[s] for s in seeds]).max()))
    if np.all(np.abs(diffs) <= 1e-12 * scale):
        return 1.0
    if np.ptp(diffs) <= 1e-12 * scale:  # a constant gap (up to rounding): the t statistic is unbounded
        return 0.0
    return float(stats.ttest_rel([a[s] for s in seeds], [b[s] for s in seeds]).pvalue)
