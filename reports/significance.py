"""Whether a gap between two leaderboard rows is more than noise, and which rows could be the best.

Two noises move a leaderboard number: the test images (every model is scored on the same ones) and,
larger, training (initial weights, batch order, sample draws). A claim about *models* must survive the
second, so it rests on seeds:

- several seeds (:func:`compare_items`): the per-seed mean differences d_s of the two rows are tested by a
  t over seeds with k − 1 degrees of freedom, whose variance adds the spread of the per-image differences
  averaged over seeds (var over images / n): the seeds score the same test images, so a persistent
  model × image effect is a second, shared source that a t over seeds alone would miss. Simulated with
  equal models, persistent model × image effects and 3 seeds on shared images, its false-positive rate
  stays at the nominal 5% (tests/test_null_calibration.py); the random-effects z-test on 2-3 seeds that
  bench used before gave 12-14%;
- one seed: only test-image noise can be measured (exact McNemar on per-image correctness, a paired t over
  images for other per-image values). Eight CNNs trained identically but for their initial weights were
  told apart by McNemar in a third of their pairs, so these tests are kept in the CSVs, labelled "test
  images only", and no report marks a row with them;
- a metric without per-item values: a paired t over seeds (two at least), else no test.

Which rows could be the best (:func:`possibly_best`): a row is left out of the set of possibly-best rows
only when some other row beats it with support after Bonferroni's correction over every pair of rows and
every group of the correction family. Under the null that every row is equally good, the chance that any
row of the family is left out is at most 5% whatever the number of rows; bold marks a row only when it is
the set's only member.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

ALPHA = 0.05
MCNEMAR, PAIRED_T, SEEDS_IMAGES_T, SEEDS_T = ("McNemar exact, test images only", "paired t over images, test images only",
                                             "t over seeds and images", "paired t over seeds")
#: Seeds a claim about models needs: with fewer, a report says what is missing instead of claiming.
MIN_SEEDS = 2


@dataclass(frozen=True)
class Comparison:
    """A paired test of row A against row B: its p-value (NaN: no test possible), the test's name, and
    the mean difference A − B on the tested values' scale (per-item correctness, MSE, ...)."""

    p: float
    test: str
    diff: float = math.nan
    seeds: int = 0  # seeds behind the test: with fewer than MIN_SEEDS it speaks of test images only

    @property
    def tested(self) -> bool:
        return not math.isnan(self.p)

    @property
    def about_models(self) -> bool:
        """Whether the test includes training noise (several seeds), so that a report may claim with it."""
        return self.tested and self.seeds >= MIN_SEEDS


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


def seeds_images_t(per_seed: np.ndarray) -> tuple[float, float, float]:
    """The mean difference, its standard error and the p-value of per-item differences of two rows,
    ``per_seed`` seeds × items (the same items on every seed): a t over seeds with k − 1 degrees of freedom
    whose variance is the seeds' (var of the per-seed means / k) plus the images' (var over images of the
    per-image differences averaged over seeds / n)."""
    k, n = per_seed.shape
    by_seed = per_seed.mean(axis=1)
    mean = float(by_seed.mean())
    var = float(np.var(by_seed, ddof=1)) / k + float(np.var(per_seed.mean(axis=0), ddof=1)) / n
    scale = max(1.0, float(np.abs(per_seed).max(initial=0.0)))
    if var <= (1e-12 * scale) ** 2:
        return mean, 0.0, 1.0 if abs(mean) <= 1e-12 * scale else 0.0
    se = math.sqrt(var)
    return mean, se, float(2 * stats.t.sf(abs(mean) / se, k - 1))


def compare_items(a: dict[int, np.ndarray], b: dict[int, np.ndarray], test: str) -> Comparison:
    """Row A against row B from their per-item values by seed (only seeds both have are used)."""
    seeds = sorted(s for s in set(a) & set(b) if len(a[s]) == len(b[s]) and len(a[s]) > 1)
    if not seeds:
        return NO_TEST
    if len(seeds) == 1:
        s = seeds[0]
        diff = float(np.mean(a[s].astype(float)) - np.mean(b[s].astype(float)))
        if test == "mcnemar":
            return Comparison(mcnemar_p(a[s], b[s]), MCNEMAR, diff, 1)
        return Comparison(paired_t_p(a[s], b[s]), PAIRED_T, diff, 1)
    per_seed = np.stack([a[s].astype(float) - b[s].astype(float) for s in seeds])
    diff, _, p = seeds_images_t(per_seed)
    return Comparison(p, f"{SEEDS_IMAGES_T} ({len(seeds)} seeds)", diff, len(seeds))


def compare_seeds(a: dict[int, float], b: dict[int, float]) -> Comparison:
    """Row A against row B from one value per seed: the paired t-test over seeds (two at least)."""
    seeds = sorted(s for s in set(a) & set(b) if not (math.isnan(a[s]) or math.isnan(b[s])))
    if len(seeds) < 2:
        return NO_TEST
    x, y = np.array([a[s] for s in seeds]), np.array([b[s] for s in seeds])
    return Comparison(paired_t_p(x, y), f"{SEEDS_T} ({len(seeds)})", float((x - y).mean()), len(seeds))


def possibly_best(rows: list, better: dict[tuple, Comparison], family_groups: int = 1) -> tuple[set, dict]:
    """The rows that could be the best of one group, and per row the adjusted p-value of the strongest
    evidence that another row beats it. ``better[(j, i)]`` is a test of row j against row i whose ``diff``
    is positive when j is the better row (oriented by the caller). A row is left out when some row beats
    it with p · pairs · ``family_groups`` < 0.05 (Bonferroni over every pair of the group and every group
    of the family); only tests that include training noise (:attr:`Comparison.about_models`) count."""
    pairs = max(1, len(rows) * (len(rows) - 1) // 2)
    factor = pairs * max(1, family_groups)
    adjusted: dict = {}
    for i in rows:
        ps = [min(1.0, c.p * factor) for (j, k), c in better.items()
              if k == i and j != i and c.about_models and c.diff > 0]
        tested = any(c.about_models for (j, k), c in better.items() if i in (j, k))
        adjusted[i] = min(ps) if ps else (1.0 if tested else math.nan)
    keep = {i for i in rows if not (adjusted[i] < ALPHA)}
    return keep, adjusted


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
