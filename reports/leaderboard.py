"""Leaderboards from the cells' results (:class:`bench.result.CellResult`, as the store gives them back):
``results.csv`` (long), ``leaderboard.csv`` (wide), ``leaderboard.md``."""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np
import pandas as pd
from tabulate import tabulate

from bench.outcome import NotApplicable
from bench.result import CellResult, one_line

from .significance import (
    MIN_SEEDS,
    NO_TEST,
    Comparison,
    Pooled,
    SeedDiffs,
    compare_items,
    compare_seeds,
    holm,
    mixed_t,
    pooled_over_models,
    possibly_best,
)
from .stats import summarise

CELL_COLUMNS = ["dataset", "model", "noise", "severity", "seed", "profile", "train_size", "cnn_budget", "precision"]
METRIC_COLUMNS = ["metric", "family", "value", "ci95", "n", "higher_is_better", "unit", "detail", "note", "test",
                  "items"]
#: Models are ranked against each other within a group; a store from before the CNN budget existed ran
#: the equal-epochs protocol in fp32.
GROUP = ["dataset", "profile", "train_size", "cnn_budget", "precision", "noise", "severity"]
ROW = [*GROUP, "model"]
#: A markdown table: its rows are corrected together.
TABLE = ["dataset", "profile", "train_size", "cnn_budget", "precision", "noise"]
#: The claims of one dataset and protocol are corrected together (every noise and severity of it).
FAMILY_OF_CLAIMS = ["dataset", "profile", "train_size", "cnn_budget", "precision"]
#: How a row of a headline column is marked: the only possibly-best row; one of several that could be the
#: best; beaten with support by some row; not tested against training noise (one seed, or no values to test).
MARKS = ("best", "possibly best", "behind", "untested")
CELL_DEFAULTS = {"cnn_budget": "epochs", "precision": "fp32"}


def protocol_order(budget: str, precision: str) -> tuple:
    """CNN protocols in the reports' order: converged, compute-matched, equal epochs, then fp32 first."""
    return {"converged": 0, "steps": 1, "epochs": 2}.get(budget, 3), budget, precision != "fp32", precision


def table_order(key: tuple) -> tuple:
    """Tables sorted by dataset, profile, noise, training-set size (smallest first), then the CNN protocol
    (:func:`protocol_order`)."""
    dataset, profile, size, budget, precision, noise = key
    return dataset, profile, noise, size, *protocol_order(budget, precision)


def results_frame(results: Iterable[CellResult], catalogue: dict[str, dict[str, Any]] | None = None) -> pd.DataFrame:
    """One row per cell × metric with the cell's parameters (``key``: the record that keeps the metric, one per
    scope of the cell's families, :mod:`bench.keys`; ``cell``: what a cell's records share), and one per family
    that failed (``status`` "failed", ``family`` named, ``reason``; a cell that failed whole, one per family it
    was to compute).
    ``catalogue``: what each family declares (:meth:`bench.store.Store.catalogue`; a family it lacks, as the
    installed family declares it), kept with the frame (``attrs``) for :func:`metric_meta`: which metric is a
    family's headline, the family's title."""
    from bench.keys import cell_identity

    rows = []
    for result in under_protocols(results):
        cell = result.cell
        base = {
            "key": cell["key"],
            "cell": cell_identity(cell),
            **{c: cell.get(c, CELL_DEFAULTS.get(c)) for c in CELL_COLUMNS},
            "train_size": cell_size(cell),
            "model_params": json.dumps(cell["model_params"], sort_keys=True),
            "noise_params": json.dumps(cell["noise_params"], sort_keys=True),
            "input_psnr": result.input_psnr,
            "status": result.status,
            "reason": result.reason,
            "wall_s": result.timings.wall_s,
        }
        metrics = result.metrics
        failed = [f for f in result.failures() if f.family is not None]  # a row per family that failed
        if result.status == "failed" and not failed:  # the cell whole: a row per family it was to compute
            failed = [dataclasses.replace(f, family=name) for f in result.failures() for name in result.families]
        if not metrics and not failed:
            rows.append({**base, **{c: None for c in METRIC_COLUMNS}})
        rows.extend({**base, **{c: m.get(c) for c in METRIC_COLUMNS}} for m in metrics)
        rows.extend({**base, **{c: None for c in METRIC_COLUMNS}, "family": f.family, "status": "failed",
                     "reason": f.reason} for f in failed)
    columns = ["key", "cell", *CELL_COLUMNS, "model_params", "noise_params", *METRIC_COLUMNS, "input_psnr", "status",
               "reason", "wall_s"]
    frame = pd.DataFrame(rows, columns=columns)
    known = dict(catalogue or {})
    if set(frame["family"].dropna()) - set(known):  # results of families the store does not describe
        known.update((f, e) for f, e in installed_catalogue().items() if f not in known)
    if any("plots" not in e or "trains_cnn" not in e for e in known.values()):  # described by an earlier bench
        installed = installed_catalogue()
        known = {f: {**installed[f], **e} if f in installed and installed[f]["version"] == e.get("version") else e
                 for f, e in known.items()}
    frame.attrs["catalogue"] = Catalogue(known)
    return frame


def under_protocols(results: Iterable[CellResult]) -> list[CellResult]:
    """The results as the reports show them: each under the CNN protocols it holds for (:func:`protocols_of`),
    its ``cnn_budget`` and ``precision`` columns set (a record of families that read no protocol, once per
    protocol it is shown under); the others as they are."""
    results = list(results)
    of = protocols_of(results)
    shown = []
    for r in results:
        if r.cell.get("cnn_budget", CELL_DEFAULTS["cnn_budget"]) is not None:
            shown.append(r)
            continue
        shown += [dataclasses.replace(r, cell={**r.cell, "cnn_budget": b, "precision": p}) for b, p in of(r)]
    return shown


