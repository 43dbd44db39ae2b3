"""One ranking across conditions: per metric family (its headline metric) and overall, over every
dataset × noise × severity × training-set size a store holds, within one protocol (profile, CNN budget,
precision).

A *block* is one condition (and, overall, one family's headline metric in it); only blocks where every
ranked model has a value count, so each model is ranked on the same blocks. Per model:

- ``mean_rank`` (1 is best, ties share the average rank), the ``borda`` count (per block, how many models
  rank below it, summed: MTEB's aggregate) and the ``mean_win_rate`` (per block the share of the other
  models it beats, a tie a half: HELM's); with every model in every block the three order the models alike;
- ``rank_low``/``rank_high``: the 95% bootstrap interval of its position. Each replicate draws the test
  images again (one draw per dataset, shared by every model and condition, so comparisons stay paired)
  and the seeds again, recomputes every block's values from the per-image values the store keeps, and
  ranks again. A position whose interval overlaps the one above is marked: test-set noise could swap them;
- the Friedman test over the blocks (scipy) and the Nemenyi post-hoc test with its critical-difference
  diagram (scikit-posthocs): models joined by a bar are not separated.

The blocks are not independent samples (conditions share test images, and a model that does not see noise
is one trained model under every noise), so the Friedman and Nemenyi p-values are optimistic; the bootstrap
intervals carry the test-image and seed noise that the ranking has.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from registry import BASELINE

from .leaderboard import ROW, Evidence, Table, headlines
from .significance import ALPHA, MIN_SEEDS, holm

PROTOCOL = ["profile", "cnn_budget", "precision"]
CONDITION = ["dataset", "noise", "severity", "train_size"]
OVERALL = "overall"
REPLICATES = 1000
#: The fewest seeds the rank interval resamples; with fewer it is over test images only.
SEEDS_TO_RESAMPLE = 5
SEED = 0


@dataclass
class Ranking:
    """The ranking of one family (or ``overall``) under one protocol."""

    protocol: tuple
    family: str
    metrics: list[str]
    blocks: int
    frame: pd.DataFrame  # one row per model, best first
    resampled: bool  # whether any block had per-image values to bootstrap (else no rank interval)
    friedman_p: float = math.nan
    nemenyi: pd.DataFrame | None = None  # p-values, models × models
    conditions: dict[str, list] = field(default_factory=dict)  # what the blocks span
    seeds: int = 0  # seeds every block has (the ≈ marks need two)
    rankings: int = 1  # the rankings of the protocol, the positions' Bonferroni family


def _block_values(board: pd.DataFrame, metrics: list[str], models: list[str]) -> pd.DataFrame:
    """Blocks × models: each metric's value oriented so that higher is better, complete blocks only."""
    frames = []
    for metric, higher in metrics:
        wide = board.pivot_table(index=CONDITION, columns="model", values=metric, aggfunc="mean")
        wide = wide.reindex(columns=models)
        wide = wide if higher else -wide
        wide.index = pd.MultiIndex.from_tuples([(*i, metric) for i in wide.index], names=[*CONDITION, "metric"])
        frames.append(wide)
    if not frames:
        return pd.DataFrame(columns=models)
    blocks = pd.concat(frames).dropna(how="any")
    # a block that repeats another's values exactly (a plain model's clean-input metric under every noise and
    # severity) is one observation, not several: keep its first occurrence
    return blocks[~blocks.round(12).duplicated(keep="first")]


def _seed_values(evidence: Evidence, blocks: pd.DataFrame, where: pd.DataFrame,
                 higher: dict[str, bool]) -> np.ndarray | None:
    """Seeds × blocks × models: each block's value on each seed (oriented so that higher is better), on the
    seeds every block and model has; None with fewer than two such seeds."""
    models = list(blocks.columns)
    per = [[evidence.values.get((*where.iloc[b][ROW[:-1]], model, index[-1]), {}) for model in models]
           for b, index in enumerate(blocks.index)]
    seeds = sorted(set.intersection(*(set(v) for row in per for v in row))) if per else []
    if len(seeds) < MIN_SEEDS:
        return None
    sign = np.array([1.0 if higher.get(index[-1], True) else -1.0 for index in blocks.index])
    out = np.array([[[row[m][s] for m in range(len(models))] for row in per] for s in seeds], dtype=float)
    return out * sign[None, :, None]




