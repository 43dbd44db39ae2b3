"""Whether a gap between two leaderboard rows is more than noise, and which rows could be the best.

Two noises move a leaderboard number: the test images and, larger, training (initial weights, batch order,
sample draws). A claim about *models* must survive the second, so it rests on seeds. The models of one seed
share that seed's training subset, test images and noise draws, so a comparison is paired by seed: the unit
of evidence is the per-seed mean difference d_s of two rows.

- the marks (:func:`moderated`): one table's claims (a headline metric on one dataset under one protocol:
  every pair of models in every noise × severity) are one family. Each pair × condition has its own spread
  of d_s over seeds, estimated with k − 1 degrees of freedom; with 3 seeds that estimate alone is too rough
  to claim anything (a t with 2 degrees of freedom). The family's spreads are pooled where the data support
  it: the empirical-Bayes moderated t of limma (Smyth 2004, *Stat. Appl. Genet. Mol. Biol.* 3:3) fits a
  scaled inverse-chi-square prior to the family's sample variances and shrinks each towards the prior in
  proportion to how alike they are (prior degrees of freedom d0: infinite when they agree, near 0 when they
  differ as much as chance allows, when each pair keeps its own). Each test is then a t with d0 + k − 1
  degrees of freedom on the mean difference, whose variance adds the test images' (the variance over images
  of the per-image differences averaged over seeds, / n): right when the seeds score the same images, a
  little conservative when each seed draws its own. Holm's step-down correction over the family's tests
  keeps the chance of any false mark in a table at 5% (closed, valid whatever their dependence). The rate is
  measured on real retraining in ``benchmarks/test_null_training.py``;
- one seed: only test-image noise can be measured (exact McNemar on per-image correctness, a paired t over
  images for other per-image values). Eight CNNs trained identically but for their initial weights were
  told apart by McNemar in a third of their pairs, so these tests are kept in the CSVs, labelled "test
  images only", and no report marks a row with them;
- one comparison outside a table (:func:`compare_items`, :func:`compare_seeds`: the verdict's gains, the
  ``_p_best`` column): the same t with its own k − 1 degrees of freedom.

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
    test: str = SEEDS_T

    @property
    def seeds(self) -> int:
        return len(self.diffs)


def trigamma_inverse(x: float) -> float:
    """y with trigamma(y) = x (Newton's method as limma's ``trigammaInverse``)."""
    from scipy.special import polygamma

    if x > 1e7:
        return 1 / math.sqrt(x)
    if x < 1e-6:
        return 1 / x
    y = 0.5 + 1 / x
    for _ in range(50):
        tri = float(polygamma(1, y))
        step = tri * (1 - tri / x) / float(polygamma(2, y))
        y += step
        if -step / y < 1e-8:
            break
    return y


def fit_prior(var: np.ndarray, df: np.ndarray) -> tuple[float, float]:
    """The scaled inverse-χ² prior of sample variances ``var`` (``df`` degrees of freedom each): limma's
    ``fitFDist`` moment estimates without a trend, (d0, prior variance). Where the variances agree as chance
    allows (limma's d0 = ∞) the prior is their pooled variance; d0 is never more than the degrees of freedom
    the prior is estimated from (limma pools over thousands of genes, a table over tens of pairs). Fewer
    than 2 variances: (0, NaN)."""
    from scipy.special import digamma, polygamma

    if len(var) < 2:
        return 0.0, math.nan
    m = float(np.median(var))
    floor = 1e-5 * (m if m > 0 else max(float(var.max()), 1e-300))
    e = np.log(np.maximum(var, floor)) - digamma(df / 2) + np.log(df / 2)
    spread = float(np.var(e, ddof=1)) - float(np.mean(polygamma(1, df / 2)))
    cap = float(np.sum(df))
    if spread > 0:
        fitted = 2 * trigamma_inverse(spread)
        if fitted < cap:
            return fitted, float(np.exp(e.mean() + digamma(fitted / 2) - np.log(fitted / 2)))
    return cap, float(np.sum(df * var) / np.sum(df))


def squeeze_var(var: np.ndarray, df: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Empirical-Bayes posterior variances of sample variances ``var`` with ``df`` degrees of freedom each
    (limma's ``squeezeVar``): each variance is shrunk towards a prior fitted on the *other* variances
    (:func:`fit_prior`, leave one out, so that a variance is not counted twice: where all agree, the
    posterior is exactly their pooled variance with its degrees of freedom). Returns the posterior
    variances, each one's prior degrees of freedom and the prior d0 of all of them (for the legend); with
    fewer than 3 variances nothing is pooled."""
    var, df = np.asarray(var, dtype=float), np.asarray(df, dtype=float)
    if len(var) < 3:
        return var, np.zeros_like(var)
    posterior, d0s = np.empty_like(var), np.empty_like(var)
    for i in range(len(var)):
        others = np.arange(len(var)) != i
        d0, prior = fit_prior(var[others], df[others])
        posterior[i] = (d0 * prior + df[i] * var[i]) / (d0 + df[i])
        d0s[i] = d0
    return posterior, d0s


@dataclass(frozen=True)
class Moderated:
    """What one family's moderated tests rest on: the prior's degrees of freedom (``inf``: one pooled
    variance), its variance, and how many pair × condition variances it was fitted on."""

    d0: float
    prior: float
    fitted: int
    pooled: bool = False  # the variances agree as chance allows: the prior is their pooled variance


def moderated(pairs: dict, *, name: str = "moderated t over seeds") -> tuple[dict, Moderated]:
    """The family's tests from its :class:`SeedDiffs` by key: a t on each pair's mean difference with the
    pair's seed variance moderated over the family (:func:`squeeze_var`; ``{key: Comparison}`` with the raw
    two-sided p-values, :func:`holm` for the family's) and the fitted prior. Pairs with fewer than
    :data:`MIN_SEEDS` seeds are not tested; pairs that differ by exactly nothing get p = 1."""
    tested = {key: d for key, d in pairs.items() if d is not None and d.seeds >= MIN_SEEDS}
    out: dict = {key: NO_TEST for key in pairs}
    if not tested:
        return out, Moderated(0.0, math.nan, 0)
    keys = list(tested)
    k = np.array([tested[key].seeds for key in keys], dtype=float)
    var = np.array([float(np.var(tested[key].diffs, ddof=1)) for key in keys])
    posterior, d0s = squeeze_var(var, k - 1)
    d0, prior = fit_prior(var, k - 1) if len(var) >= 3 else (0.0, math.nan)  # what the legend says of the table
    pooled = len(var) >= 3 and d0 >= float(np.sum(k - 1)) - 1e-9
    for key, kk, v, own_d0 in zip(keys, k, posterior, d0s):
        d = tested[key]
        mean = float(np.mean(d.diffs))
        total = float(v) / kk + d.image_var
        scale = max(1.0, float(np.abs(d.diffs).max(initial=0.0)))
        if total <= (1e-12 * scale) ** 2:
            p = 1.0 if abs(mean) <= 1e-12 * scale else sign_flip_floor(int(kk))
        else:
            t = abs(mean) / math.sqrt(total)
            p = float(2 * stats.t.sf(t, own_d0 + kk - 1))
        out[key] = Comparison(p, f"{name} ({int(kk)} seeds)", mean, int(kk))
    return out, Moderated(d0, prior, len(keys), pooled)


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


def detectable(d0: float, seeds: int, tests: int, power: float = 0.8) -> float:
    """The difference, in seed standard deviations of the per-seed difference, that a family of ``tests``
    tests marks with probability ``power`` at ``seeds`` seeds when the prior has ``d0`` degrees of freedom
    (Holm's first step, the strictest: α / tests; the normal approximation of the noncentral t)."""
    if seeds < MIN_SEEDS or tests < 1:
        return math.nan
    dof = d0 + seeds - 1
    crit = float(stats.t.isf(ALPHA / tests / 2, dof))
    return (crit + float(stats.norm.ppf(power))) / math.sqrt(seeds)


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