def protocols_of(results: list[CellResult]) -> Any:
    """A function giving the CNN protocols (budget, precision) a result's rows are shown under. A record of
    families that read no CNN protocol (:mod:`bench.keys`: its ``cnn_budget`` None) holds for every protocol:
    it is shown under each protocol its dataset and profile have results of, so that a table of a protocol has
    every family's rows; one of the reference classifier's families (its ``precision`` set) under each budget
    of its precision. Where no result names a protocol, the default: converged, in the precision found (fp32)."""
    found: dict[tuple, set[tuple[str, str]]] = {}
    precisions: dict[tuple, set[str]] = {}
    for r in results:
        c = r.cell
        where = (c.get("dataset"), c.get("profile"))
        budget, precision = c.get("cnn_budget", CELL_DEFAULTS["cnn_budget"]), c.get("precision", CELL_DEFAULTS["precision"])
        if budget is not None:
            found.setdefault(where, set()).add((budget, precision))
        elif precision is not None:
            precisions.setdefault(where, set()).add(precision)

    def of(r: CellResult) -> list[tuple[str, str]]:
        c = r.cell
        budget, precision = c.get("cnn_budget", CELL_DEFAULTS["cnn_budget"]), c.get("precision", CELL_DEFAULTS["precision"])
        if budget is not None:
            return [(budget, precision)]
        where = (c.get("dataset"), c.get("profile"))
        known = found.get(where, set()) | {("converged", p) for p in precisions.get(where, set())
                                           if not any(q == p for _, q in found.get(where, set()))}
        if precision is not None:
            known = {(b, q) for b, q in known if q == precision} or {("converged", precision)}
        return sorted(known or {("converged", CELL_DEFAULTS["precision"])}, key=lambda bp: protocol_order(*bp))

    return of


class Catalogue:
    """What each family declares, by name, riding along with a results frame (``attrs``): pandas copies a
    frame's attrs deeply at every operation, so this one shares itself instead (it is never changed)."""

    def __init__(self, entries: dict[str, dict[str, Any]]):
        self.entries = entries

    def __deepcopy__(self, memo: dict) -> Catalogue:
        return self


def installed_catalogue() -> dict[str, dict[str, Any]]:
    """What the installed metric families declare, in the order the registry found them (loaded once per set
    of installed plugins: a report of many frames does not load the registry for each)."""
    from importlib import metadata

    installed = tuple(sorted((ep.name, ep.value) for ep in metadata.entry_points(group="bench")))
    return dict(_catalogue_of(installed))


@functools.lru_cache(maxsize=4)
def _catalogue_of(installed: tuple) -> tuple:
    from registry import load_registry

    return tuple((name, entry.spec.describe()) for name, entry in load_registry().entries["families"].items())


def metric_meta(results: pd.DataFrame) -> pd.DataFrame:
    """Metric name, family, direction, paired test and whether it is a breakdown, with what the families
    declare (the frame's catalogue, :func:`results_frame`): ``headline`` (the metric of its family that
    carries the marks and decides "best"; the others are shown with their intervals and no mark, so that a
    family makes one claim per group, not one per column), ``matched`` (compared across noises at matched
    severity), ``compares`` (its gain over the baseline CNN's row is a verdict's claim), ``label`` (the
    metric in sentences), ``title`` and ``baseline`` (the family scores the reference CNN's own rows). In the
    catalogue's order of families, then the order metrics first appear."""
    catalogue = declared(results)
    done = results[(results["status"] == "done") & results["metric"].notna()]
    tested = done.dropna(subset=["test"]).drop_duplicates("metric").set_index("metric")
    meta = done.drop_duplicates("metric")[["metric", "family", "higher_is_better", "unit", "detail"]]
    order = {family: i for i, family in enumerate(catalogue)}
    entries = [catalogue.get(f) or {} for f in meta["family"]]
    meta = meta.assign(detail=meta["detail"].fillna(False).astype(bool),
                       test=meta["metric"].map(tested["test"]), items=meta["metric"].map(tested["items"]),
                       headline=[d.get("headline") == m for d, m in zip(entries, meta["metric"])],
                       matched=[m in (d.get("matched") or ()) for d, m in zip(entries, meta["metric"])],
                       compares=[m in (d.get("compares") or ()) and bool(d.get("baseline"))
                                 for d, m in zip(entries, meta["metric"])],
                       label=[next((x.get("label") for x in d.get("metrics") or () if x.get("name") == m), None) or m
                              for d, m in zip(entries, meta["metric"])],
                       title=[d.get("title") or f for d, f in zip(entries, meta["family"])],
                       baseline=[bool(d.get("baseline")) for d in entries],
                       _order=meta["family"].map(order).fillna(len(order)))
    return meta.sort_values("_order", kind="stable").drop(columns="_order").reset_index(drop=True)


