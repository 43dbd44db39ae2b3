"""Whether a gap between two leaderboard rows is more than noise: paired tests on the same test items.

Every model of a comparison is scored on the same test images, so one seed already allows a paired test:

- per-item correctness (``mcnemar``): the exact McNemar test, a binomial test on the images exactly one
  of the two gets right (statsmodels);
- other per-item values (``paired-t``: BCE, per-image MSE behind PSNR, SSIM, silhouette, likelihoods): a
  paired t-test on the per-image differences (scipy).

With several seeds the per-seed differences are combined by a random-effects meta-analysis (statsmodels'
``combine_effects`` with the Paule-Mandel estimate of tau²; its DerSimonian-Laird option does not
truncate a negative tau² at 0): each seed contributes its mean per-item difference with that
difference's variance over its test images, and the between-seed variance tau² is estimated from how
much more the seeds disagree than their test images explain; the combined difference is tested with a
normal z-test. When the seeds agree the test pools their
images (stronger than any one seed); when a gap comes and goes with the seed, tau² widens the interval
and the gap is not supported. A metric without per-item values is tested with a paired t-test over
seeds (two seeds at least), else not at all.

Holm's correction is applied over the rows of a table (:func:`holm`): testing many rows against the
best one would otherwise mark some gaps by chance alone.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats

ALPHA = 0.05
MCNEMAR, PAIRED_T, RANDOM_EFFECTS, SEEDS_T = ("McNemar exact", "paired t over images",
                                              "random effects over seeds", "paired t over seeds")


@dataclass(frozen=True)
class Comparison:
    """A paired test of row A against row B: its p-value (NaN: no test possible), the test's name, and
    the mean difference A − B on the tested values' scale (per-item correctness, MSE, ...)."""

    p: float
    test: str
    diff: float = math.nan

    @property
    def tested(self) -> bool:
        return not math.isnan(self.p)


NO_TEST = Comparison(math.nan, "")


def mcnemar_p(a: np.ndarray, b: np.ndarray) -> float:
    """Exact McNemar p-value of per-item correctness ``a`` against ``b`` (same items, same order):
    1 when no item is discordant."""
    from statsmodels.stats.contingency_tables import mcnemar

    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    if only_a + only_b == 0:
        return 1.0
    both, neither = int((a & b).sum()), int((~a & ~b).sum())
    return float(mcnemar([[both, only_a], [only_b, neither]], exact=True).pvalue)


def paired_t_p(a: np.ndarray, b: np.ndarray) -> float:
    """Paired t-test p-value over items; 1 for identical values, 0 for a constant non-zero gap."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    scale = max(1.0, float(np.abs(a).max(initial=0.0)))
    if np.all(np.abs(d) <= 1e-12 * scale):
        return 1.0
    if np.ptp(d) <= 1e-12 * scale:
        return 0.0
    return float(stats.ttest_rel(a, b).pvalue)


def _random_effects_p(diffs: np.ndarray, variances: np.ndarray) -> float:
    from statsmodels.stats.meta_analysis import combine_effects

    if np.all(diffs == 0):
        return 1.0
    # a seed on which the two rows differ identically on every item has no variance over items: floor it
    # at a negligible share of the gaps so the weights stay finite
    floor = (1e-9 * max(float(np.abs(diffs).max()), 1e-12)) ** 2
    with warnings.catch_warnings():  # statsmodels also computes the DL variant, which divides by zero here
        warnings.simplefilter("ignore", RuntimeWarning)
        result = combine_effects(diffs, np.maximum(variances, floor), method_re="iterated")
    z = float(result.mean_effect_re) / float(result.sd_eff_w_re)
    return float(2 * stats.norm.sf(abs(z)))


def compare_items(a: dict[int, np.ndarray], b: dict[int, np.ndarray], test: str) -> Comparison:
    """Row A against row B from their per-item values by seed (only seeds both have are used)."""
    seeds = sorted(s for s in set(a) & set(b) if len(a[s]) == len(b[s]) and len(a[s]) > 1)
    if not seeds:
        return NO_TEST
    diffs = np.array([float(np.mean(a[s].astype(float)) - np.mean(b[s].astype(float))) for s in seeds])
    if len(seeds) == 1:
        s = seeds[0]
        if test == "mcnemar":
            return Comparison(mcnemar_p(a[s], b[s]), MCNEMAR, diffs[0])
        return Comparison(paired_t_p(a[s], b[s]), PAIRED_T, diffs[0])
    variances = np.array([float(np.var(a[s].astype(float) - b[s].astype(float), ddof=1)) / len(a[s])
                          for s in seeds])
    name = f"{RANDOM_EFFECTS} ({len(seeds)}) of per-image {'McNemar pairs' if test == 'mcnemar' else 'differences'}"
    return Comparison(_random_effects_p(diffs, variances), name, float(diffs.mean()))


def compare_seeds(a: dict[int, float], b: dict[int, float]) -> Comparison:
    """Row A against row B from one value per seed: the paired t-test over seeds (two at least)."""
    seeds = sorted(s for s in set(a) & set(b) if not (math.isnan(a[s]) or math.isnan(b[s])))
    if len(seeds) < 2:
        return NO_TEST
    x, y = np.array([a[s] for s in seeds]), np.array([b[s] for s in seeds])
    return Comparison(paired_t_p(x, y), f"{SEEDS_T} ({len(seeds)})", float((x - y).mean()))


def holm(p_values: list[float]) -> list[float]:
    """Holm-adjusted p-values of a family of tests; NaNs (no test) are left out of the family and kept."""
    from statsmodels.stats.multitest import multipletests

    tested = [i for i, p in enumerate(p_values) if not math.isnan(p)]
    out = [math.nan] * len(p_values)
    if tested:
        adjusted = multipletests([p_values[i] for i in tested], alpha=ALPHA, method="holm")[1]
        for i, p in zip(tested, adjusted):
            out[i] = float(p)
    return out
