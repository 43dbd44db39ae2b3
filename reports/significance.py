"""Whether a gap between two leaderboard rows is more than noise, and which rows could be the best.

Two noises move a leaderboard number: the test images and, larger, training (initial weights, batch order,
sample draws). A claim about *models* must survive the second, so it rests on seeds. The models of one seed
share that seed's training subset, test images and noise draws, so a comparison is paired by seed: the unit
of evidence is the per-seed mean difference d_s of two rows.

- the marks (:func:`mixed_t`): a condition's per-seed values follow a two-way layout, models × seeds: a
  seed effect shared by the models of a seed (it cancels in every difference) and a model × seed effect,
  training noise. Its variance is pooled over the condition's models (:func:`pooled_over_models`: the
  two-way residual, (models − 1)(k − 1) degrees of freedom: 6 with 4 models and 3 seeds, where a t over
  one pair's k differences has 2), and the mean difference's variance adds the test images' (the variance
  over images of the per-image differences averaged over seeds, / n): right when the seeds score the same
  images, a little conservative when each seed draws its own. It is not pooled over conditions: a model
  trained once per seed is scored under every noise and severity, so its conditions are one training
  draw, and pooled over them two copies of one model were told apart in 7 of 40 real replicates. One
  table's claims (a headline metric on one dataset under one protocol: every pair of models in every
  noise × severity) are one family, Holm-corrected (closed, valid whatever their dependence), so that a
  table makes a false mark in at most 5% of runs; measured on real retraining in
  ``benchmarks/test_null_training.py``;
- one seed: only test-image noise can be measured (exact McNemar on per-image correctness, a paired t over
  images for other per-image values). Eight CNNs trained identically but for their initial weights were
  told apart by McNemar in a third of their pairs, so these tests are kept in the CSVs, labelled "test
  images only", and no report marks a row with them;
- one comparison outside a table (:func:`compare_items`, :func:`compare_seeds`: the verdict's gains, the
  ``_p_best`` column): a t over that pair's k seeds, k − 1 degrees of freedom.

Which rows could be the best (:func:`possibly_best`): a row is left out of the set of possibly-best rows
only when some other row beats it with a Holm-adjusted p < 0.05; bold marks a row only when it is the set's
only member.
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


def sign_flip_floor(n: int) -> float:
    """The p-value of a constant non-zero gap over ``n`` paired items: a t is infinite there, so the
    distribution-free answer, the smallest two-sided p of a sign-flip test (2 / 2^n), is given instead."""
    return float(2.0 ** (1 - n)) if n < 1075 else 0.0


def paired_t_p(a: np.ndarray, b: np.ndarray) -> float:
    """Paired t-test p-value over items; 1 for identical values, :func:`sign_flip_floor` for a constant
    non-zero gap."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    scale = max(1.0, float(np.abs(a).max(initial=0.0)))
    if np.all(np.abs(d) <= 1e-12 * scale):
        return 1.0
    if np.ptp(d) <= 1e-12 * scale:
        return sign_flip_floor(len(d))
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
        return mean, 0.0, 1.0 if abs(mean) <= 1e-12 * scale else sign_flip_floor(k)
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


@dataclass(frozen=True)
class SeedDiffs:
    """The evidence of one pair of rows in one condition: per seed the mean difference A − B on the tested
    scale (per-image MSE for PSNR, correctness for an accuracy, else the metric), and the test images' share
    of the variance of their mean (0 without per-item values)."""

    diffs: np.ndarray
    image_var: float = 0.0
    on_items: bool = False  # from per-item values (their scale), else from the metric's per-seed values

    @property
    def seeds(self) -> int:
        return len(self.diffs)


@dataclass(frozen=True)
class Pooled:
    """One condition's seed variance, pooled over its models: the residual variance of the two-way layout
    models × seeds (a seed effect shared by the models of a seed, a model × seed effect of variance
    ``var``), with its degrees of freedom (models − 1)(seeds − 1); 0 degrees of freedom: nothing pooled."""

    var: float
    df: int
    on_items: bool = False  # the scale it is on, as :attr:`SeedDiffs.on_items`