def sign_flip_p(d: np.ndarray) -> float:
    """Exact two-sided p-value of the mean of per-seed differences ``d`` under the null that each seed's
    difference is as likely negative as positive (every sign flip of the seeds): valid for discrete
    statistics such as ranks, where a t-test is not; its smallest value is 2 / 2^k with k seeds."""
    k = len(d)
    if k == 0 or np.all(d == 0):
        return 1.0
    if k <= 16:  # every sign flip
        signs = np.array(np.meshgrid(*[[-1.0, 1.0]] * k)).reshape(k, -1).T
    else:  # a fixed random sample of them (the p-value is then Monte Carlo, with the observed signs counted)
        signs = np.vstack([np.ones(k), np.random.default_rng(SEED).choice([-1.0, 1.0], size=(99_999, k))])
    observed = abs(float(d.mean()))
    return float(np.mean(np.abs(signs @ d / k) >= observed - 1e-12))


def seeds_to_separate(comparisons: int) -> int:
    """The fewest seeds whose sign-flip test can separate a position among ``comparisons`` (its smallest
    p-value, 2 / 2^seeds, times the comparisons, below 0.05)."""
    return int(math.floor(1 + math.log2(max(1, comparisons) / ALPHA))) + 1


def _separated_from_above(order: list[int], per_seed: np.ndarray | None, rankings: int) -> list[bool]:
    """For each position of ``order`` (model indices, best first), whether its model is behind the one above
    with support: per seed the mean rank of each model over the blocks, an exact sign-flip test over seeds of
    the two models' difference (ranks are discrete: a t over 3 seeds told real twins apart in 3 of 40
    replicates), Holm over the ranking's positions and Bonferroni over the ``rankings`` of the protocol.
    Without two seeds nothing is separated."""
    out = [False]
    if per_seed is None:
        return out + [False] * (len(order) - 1)
    ranks = _ranks(per_seed).mean(axis=1)  # seeds × models
    diffs = [ranks[:, here] - ranks[:, above] for above, here in zip(order, order[1:])]
    adjusted = holm([sign_flip_p(d) for d in diffs])
    return out + [bool(d.mean() > 0 and min(1.0, p * max(1, rankings)) < ALPHA) for d, p in zip(diffs, adjusted)]


def _ranks(values: np.ndarray) -> np.ndarray:
    """Rank of each model in each block (row), 1 is best (highest), ties averaged."""
    from scipy.stats import rankdata

    return rankdata(-values, axis=-1, method="average")