def declared(results: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """What each family declares (:meth:`registry.FamilySpec.describe`), by name, as the results frame
    ``results`` carries it (:func:`results_frame`)."""
    found = results.attrs.get("catalogue")
    return found.entries if isinstance(found, Catalogue) else {}


def trains_cnn(entry: dict[str, Any]) -> bool:
    """Whether a family (its catalogue entry) trains CNNs under the cell's protocol; a family described before
    the declaration existed does when it has baseline rows."""
    return bool(entry.get("trains_cnn", entry.get("baseline", False)))


def headlines(meta: pd.DataFrame) -> dict[str, str]:
    """Each family's headline metric (:func:`metric_meta`), by family, in the catalogue's order."""
    return dict(zip(meta.loc[meta["headline"], "family"], meta.loc[meta["headline"], "metric"]))


def latest(done: pd.DataFrame) -> pd.DataFrame:
    """The rows of the most recently stored record of each leaderboard row, seed and family (a grid rerun under
    a newer bench or plugin version has new keys; its results replace the older ones in the tables; a cell's
    families are kept in up to three records, :mod:`bench.keys`)."""
    last = done.drop_duplicates([*ROW, "seed", "family"], keep="last")[["key", "family"]]
    chosen = pd.MultiIndex.from_frame(last)
    return done[pd.MultiIndex.from_frame(done[["key", "family"]]).isin(chosen)]


class Evidence:
    """What the paired tests read: per leaderboard row and metric the value of each seed, per row and
    seed the cell key, and the per-item values the store kept (``items``: (cell key, vector) →
    :class:`bench.store.Items`)."""

    def __init__(self, done: pd.DataFrame, meta: pd.DataFrame, items: dict | None):
        self.items = items or {}
        self.metrics = meta  # one row per metric (:func:`metric_meta`)
        self.meta = meta.set_index("metric")
        self.values: dict[tuple, dict[int, float]] = {}
        for key, group in done.groupby([*ROW, "metric"], sort=False):
            self.values[key] = {int(seed): float(v) for seed, v in zip(group["seed"], group["value"])}
        self.keys: dict[tuple, dict[int, list[str]]] = {}  # a row's records, by seed (up to one per scope)
        for row, group in done.drop_duplicates("key").groupby(ROW, sort=False):
            for seed, k in zip(group["seed"], group["key"]):
                self.keys.setdefault(row, {}).setdefault(int(seed), []).append(k)

    @classmethod
    def of(cls, results: pd.DataFrame, items: dict | None) -> Evidence:
        """The evidence of the done cells of a :func:`results_frame` (the latest cell of each row and seed)."""
        done = results[(results["status"] == "done") & results["metric"].notna()]
        return cls(latest(done.assign(value=pd.to_numeric(done["value"]))), metric_meta(results), items)

    def vectors(self, row: tuple, name: str) -> dict[int, Any]:
        """The stored per-item vector ``name`` of a leaderboard row, by seed."""
        out = {}
        for seed, keys in self.keys.get(row, {}).items():
            for key in keys:
                found = self.items.get((key, name))
                if found is not None:
                    out[seed] = found
        return out

    def compare(self, row: tuple, other: tuple, metric: str) -> Comparison:
        """Row ``row`` against row ``other`` on ``metric``: per-item test where both have the values,
        else over seeds."""
        test, name = (self.meta.at[metric, c] if metric in self.meta.index else None for c in ("test", "items"))
        if isinstance(test, str) and isinstance(name, str):
            a, b = self.vectors(row, name), self.vectors(other, name)
            same = [s for s in set(a) & set(b) if a[s].items_id == b[s].items_id]
            found = compare_items({s: a[s].values for s in same}, {s: b[s].values for s in same}, test)
            if found.tested:
                return found
        return compare_seeds(self.values.get((*row, metric), {}), self.values.get((*other, metric), {}))

    def _higher(self, metric: str, on_items: bool) -> bool:
        """Whether higher is better on the tested scale (a test on another scale, PSNR's on per-image MSE,
        is turned round)."""
        higher = bool(self.meta.at[metric, "higher_is_better"])
        name = self.meta.at[metric, "items"]
        if on_items and isinstance(name, str) and name in self.meta.index:
            higher = bool(self.meta.at[name, "higher_is_better"])
        return higher

    def paired(self, row: tuple, other: tuple, metric: str) -> SeedDiffs | None:
        """The per-seed differences of ``row`` against ``other`` on ``metric``, oriented so that they are
        positive when ``row`` is the better one: from the per-item values where both rows have them on every
        shared seed (with the test images' variance), else from the per-seed values; None without a seed
        both rows have."""
        if metric not in self.meta.index:
            return None
        test, name = (self.meta.at[metric, c] for c in ("test", "items"))
        if isinstance(test, str) and isinstance(name, str):
            a, b = self.vectors(row, name), self.vectors(other, name)
            same = sorted(s for s in set(a) & set(b) if a[s].items_id == b[s].items_id and len(a[s].values) > 1)
            if same and len(same) == len(set(a) & set(b)):
                per_seed = np.stack([a[s].values.astype(float) - b[s].values.astype(float) for s in same])
                sign = 1.0 if self._higher(metric, True) else -1.0
                n = per_seed.shape[1]
                image_var = float(np.var(per_seed.mean(axis=0), ddof=1)) / n
                return SeedDiffs(sign * per_seed.mean(axis=1), image_var, on_items=True)
        x, y = self.values.get((*row, metric), {}), self.values.get((*other, metric), {})
        seeds = sorted(s for s in set(x) & set(y) if not (math.isnan(x[s]) or math.isnan(y[s])))
        if not seeds:
            return None
        sign = 1.0 if self._higher(metric, False) else -1.0
        return SeedDiffs(sign * np.array([x[s] - y[s] for s in seeds]))

    def better(self, row: tuple, other: tuple, metric: str) -> Comparison:
        """:meth:`compare` with its difference oriented so that it is positive when ``row`` is the better
        one by the metric's direction (a test on another scale, PSNR's on per-image MSE, is turned round)."""
        found = self.compare(row, other, metric)
        if not found.tested or metric not in self.meta.index:
            return found
        higher = self._higher(metric, not found.test.startswith("paired t over seeds"))
        return Comparison(found.p, found.test, found.diff if higher else -found.diff, found.seeds)


def leaderboard_frame(results: pd.DataFrame, items: dict | None = None, *,
                      evidence: Evidence | None = None) -> pd.DataFrame:
    """One row per dataset × profile × CNN budget × precision × noise × severity × model. Per metric: the
    mean over seeds (``<metric>``), standard deviation over seeds (``_std``), the 95% interval
    (``_ci_low``, ``_ci_high`` and its half-width ``_ci95``: over seeds when there are several, else over
    test items), the rank among the models of its group (``_rank``, 1 is best), the paired test against
    the best row (``_p_best``, its name in ``_test``; see :mod:`reports.significance`). For each family's
    headline metric (:func:`headlines`) also the set of rows that could be the best: ``_p_adj`` (the
    Holm-adjusted p-value of the strongest evidence that another row beats this one), ``_tied``
    (whether it could be the best) and ``_mark`` (:data:`MARKS`); with one seed every row is "untested".
    ``items`` are the per-item values of :meth:`bench.store.Store.items`; ``evidence``: their
    :class:`Evidence` when the caller built it (a report builds it once for every table)."""
    done = results[(results["status"] == "done") & results["metric"].notna()]
    if done.empty:
        return pd.DataFrame(columns=ROW)
    evidence = evidence or Evidence.of(results, items)
    meta = evidence.metrics
    done = latest(done.assign(value=pd.to_numeric(done["value"]), ci95=pd.to_numeric(done["ci95"])))
    heads = set(headlines(meta).values())
    cells: dict[tuple, dict[str, Any]] = {}
    for key, group in done.groupby([*ROW, "metric"], sort=False):
        *row, metric = key
        s = summarise(group["value"].to_numpy(), group["ci95"].iloc[0] if len(group) == 1 else math.nan)
        half = (s.high - s.low) / 2
        cells.setdefault(tuple(row), {}).update({
            metric: s.mean, f"{metric}_std": s.std, f"{metric}_ci95": half, f"{metric}_ci_low": s.low,
            f"{metric}_ci_high": s.high})
    board = pd.DataFrame([{**dict(zip(ROW, row)), **values} for row, values in cells.items()])
    extra = done.groupby(ROW).agg(seeds=("seed", "nunique"), input_psnr=("input_psnr", "mean")).reset_index()
    board = board.merge(extra, on=ROW)
    g = len(GROUP)
    for _, m in meta.iterrows():
        name = m["metric"]
        if name not in board:
            board[name] = math.nan
            for suffix in ("_std", "_ci95", "_ci_low", "_ci_high"):
                board[name + suffix] = math.nan
        board[f"{name}_rank"] = board.groupby(GROUP, dropna=False)[name].rank(
            ascending=not bool(m["higher_is_better"]), method="min").astype("Int64")
        rows = list(zip(*(board[c] for c in ROW), board[f"{name}_rank"]))
        best = {}
        for *row, rank in sorted(rows, key=lambda r: str(r[g])):
            if pd.notna(rank) and rank == 1:
                best.setdefault(tuple(row[:g]), tuple(row))
        # a row level with the best (rank 1 too) is still tested against it: equal means can hide
        # different per-image results
        tests = [NO_TEST if pd.isna(rank) or tuple(row[:g]) not in best or best[tuple(row[:g])] == tuple(row)
                 else evidence.compare(tuple(row), best[tuple(row[:g])], name) for *row, rank in rows]
        board[f"{name}_p_best"] = [t.p for t in tests]
        board[f"{name}_test"] = [t.test for t in tests]
        board[f"{name}_p_adj"] = math.nan
        board[f"{name}_tied"] = pd.array([pd.NA] * len(board), dtype="boolean")
        board[f"{name}_mark"] = ""
        if name in heads:
            _mark(board, name, evidence)
        board = board.copy()  # columns added one by one fragment the frame (pandas warns past 100)
    ordered = ROW + ["seeds", "input_psnr"]
    for name in meta["metric"]:
        ordered += [name, f"{name}_std", f"{name}_ci95", f"{name}_ci_low", f"{name}_ci_high", f"{name}_rank",
                    f"{name}_p_best", f"{name}_test", f"{name}_p_adj", f"{name}_tied", f"{name}_mark"]
    return board[ordered].sort_values(ROW, kind="stable").reset_index(drop=True)


def _pooled(to_first: list[SeedDiffs | None]) -> Pooled | None:
    """The seed variance of one group pooled over its rows (:func:`reports.significance.pooled_over_models`)
    from the first row's per-seed differences to every other row (the two-way residual is the same on
    either side of a difference); None when the rows do not share their seeds or their scale."""
    if not to_first or any(d is None for d in to_first) or len({(d.seeds, d.on_items) for d in to_first}) != 1:
        return None  # rows on different seeds, or some with per-item values and some without (an old store)
    by_model = np.vstack([np.zeros(to_first[0].seeds), *(d.diffs for d in to_first)])
    return pooled_over_models(by_model, to_first[0].on_items)


def _mark(board: pd.DataFrame, name: str, evidence: Evidence) -> None:
    """The possibly-best set of every group of a headline column (:func:`reports.significance.possibly_best`).
    Each pair of rows of a group (noise × severity) is tested by :func:`reports.significance.mixed_t`, its
    seed variance pooled over the group's models; the family of claims is the column on one dataset under
    one protocol, Holm-corrected over every pair of every group that differs from the others (a plain
    model's clean-input value repeated under every noise and severity is one group, and a pair whose
    per-seed differences repeat is one test): ``_p_adj``, ``_tied`` (could be the best) and ``_mark``
    (:data:`MARKS`). What each family's tests rested on is kept in ``board.attrs["claims"]`` (:class:`Claims`)."""
    for fkey, family in board[board[name].notna()].groupby(FAMILY_OF_CLAIMS, dropna=False, sort=False):
        groups, first = [], {}
        for _, group in family.groupby(GROUP[len(FAMILY_OF_CLAIMS):], dropna=False, sort=False):
            if len(group) < 2:
                continue
            rows = [tuple(r) for r in group[ROW].itertuples(index=False)]
            signature = tuple(sorted((r[-1], round(float(v), 12)) for r, v in zip(rows, group[name])))
            first.setdefault(signature, len(groups))
            groups.append((group.index, rows, signature))
        unique, source, first_of, dfs = {}, {}, {}, []
        for g, (_, rows, signature) in enumerate(groups):
            if first[signature] != g:
                continue
            found_all = {(a, b): evidence.paired(rows[a], rows[b], name)
                         for a in range(len(rows)) for b in range(a + 1, len(rows))}
            pooled = _pooled([found_all[(0, b)] for b in range(1, len(rows))])
            if pooled is not None and pooled.df:
                dfs.append(pooled.df)
            for a in range(len(rows)):
                for b in range(a + 1, len(rows)):
                    found = found_all[(a, b)]
                    # a pair whose per-seed differences repeat under another noise or severity (two plain
                    # models' clean-input metric) is one test, not several
                    repeat = None if found is None else (rows[a][-1], rows[b][-1], found.image_var,
                                                         tuple(np.round(found.diffs, 12)))
                    source[(g, a, b)] = first_of.setdefault(repeat, (g, a, b)) if repeat else (g, a, b)
                    if source[(g, a, b)] == (g, a, b):
                        unique[(g, a, b)] = NO_TEST if found is None else mixed_t(found, pooled)
        keys = [key for key in unique if unique[key].tested]
        adjusted_p = dict(zip(keys, holm([unique[key].p for key in keys])))
        raw = {key: unique[origin] for key, origin in source.items()}
        seeds = max((c.seeds for c in raw.values() if c.tested), default=0)
        claims_of = Claims(min(dfs, default=max(seeds - 1, 0)), len(keys), seeds)
        if "claims" not in board.attrs:
            board.attrs["claims"] = ClaimsByFamily()
        board.attrs["claims"][(*fkey, name)] = claims_of
        for g, (index, rows, signature) in enumerate(groups):
            origin = first[signature]
            tests: dict[tuple, Comparison] = {}
            for a in range(len(rows)):
                for b in range(a + 1, len(rows)):
                    c = raw.get((origin, a, b), NO_TEST)
                    c = Comparison(adjusted_p.get(source.get((origin, a, b)), c.p), c.test, c.diff, c.seeds)
                    tests[(rows[a], rows[b])] = c
                    tests[(rows[b], rows[a])] = Comparison(c.p, c.test, -c.diff, c.seeds)
            claims_of.pairs.update(tests)
            keep, adjusted = possibly_best(rows, tests)
            claims = any(c.about_models for c in tests.values())
            for i, row in zip(index, rows):
                board.at[i, f"{name}_p_adj"] = adjusted[row]
                if not claims or math.isnan(adjusted[row]):
                    board.at[i, f"{name}_mark"] = "untested"
                    continue
                board.at[i, f"{name}_tied"] = row in keep
                board.at[i, f"{name}_mark"] = ("best" if keep == {row} else "possibly best" if row in keep
                                               else "behind")


class ClaimsByFamily(dict):
    """``board.attrs["claims"]``: (dataset, profile, train_size, cnn_budget, precision, metric) → :class:`Claims`.
    pandas deep-copies ``attrs`` into every frame derived from the board; this is read-only once built, so
    the copies share it."""

    def __deepcopy__(self, memo: dict) -> ClaimsByFamily:
        return self


@dataclass(frozen=True)
class Claims:
    """What one family of claims (a headline metric on one dataset under one protocol) rested on: the
    fewest degrees of freedom of its tests, the number of tests Holm corrected over, the most seeds a test
    had."""

    df: int
    tests: int
    seeds: int
    #: every pair of rows of the family: the test of the first against the second, Holm-adjusted, its
    #: ``diff`` positive when the first is the better
    pairs: dict = field(default_factory=dict, compare=False)

    def note(self, metric: str) -> str:
        """What this family's marks rest on and can detect, in one line (empty with fewer than two seeds)."""
        if self.seeds < MIN_SEEDS or not self.tests:
            return ""
        return (f"{metric}: {self.tests} tests (every pair of models × noise × severity) over {self.seeds} seeds, "
                f"each a t with {self.df} degrees of freedom (the seed variance pooled over the models of its "
                f"condition), Holm: a gap of {self.detectable():.1f} seed SDs of the per-seed difference in "
                "one condition is marked 80% of the time")

    def detectable(self, seeds: int | None = None) -> float:
        """The difference in seed standard deviations marked with 80% power (:func:`reports.significance.detectable`)."""
        from .significance import detectable

        return detectable(self.df, seeds or self.seeds, self.tests)


@dataclass
class Table:
    """A titled table of a report: cells are ``(text, mark)`` with mark "" / "best" / "tied", so that
    markdown and HTML render the same content."""

    title: str
    header: list[str]
    rows: list[list[tuple[str, str]]]
    notes: list[str] = field(default_factory=list)
    dataset: str = ""
    noise: str = ""


def _fmt(row: pd.Series, name: str) -> str:
    value = row[name]
    if value is None or pd.isna(value):
        return "n/a"
    std = row.get(f"{name}_std")
    if std is not None and pd.notna(std):
        return f"{value:.4g} ± {std:.2g} [{row[f'{name}_ci_low']:.4g}, {row[f'{name}_ci_high']:.4g}]"
    ci = row.get(f"{name}_ci95")
    return f"{value:.4g}" if ci is None or pd.isna(ci) else f"{value:.4g} ± {ci:.2g}"


def _plain(value: Any) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{value:.4g}"


def _family_table(block: pd.DataFrame, fam: pd.DataFrame, results: pd.DataFrame, title: str) -> Table | None:
    names = list(fam["metric"])
    rows_with_values = block[block[names].notna().any(axis=1)]
    notes_frame = results[results["metric"].isin(names) & results["note"].notna()
                          & results["dataset"].eq(block["dataset"].iloc[0]) & results["noise"].eq(block["noise"].iloc[0])]
    lost = _lost(block, str(fam["family"].iloc[0]), results)
    if rows_with_values.empty and notes_frame.empty and not lost:
        return None
    first = names[0]
    rows_with_values = rows_with_values.sort_values(["severity", f"{first}_rank", "model"], na_position="last")
    header = ["severity", "model", "input PSNR (dB)"]
    header += [f"{m['metric']} {'↑' if m['higher_is_better'] else '↓'}" + (f" ({m['unit']})" if m["unit"] else "")
               for _, m in fam.iterrows()]
    headline = next(iter(fam.loc[fam["headline"], "metric"]), None)
    marks = rows_with_values[f"{headline}_mark"] if headline in names else pd.Series(dtype=str)
    any_tested = marks.isin(["best", "possibly best", "behind"]).any()
    rows = []
    for _, row in rows_with_values.iterrows():
        cells = [(str(row["severity"]), ""), (str(row["model"]), ""), (_plain(row["input_psnr"]), "")]
        for name in names:
            mark = row[f"{name}_mark"] if name == headline else ""
            shown = {"best": "best", "possibly best": "tied", "untested": "untested" if any_tested else ""}.get(mark, "")
            cells.append((_fmt(row, name), shown))
        rows.append(cells)
    lines = [f"n/a for `{model}` ({', '.join(dict.fromkeys(group['metric']))}): {note}"
             for (model, note), group in notes_frame.groupby(["model", "note"], sort=True)]
    lines += lost
    if headline in names and not rows_with_values.empty and not any_tested:
        seeds = int(rows_with_values["seeds"].max())
        lines.insert(0, f"No row is marked: with {seeds} seed{'s' * (seeds != 1)} a difference between "
                        "models is not tested against training noise (initial weights, batch order, sample draws), "
                        f"which is larger than test-image noise; run with --seeds 3 (at least {MIN_SEEDS}) for marks.")
    return Table(title, header, rows, lines, block["dataset"].iloc[0], block["noise"].iloc[0])


def _lost(block: pd.DataFrame, family: str, results: pd.DataFrame) -> list[str]:
    """A note per model whose cells of the table failed in ``family`` (whole or that family alone; a cell of a
    store that did not record its families, failed whole, counts for every family): no row goes missing
    without a word."""
    where = results["status"].eq("failed") & (results["family"].eq(family) | results["family"].isna())
    for column in TABLE:
        where &= results[column].eq(block[column].iloc[0])
    lost = results[where].drop_duplicates("key")
    return [f"`{model}`: {family} failed in {len(group)} cell{'s' * (len(group) != 1)} of this table "
            f"({one_line(group['reason'].iloc[0])}); the {FAILED_TITLE} section names each"
            for model, group in lost.groupby("model", sort=True)]


def protocols(results: Iterable[CellResult]) -> dict[tuple, str]:
    """(profile, training-set size, CNN budget, precision) → how the CNNs were trained, in words, from the
    cells' profiles and the optimizer steps their CNNs took."""
    params: dict[tuple, dict[str, Any]] = {}
    steps: dict[tuple, set[int]] = {}
    augmented: dict[tuple, set[int]] = {}
    reference: dict[tuple, set[int]] = {}
    used: dict[tuple, set[int]] = {}
    for result in results:
        cell = result.cell
        p = cell.get("profile_params") or {}
        key = (cell["profile"], cell_size(cell),
               cell.get("cnn_budget", CELL_DEFAULTS["cnn_budget"]), cell.get("precision", CELL_DEFAULTS["precision"]))
        params[key] = {**params.get(key, {}), **p}  # a record keeps the fields its families read (bench.keys)
        taken = result.cnn.baseline if result.cnn is not None else None
        if result.cnn is not None and result.cnn.reference:
            reference.setdefault(key, set()).add(int(result.cnn.reference))
        if taken:
            steps.setdefault(key, set()).add(int(taken))
        if result.cnn is not None and result.cnn.augmented:
            augmented.setdefault(key, set()).add(int(result.cnn.augmented))
        if result.training is not None and result.training.train_size:
            used.setdefault(key, set()).add(int(result.training.train_size))
    out: dict[tuple, Any] = {}
    for key, p in params.items():
        (_, _, budget, precision), taken = key, sorted(steps.get(key, ()))
        if len(used.get(key, ())) == 1:
            out[("used", *key)] = next(iter(used[key]))
        if reference.get(key):
            out[("reference", *key)] = (f"reference classifier converged: {p.get('cnn_converged_epochs')} epochs, at "
                                        f"least {p.get('cnn_min_steps')} steps "
                                        f"({'/'.join(f'{n:,}' for n in sorted(reference[key]))} steps)"
                                        + (f", {precision}" if precision != "fp32" else ""))
        if budget == "converged":
            more = sorted(augmented.get(key, ()))
            text = (f"CNN converged: {p.get('cnn_converged_epochs')} epochs of its own set, at least "
                    f"{p.get('cnn_min_steps')} steps")
            if taken:
                text += f" (baseline {'/'.join(f'{n:,}' for n in taken)} steps"
                text += f", augmented {'/'.join(f'{n:,}' for n in more)})" if more else ")"
        elif budget == "steps":
            epochs = p.get("cnn_matched_epochs")
            each = f"{'/'.join(f'{n:,}' for n in taken)} steps each" if taken else "steps"
            text = f"CNN compute-matched: {epochs} baseline epochs = {each}" if epochs else f"CNN compute-matched: {each}"
        else:
            text = (f"CNN equal epochs: {p.get('cnn_epochs', 1)} each, augmented {1 + p.get('augment_k', 2)}× "
                    "the baseline's steps")
        out[key] = text + (f", {precision}" if precision != "fp32" else "")
    return out


def cell_size(cell: dict[str, Any]) -> int:
    """The training-set size a cell asked for (stores from before the size axis: its profile's; 0 where
    nothing says)."""
    size = cell.get("train_size") or (cell.get("profile_params") or {}).get("train_size")
    return int(size or default_size(cell.get("profile", "")) or 0)


def default_sized(cells: Iterable[CellResult]) -> set[tuple[str, str, int]]:
    """(dataset, profile, training-set size) of the cells that asked for their profile's size (the size is
    the images they had: digits has 1,347 where the quick profile asks 5,000): names and titles leave it plain."""
    return {(r.cell["dataset"], r.cell["profile"], cell_size(r.cell)) for r in cells
            if (r.cell.get("profile_params") or {}).get("train_size") in (None, default_size(r.cell["profile"]))}


def default_size(profile: str) -> int | None:
    """The training-set size the profile draws when ``--train-sizes`` is not given."""
    from bench.profiles import PROFILES

    return PROFILES[profile].train_size if profile in PROFILES else None


def size_text(size: Any) -> str:
    """A training-set size as titles say it."""
    return f"{int(size):,} training images" if size == size and size else ""


def table_title(key: tuple, protocol: dict[tuple, str], what: str, cnn: bool = True, reference: bool = False) -> str:
    """``dataset · noise · what · profile · training-set size`` for a :data:`TABLE` key, then the CNN protocol
    where the family trains CNNs (``cnn``) and the reference classifier where it uses it (``reference``): a
    protocol is named only by the families it is a coordinate of."""
    dataset, profile, size, budget, precision, noise = key
    size = protocol.get(("used", profile, size, budget, precision), size)  # the images used, not asked for
    parts = (dataset, noise, what, profile, size_text(size),
             protocol.get((profile, key[2], budget, precision), budget) if cnn else "",
             protocol.get(("reference", profile, key[2], budget, precision), "") if reference else "")
    return " · ".join(p for p in parts if p)


def _matched_severity(board: pd.DataFrame, meta: pd.DataFrame, protocol: dict,
                      catalogue: dict[str, dict[str, Any]] | None = None) -> list[Table]:
    """Per dataset and metric: models × severity against noises. Severities are calibrated to the same
    input PSNR for every noise, so a row compares noise types at equal strength."""
    tables: list[Table] = []
    for metric in meta.loc[meta["matched"], "metric"]:  # what the families declare ``matched``
        arrow = "↑" if bool(meta.set_index("metric").loc[metric, "higher_is_better"]) else "↓"
        by = ["dataset", "profile", "train_size", "cnn_budget", "precision"]
        for (dataset, profile, size, budget, precision), block in board[board["severity"] > 0].groupby(by, sort=True):
            wide = block.pivot_table(index=["severity", "model"], columns="noise", values=metric, aggfunc="mean")
            wide = wide.dropna(how="all")
            if wide.empty or wide.shape[1] < 2:
                continue
            rows = [[(str(sev), ""), (model, ""), *((_plain(v), "") for v in values)]
                    for (sev, model), values in zip(wide.index, wide.to_numpy())]
            entry = (catalogue or {}).get(meta.set_index("metric").at[metric, "family"]) or {}
            title = table_title((dataset, profile, size, budget, precision, "every noise"), protocol,
                                f"{metric} {arrow} by noise at matched severity",
                                trains_cnn(entry), bool(entry.get("reference")))
            tables.append(Table(title, ["severity", "model", *wide.columns], rows, dataset=dataset))
    return tables


FAILED_TITLE = "Failed"


def failed_table(cells: list[CellResult]) -> Table | None:
    """Every failure of the store, a row each: the cell, the family that failed (every family when the cell
    failed whole), why in one line, and the command that prints its traceback."""
    from bench.keys import distinct_failures

    rows = [[(f.label, ""), (f.what, ""), (one_line(f.reason, 10_000), ""), (f"bench show {f.key[:8]}", "")]
            for f in distinct_failures(cells)]
    if not rows:
        return None
    return Table(f"{FAILED_TITLE}: {len(rows)} cell × family run{'s' * (len(rows) != 1)} (their rows are missing "
                 "from the tables above; the command prints the traceback)", ["cell", "family", "why", "see"], rows)


def _skipped(results: pd.DataFrame) -> Table | None:
    columns = ["dataset", "model", "noise", "severity", "seed", "reason"]
    # a cell is kept in a record per scope of its families (bench.keys): each skipped cell named once
    skipped = results[results["status"] == "skipped"].drop_duplicates(["profile", "train_size", *columns])
    if skipped.empty:
        return None
    rows = [[(str(r["key"])[:8], ""), *((str(r[c]), "") for c in columns)] for _, r in skipped.iterrows()]
    return Table("Cells skipped (impossible pairs)", ["key", *columns], rows)


def _figures_not_drawn(results: list[CellResult]) -> Table | None:
    """The figures a cell could not draw, with the reason (e.g. a 1-D latent has no t-SNE)."""
    rows = [[(str(v), "") for v in (r.cell["dataset"], r.cell["model"], r.cell["noise"],
                                    r.cell["severity"], r.cell["seed"], kind, value)]
            for r in results for kind, value in r.figures.items()
            if NotApplicable.parse(value) is not None]
    if not rows:
        return None
    return Table("Figures not drawn", ["dataset", "model", "noise", "severity", "seed", "figure", "why"], rows)


def leaderboard_tables(board: pd.DataFrame, results: pd.DataFrame, cells: list[CellResult],
                       extra: list[Table] | None = None) -> list[Table]:
    """Every table of the leaderboard in order: per dataset × noise × profile × CNN budget one per metric
    family, then the matched-severity comparisons, what failed, cells skipped, figures not drawn. A family
    whose table is the same under every CNN budget (one that trains no CNN) is shown once, its title naming
    the budgets it stands for; a family with the baseline's rows is always shown per budget."""
    meta = metric_meta(results)
    shown = meta[~meta["detail"]]
    protocol = protocols(cells)
    catalogue = declared(results)
    tables: list[Table] = []
    if not board.empty:
        seen: dict[tuple, Table] = {}
        for key, block in sorted(board.groupby(TABLE), key=lambda kv: table_order(kv[0])):
            dataset, profile, size, budget, precision, noise = key
            for family, fam in shown.groupby("family", sort=False):
                what = str(fam["title"].iloc[0])
                entry = catalogue.get(family) or {}
                cnn = trains_cnn(entry)
                table = _family_table(block, fam, results, table_title(key, protocol, what, cnn,
                                                                       bool(entry.get("reference"))))
                if table is None:
                    continue
                same = seen.get((dataset, profile, size, precision, noise, family))
                if not cnn and same is not None and same.rows == table.rows:
                    continue  # a family that trains no CNN: the same table under every CNN budget, shown once
                seen.setdefault((dataset, profile, size, precision, noise, family), table)
                tables.append(table)
        tables += extra or []
        tables += _matched_severity(board, meta, protocol, catalogue)
    return tables + [t for t in (failed_table(cells), _skipped(results), _figures_not_drawn(cells)) if t is not None]


LEGEND = ("Values are means over seeds ± their standard deviation with the 95% interval of the mean in brackets; "
          "with one seed, the value ± the half-width of its 95% interval over test images. ↑ higher is better, ↓ "
          "lower is better. Marks are on each family's headline metric (the one its declaration names: `bench list "
          "families` shows it first) and need several seeds: **bold** is the only model that could be the best at "
          "that severity, ≈ marks each of several models that could be (none is bold then), a plain value is beaten"
          " with support, and (untested) a row without the values to test. A model is beaten when some model is "
          "better by a t over seeds on their per-seed differences (the models of a seed share its training subset, "
          "test images and noise draws), its seed variance pooled over the models of the condition (a mixed "
          "model with seed and model × seed effects) and the test images' variance added; Holm-corrected over "
          "every pair of models and every noise × severity of the dataset and protocol, so that a table makes a "
          "false mark in at most 5% of runs (measured on real retraining: benchmarks/test_null_training.py). "
          "The glance tables' notes say, per headline, how large a gap this run can mark. "
          "With one seed nothing is marked: only test-image noise could be measured, and training noise (initial "
          "weights, batch order) is larger. leaderboard.csv keeps for every metric the test against the best row "
          "(`_p_best`, `_test`; with one seed labelled \"test images only\") and for the headline metrics `_p_adj`, "
          "`_tied` and `_mark`. `input PSNR` is the noisy input against the clean image. `baseline` is the "
          "reference CNN trained on the limited subset alone (the augmentation family's rows); the titles of the "
          "families that train CNNs name their protocol, the downstream family's its reference classifier.")


def _escape(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_table(table: Table, level: str) -> list[str]:
    rows = [[_escape(f"**{text}**" if mark == "best" else f"{text} ≈" if mark == "tied"
                     else f"{text} (untested)" if mark == "untested" else text)
             for text, mark in row] for row in table.rows]
    lines = [f"{level} {table.title}", "", tabulate(rows, headers=table.header, tablefmt="github",
                                                    disable_numparse=True), ""]
    return lines + [f"- {_escape(note)}" for note in table.notes] + ([""] if table.notes else [])


def shared_notes(tables: list[Table]) -> tuple[list[Table], list[str]]:
    """The notes that several tables carry, said once: the tables without them, and those notes (in the order
    they first appear)."""
    counts: dict[str, int] = {}
    for t in tables:
        for n in dict.fromkeys(t.notes):
            counts[n] = counts.get(n, 0) + 1
    common = [n for n, k in counts.items() if k > 1]
    if not common:
        return tables, []
    return [dataclasses.replace(t, notes=[n for n in t.notes if n not in common]) for t in tables], common


def render_ranking_markdown(tables: list[Table], legend: str) -> list[str]:
    """The aggregate ranking's section of ``leaderboard.md`` (above the verdict): the tables, then what they all
    say once, then the legend."""
    if not tables:
        return []
    tables, common = shared_notes(tables)
    return ["## Ranking across conditions", "", *(line for t in tables for line in markdown_table(t, "###")),
            *(f"- {_escape(n)}" for n in common), *([""] if common else []), legend, ""]


def render_markdown(tables: list[Table], *, empty: bool = False, preface: list[str] | None = None) -> str:
    """The leaderboard page; ``preface`` lines (the glance, notices, the verdict) come before the tables, the
    legend of the tables after them."""
    lines = ["# Leaderboard", "", *(["No cell finished.", ""] if empty else []), *(preface or [])]
    tables, common = shared_notes(tables)
    for table in tables:
        lines += markdown_table(table, "##")
    if not empty:
        lines += [*(f"- {_escape(n)}" for n in common), *([""] if common else []), "## Legend", "", LEGEND, ""]
    return "\n".join(lines)