def pooled_over_models(by_model: np.ndarray, on_items: bool = False) -> Pooled:
    """The :class:`Pooled` seed variance of per-seed values ``by_model`` (models × seeds, on the tested
    scale, each row oriented alike; a row may be each model's difference to one reference model, whose
    per-seed values the seed effect absorbs)."""
    m, k = by_model.shape
    df = (m - 1) * (k - 1)
    if df < 1:
        return Pooled(math.nan, 0, on_items)
    r = by_model - by_model.mean(axis=1, keepdims=True) - by_model.mean(axis=0, keepdims=True) + by_model.mean()
    return Pooled(float(np.sum(r**2)) / df, df, on_items)


def mixed_t(d: SeedDiffs, pooled: Pooled | None, name: str = "t over seeds, models pooled") -> Comparison:
    """Row A against row B from their per-seed differences ``d``: a t on the mean difference whose variance
    is the condition's pooled model × seed variance times 2 / k (both rows' share; :func:`pooled_over_models`,
    (models − 1)(k − 1) degrees of freedom) plus the test images'; without a pooled variance, the pair's own
    seed variance with k − 1 degrees of freedom (also when the pooled variance is on another scale). Fewer
    than :data:`MIN_SEEDS` seeds: no test."""
    k = d.seeds
    if k < MIN_SEEDS:
        return NO_TEST
    mean = float(np.mean(d.diffs))
    if pooled is not None and pooled.df >= 1 and not math.isnan(pooled.var) and pooled.on_items == d.on_items:
        seed_var, df = 2 * pooled.var / k, pooled.df
    else:
        seed_var, df = float(np.var(d.diffs, ddof=1)) / k, k - 1
    total = seed_var + d.image_var
    scale = max(1.0, float(np.abs(d.diffs).max(initial=0.0)))
    if total <= (1e-12 * scale) ** 2:
        return Comparison(1.0 if abs(mean) <= 1e-12 * scale else sign_flip_floor(k), f"{name} ({k} seeds)", mean, k)
    p = float(2 * stats.t.sf(abs(mean) / math.sqrt(total), df))
    return Comparison(p, f"{name} ({k} seeds, {df} df)", mean, k)


def possibly_best(rows: list, better: dict[tuple, Comparison]) -> tuple[set, dict]:
    """The rows that could be the best of one group, and per row the adjusted p-value of the strongest
    evidence that another row beats it. ``better[(j, i)]`` is a test of row j against row i whose ``diff``
    is positive when j is the better row (oriented by the caller) and whose ``p`` is already adjusted for
    the family (:func:`holm`). A row is left out when some row beats it with p < 0.05; only tests that
    include training noise (:attr:`Comparison.about_models`) count."""
    adjusted: dict = {}
    for i in rows:
        ps = [c.p for (j, k), c in better.items() if k == i and j != i and c.about_models and c.diff > 0]
        tested = any(c.about_models for (j, k), c in better.items() if i in (j, k))
        adjusted[i] = min(ps) if ps else (1.0 if tested else math.nan)
    keep = {i for i in rows if not (adjusted[i] < ALPHA)}
    return keep, adjusted


def detectable(df: int, seeds: int, tests: int, power: float = 0.8) -> float:
    """The difference, in seed standard deviations of the per-seed difference, that a family of ``tests``
    tests with ``df`` degrees of freedom each marks with probability ``power`` at ``seeds`` seeds (Holm's
    first step, the strictest: α / tests; the normal approximation of the noncentral t)."""
    if seeds < MIN_SEEDS or tests < 1 or df < 1:
        return math.nan
    crit = float(stats.t.isf(ALPHA / tests / 2, df))
    return (crit + float(stats.norm.ppf(power))) / math.sqrt(seeds)


def holm(p_values: list[float]) -> list[float]:
    """Holm-adjusted p-values of a family of tests; NaNs (no test) are left out of the family and kept.
    (statsmodels' ``multipletests`` gives the same values, checked in tests/test_significance.py, but runs a
    full garbage collection on every call, 55 ms: a report calls this once per family.)"""
    tested = [i for i, p in enumerate(p_values) if not math.isnan(p)]
    out = [math.nan] * len(p_values)
    if tested:
        ps = np.array([p_values[i] for i in tested], dtype=float)
        order = np.argsort(ps, kind="stable")
        stepped = np.maximum.accumulate(ps[order] * (len(ps) - np.arange(len(ps))))
        adjusted = np.empty_like(ps)
        adjusted[order] = np.minimum(stepped, 1.0)
        for i, p in zip(tested, adjusted):
            out[i] = float(p)
    return out