def _scores(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean rank, Borda count and mean win rate per model from blocks × models values (higher better)."""
    n = values.shape[1]
    ranks = _ranks(values)
    borda = (n - ranks).sum(axis=0)
    beats = (values[:, :, None] > values[:, None, :]).sum(axis=2) + 0.5 * (
        (values[:, :, None] == values[:, None, :]).sum(axis=2) - 1)
    return ranks.mean(axis=0), borda, (beats / max(n - 1, 1)).mean(axis=0)


def _position(mean_ranks: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(mean_ranks, axis=-1, method="min")


class _Bootstrap:
    """Replicates of every block's values from the per-image values: ``draw`` returns, per replicate, the
    blocks × models matrix (higher better)."""

    def __init__(self, evidence: Evidence, meta: pd.DataFrame, replicates: int):
        self.evidence, self.replicates = evidence, replicates
        self.meta = meta.set_index("metric")
        self.rng = np.random.default_rng(SEED)
        self.weights: dict[tuple[str, int], np.ndarray] = {}  # (dataset, items) -> replicates × items, mean 1
        self.seed_draws: dict[int, np.ndarray] = {}

    def _weights(self, dataset: str, n: int) -> np.ndarray:
        if (dataset, n) not in self.weights:
            counts = self.rng.multinomial(n, np.full(n, 1.0 / n), size=self.replicates)
            self.weights[(dataset, n)] = counts.astype(np.float32) / n
        return self.weights[(dataset, n)]

    def _seeds(self, k: int) -> np.ndarray:
        """Which seeds each replicate averages: drawn with replacement from :data:`SEEDS_TO_RESAMPLE` seeds on,
        else every seed (a bootstrap of 2-4 seeds has too few distinct draws and shrinks their spread)."""
        if k not in self.seed_draws:
            self.seed_draws[k] = (self.rng.integers(0, k, size=(self.replicates, k)) if k >= SEEDS_TO_RESAMPLE
                                  else np.tile(np.arange(k), (self.replicates, 1)))
        return self.seed_draws[k]

    def _direction(self, metric: str) -> tuple[str | None, bool]:
        """The per-image vector behind ``metric`` and whether its mean is higher-is-better (PSNR's is the
        per-image MSE: lower is better)."""
        if metric not in self.meta.index or not isinstance(self.meta.at[metric, "items"], str):
            return None, True
        name = str(self.meta.at[metric, "items"])
        owner = name if name in self.meta.index else metric
        return name, bool(self.meta.at[owner, "higher_is_better"])

    def replicate_values(self, blocks: pd.DataFrame, where: pd.DataFrame) -> np.ndarray:
        """Replicates × blocks × models. ``where``: per block the protocol columns of its rows. Within a
        block every model's value is the mean of its per-image vector (PSNR's: the MSE, negated), so the
        values compare within the block only, as ranks need."""
        out = np.repeat(blocks.to_numpy(float)[None], self.replicates, axis=0)
        self.resampled = 0  # blocks whose values were redrawn
        models = list(blocks.columns)
        for b, index in enumerate(blocks.index):
            *condition, metric = index
            name, higher = self._direction(metric)
            if name is None:
                continue
            found = [self.evidence.vectors((*where.iloc[b][ROW[:-1]], model), name) for model in models]
            if not all(found):  # a model without per-image values (an old store): the block keeps its values
                continue
            for m, vectors in enumerate(found):
                seeds = sorted(vectors)
                per_seed = np.stack([self._weights(condition[0], len(vectors[s].values))
                                     @ vectors[s].values.astype(np.float32) for s in seeds], axis=1)
                draw = self._seeds(len(seeds))
                means = np.take_along_axis(per_seed, draw, axis=1).mean(axis=1)
                out[:, b, m] = means if higher else -means
            self.resampled += 1
        return out


def rankings(board: pd.DataFrame, results: pd.DataFrame, items: dict | None, *,
             replicates: int = REPLICATES, evidence: Evidence | None = None) -> list[Ranking]:
    """Every family's ranking and the overall one, per protocol (``evidence``: the report's, else built here)."""
    if board.empty:
        return []
    evidence = evidence or Evidence.of(results, items)
    meta = evidence.metrics
    direction = dict(zip(meta["metric"], meta["higher_is_better"].astype(bool)))
    out = []
    for protocol, rows in board.groupby(PROTOCOL, sort=True, dropna=False):
        families = []
        for family, metric in headlines(meta).items():
            if metric not in rows or rows[metric].isna().all():
                continue
            models = sorted(rows.loc[rows[metric].notna(), "model"].unique())
            families.append((family, [(metric, direction.get(metric, True))], models))
        # overall: the models of the family that ranks the most of them, on every family that has them
        # all (the likelihood and generative families rank only the VAEs: they join only when every model is one)
        widest = max((set(m) - {BASELINE} for f, ms, m in families), key=len, default=set())
        common = sorted(widest)
        if len(common) >= 2:
            over = [(ms[0][0], ms[0][1]) for f, ms, m in families if set(common) <= set(m)]
            families.insert(0, (OVERALL, over, common))
        for family, metrics, models in families:
            ranking = _rank(tuple(protocol), family, metrics, models, rows, evidence, meta, replicates,
                            comparisons=len(families))
            if ranking is not None:
                out.append(ranking)
    return out


def _rank(protocol: tuple, family: str, metrics: list[tuple[str, bool]], models: list[str], rows: pd.DataFrame,
          evidence: Evidence, meta: pd.DataFrame, replicates: int, comparisons: int = 1) -> Ranking | None:
    """The ranking of ``models`` on the complete blocks of ``metrics`` (name, higher is better) in ``rows``."""
    if len(models) < 2:
        return None
    blocks = _block_values(rows, metrics, models)
    if blocks.empty:
        return None
    values = blocks.to_numpy(float)
    mean_rank, borda, win = _scores(values)
    where = pd.DataFrame([dict(zip(CONDITION, idx[:-1])) for idx in blocks.index])
    for c, v in zip(PROTOCOL, protocol):
        where[c] = v
    bootstrap = _Bootstrap(evidence, meta, replicates)
    boot = bootstrap.replicate_values(blocks, where)
    positions = _position(_ranks(boot).mean(axis=1))  # replicates × models
    low, high = np.percentile(positions, [2.5, 97.5], axis=0)
    if not bootstrap.resampled:  # no per-image values behind any block (FID): no interval rather than a false one
        low, high = np.full(len(models), np.nan), np.full(len(models), np.nan)
    frame = pd.DataFrame({"model": models, "mean_rank": mean_rank, "borda": borda, "mean_win_rate": win,
                          "rank_low": pd.array(np.floor(low), dtype="Int64"),
                          "rank_high": pd.array(np.ceil(high), dtype="Int64")})
    frame = frame.sort_values(["mean_rank", "model"]).reset_index(drop=True)
    frame.insert(1, "rank", _position(frame["mean_rank"].to_numpy()))
    per_seed = _seed_values(evidence, blocks, where, dict(metrics))
    order = [models.index(m) for m in frame["model"]]
    separated = _separated_from_above(order, per_seed, comparisons)
    frame["could_swap_with_above"] = [not s for s in separated]
    frame.loc[0, "could_swap_with_above"] = False
    ranking_resampled = bool(bootstrap.resampled)
    ranking = Ranking(protocol, family, [m for m, _ in metrics], len(blocks), frame, ranking_resampled,
                      conditions={c: sorted(where[c].unique().tolist()) for c in CONDITION},
                      seeds=0 if per_seed is None else len(per_seed), rankings=comparisons)
    datasets = where["dataset"].unique()
    if len(models) >= 3 and len(datasets) >= 2:
        # the independent units are the datasets (different test images, different trained models): one
        # block per dataset, the models' mean ranks over its conditions
        import scikit_posthocs as sp
        from scipy.stats import friedmanchisquare

        ranks = pd.DataFrame(_ranks(values), columns=models).groupby(where["dataset"].to_numpy()).mean()
        per_dataset = -ranks.to_numpy()
        if np.ptp(per_dataset, axis=1).any():
            ranking.friedman_p = float(friedmanchisquare(*per_dataset.T).pvalue)
            ranking.nemenyi = sp.posthoc_nemenyi_friedman(pd.DataFrame(per_dataset, columns=models))
    return ranking


def ranking_frame(found: list[Ranking]) -> pd.DataFrame:
    """``ranking.csv``: one row per protocol × family × model."""
    rows = []
    for r in found:
        for _, row in r.frame.iterrows():
            rows.append({**dict(zip(PROTOCOL, r.protocol)), "family": r.family, "metrics": ",".join(r.metrics),
                         "blocks": r.blocks, **row.to_dict(), "friedman_p": r.friedman_p,
                         "not_separated_from": ",".join(_not_separated(r, row["model"]))})
    return pd.DataFrame(rows)


def _not_separated(r: Ranking, model: str) -> list[str]:
    if r.nemenyi is None:
        return []
    p = r.nemenyi.loc[model]
    return sorted(m for m in p.index if m != model and p[m] >= 0.05)


def _title(r: Ranking) -> str:
    profile, budget, precision = r.protocol
    what = "overall" if r.family == OVERALL else f"{r.family} ({r.metrics[0]})"
    c = r.conditions
    span = (f"{r.blocks} blocks: {len(c['dataset'])} dataset(s) × {len(c['noise'])} noise(s) × "
            f"{len(c['severity'])} severit{'y' if len(c['severity']) == 1 else 'ies'} × "
            f"{len(c['train_size'])} training-set size(s)" + (f" × {len(r.metrics)} metrics ({', '.join(r.metrics)})"
                                                              if r.family == OVERALL else ""))
    protocol = {"steps": "CNN compute-matched", "epochs": "CNN equal epochs", "converged": "CNN converged"}.get(
        budget, f"CNN {budget}") + (f", {precision}" if precision != "fp32" else "")
    # the default protocol goes unsaid: it is a coordinate of the families that train CNNs, named in their tables
    shown = "" if (budget, precision) == ("converged", "fp32") else f" · {protocol}"
    return f"Ranking · {what} · {profile}{shown} · {span}"


def ranking_tables(found: list[Ranking]) -> list[Table]:
    tables = []
    for r in found:
        rows = []
        top_supported = len(r.frame) > 1 and not bool(r.frame.loc[1, "could_swap_with_above"])
        for i, row in r.frame.iterrows():
            mark = "tied" if row["could_swap_with_above"] else "best" if i == 0 and top_supported else ""
            rows.append([(str(row["rank"]), mark), (row["model"], ""),
                         (f"[{row['rank_low']}, {row['rank_high']}]" if r.resampled else "no per-image values", ""),
                         (f"{row['mean_rank']:.2f}", ""),
                         (f"{row['mean_win_rate']:.2f}", ""), (f"{row['borda']:g}", ""),
                         (", ".join(_not_separated(r, row["model"])) or ("-" if r.nemenyi is not None else "no test"),
                          "")])
        datasets = len(r.conditions.get("dataset", []))
        notes = [f"Friedman p = {r.friedman_p:.2g} over {datasets} datasets (one block per dataset: the "
                 "independent units)" if not math.isnan(r.friedman_p)
                 else f"no Friedman test: it needs independent blocks, one per dataset, of 3 models or more, and "
                      f"this ranking has {datasets} dataset{'s' * (datasets != 1)} ({r.blocks} conditions that share "
                      "test images and trained models); read the positions' ≈ marks and the bootstrap intervals"]
        if r.seeds < MIN_SEEDS:
            notes.append("one seed: every position is marked ≈, because training noise (initial weights, batch "
                         "order) is not measured; the bootstrap interval is over test images only")
        needed = seeds_to_separate((len(r.frame) - 1) * r.rankings)
        if MIN_SEEDS <= r.seeds < needed:
            notes.append(f"positions are separated by an exact sign-flip test over seeds, which among this "
                         f"protocol's {r.rankings} rankings of {len(r.frame)} models needs {needed} seeds "
                         f"(--seeds {needed}); this ranking has {r.seeds}, so every position is ≈")
        if MIN_SEEDS <= r.seeds < SEEDS_TO_RESAMPLE and r.resampled:
            notes.append(f"{r.seeds} seeds: the bootstrap interval is over test images only (seeds are resampled "
                         f"from {SEEDS_TO_RESAMPLE} on); training noise is in the ≈ marks")
        tables.append(Table(_title(r), ["rank", "model", "95% bootstrap rank", "mean rank", "mean win rate",
                                        "Borda", "not separated by Nemenyi from"], rows, notes))
    return tables


RANKING_LEGEND = ("Ranked on each family's headline metric over every dataset × noise × severity × training-set "
                  "size of the store (a block per condition; overall: per condition and family; a block that "
                  "repeats another's values, a plain model's clean-input metric under every noise, counts once). "
                  "Mean rank, mean win rate (HELM) and Borda count (MTEB) order the models alike when every model "
                  "is in every block. ≈ marks a position not separated from the one above: separated means that "
                  "the model's mean rank, computed per seed, is worse than the one above's by an exact sign-flip "
                  "test over seeds (ranks are discrete, so a t-test would not hold; Holm over the ranking's "
                  "positions, Bonferroni over the rankings of the protocol): its smallest p-value is 2 / 2^seeds, so "
                  "separating positions takes the seeds each ranking's note gives (10 for the default grid's 4 "
                  "models in 5 rankings), and with fewer every position is ≈. The rank interval is a 95% "
                  "bootstrap over test images and, from "
                  "5 seeds on, seeds (a family whose headline metric has no per-image values, FID, gets none). "
                  "The Friedman test and Nemenyi post-hoc (scikit-posthocs) run only over independent blocks, one "
                  "per dataset, with 3 models and 2 datasets at least.")


def cd_diagram_png(r: Ranking) -> bytes | None:
    """The critical-difference diagram of a ranking (scikit-posthocs), None without a post-hoc test."""
    if r.nemenyi is None:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import scikit_posthocs as sp

    from .figures import _png

    fig, ax = plt.subplots(figsize=(6, 0.5 + 0.35 * len(r.frame)))
    sp.critical_difference_diagram(r.frame.set_index("model")["mean_rank"], r.nemenyi, ax=ax)
    what = " · ".join(_title(r).split(" · ")[1:4])
    ax.set_title(f"{what} · {r.blocks} blocks\nmean rank; a bar joins models the Nemenyi test does not separate",
                 fontsize=8)
    return _png(fig)


def figure_name(r: Ranking) -> str:
    import re

    profile, budget, precision = r.protocol
    return re.sub(r"[^A-Za-z0-9_.-]", "-", f"ranking_{r.family}_{profile}_cnn-{budget}_{precision}_cd.png")
