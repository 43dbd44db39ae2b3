"""Learning curves: each family's headline metric against the training-set size, where a grid ran more than
one size (``--train-sizes``).

- :func:`curve_frame`: the points, one per curve family × severity × model × metric × size, with the
  leaderboard's 95% intervals.
- :func:`auc_frame`: the area under each curve over log size, divided by the log range, so it reads on the
  metric's own scale ("the metric averaged over log size"); trapezoids between the sizes run. Its interval
  is over seeds: each seed's own area (its sizes are nested subsets of one draw, scored on the same test
  images, so the sizes of a seed are paired, never added as independent), a t interval over the seeds'
  areas. One seed gives no interval: training noise is not measured.
- :func:`thresholds`: for each model and severity, the smallest size at which its augmented CNN beats the
  baseline CNN with support (the leaderboard's test over seeds and test images on the noisy test set,
  positive gap, p < 0.05 after Holm's correction over every size, severity and model of the curve family);
  "no supported gain within the sizes run" otherwise, and "not tested" with one seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from registry import BASELINE

from .leaderboard import ROW, Evidence, Table, size_text
from .significance import ALPHA, MIN_SEEDS, holm

#: A curve family: one figure and one table; severities, models and metrics are its curves.
FAMILY = ["dataset", "profile", "cnn_budget", "precision", "noise"]


def swept(board: pd.DataFrame) -> pd.DataFrame:
    """The rows of the curve families that ran two training-set sizes or more."""
    if board.empty or "train_size" not in board:
        return board.iloc[0:0]
    sizes = board.groupby(FAMILY, dropna=False)["train_size"].transform("nunique")
    return board[sizes > 1]


def curve_metrics(meta: pd.DataFrame) -> tuple[list[str], str | None]:
    """The metrics the curves follow, each family's headline with per-image values (:func:`headlines`), and
    the one compared with the baseline CNN: the headline of a family that scores the baseline's rows."""
    heads = meta[meta["headline"].astype(bool)]  # an empty column of objects would select columns
    gain = next(iter(heads.loc[heads["baseline"], "metric"]), None)
    return list(heads.loc[heads["test"].notna(), "metric"]), gain


def curve_frame(board: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """One row per curve family × severity × model × metric × size: value and 95% interval."""
    rows = []
    for _, row in swept(board).iterrows():
        for metric in metrics:
            if metric in row and pd.notna(row[metric]):
                rows.append({**{c: row[c] for c in [*FAMILY, "severity", "model", "train_size"]}, "metric": metric,
                             "value": row[metric], "ci_low": row.get(f"{metric}_ci_low"),
                             "ci_high": row.get(f"{metric}_ci_high")})
    columns = [*FAMILY, "severity", "model", "metric", "train_size", "value", "ci_low", "ci_high"]
    return pd.DataFrame(rows, columns=columns)


def area(sizes: list[int], values: list[float], halves: list[float]) -> tuple[float, float]:
    """Area under ``values`` over log ``sizes`` divided by the log range, and the half-width of its 95%
    interval from the points' half-widths (independent points)."""
    x = np.log(np.asarray(sizes, float))
    y, h = np.asarray(values, float), np.nan_to_num(np.asarray(halves, float))
    span = x[-1] - x[0]
    weights = np.zeros(len(x))
    weights[:-1] += np.diff(x) / 2
    weights[1:] += np.diff(x) / 2
    weights /= span
    return float(weights @ y), float(math.sqrt(float(((weights * h) ** 2).sum())))


def auc_frame(curves: pd.DataFrame, evidence: Evidence | None = None) -> pd.DataFrame:
    """One row per curve: ``auc`` with ``auc_low``/``auc_high`` (a t interval over the seeds' own areas; NaN
    with one seed), over the sizes in ``sizes``, and the ``seeds`` behind the interval."""
    rows = []
    for key, points in curves.groupby([*FAMILY, "severity", "model", "metric"], sort=True):
        points = points.sort_values("train_size")
        if len(points) < 2:
            continue
        sizes = points["train_size"].tolist()
        value, _ = area(sizes, points["value"].tolist(), [0.0] * len(sizes))
        low = high = math.nan
        seeds = 0
        if evidence is not None:
            where = dict(zip([*FAMILY, "severity", "model", "metric"], key))
            by_size = [evidence.values.get(tuple(where[c] if c != "train_size" else size for c in ROW)
                                           + (where["metric"],), {}) for size in sizes]
            common = sorted(set.intersection(*(set(v) for v in by_size)))
            seeds = len(common)
            if seeds >= MIN_SEEDS:
                per_seed = np.array([area(sizes, [v[s] for v in by_size], [0.0] * len(sizes))[0] for s in common])
                from .stats import summarise

                found = summarise(per_seed, math.nan)
                low, high = found.low, found.high
        rows.append({**dict(zip([*FAMILY, "severity", "model", "metric"], key)), "auc": value,
                     "auc_low": low, "auc_high": high, "sizes": ",".join(str(int(s)) for s in sizes),
                     "seeds": seeds})
    return pd.DataFrame(rows, columns=[*FAMILY, "severity", "model", "metric", "auc", "auc_low", "auc_high", "sizes",
                                       "seeds"])


@dataclass(frozen=True)
class Threshold:
    """Where a model's samples start to help: the smallest size at which its augmented CNN beats the
    baseline with support (``size`` None: no supported gain within ``sizes``), with every size's gap and
    p-value."""

    family: tuple
    severity: int
    model: str
    metric: str  # compared with the baseline row's
    size: int | None
    sizes: tuple[int, ...]
    gains: tuple[float, ...]  # accuracy points, model minus baseline, per size (NaN: no row)
    p_holm: tuple[float, ...]
    tested: bool = True  # whether the tests include training noise (several seeds)

    @property
    def holds_above(self) -> bool:
        """Whether it also beats the baseline with support at every larger size run."""
        if self.size is None:
            return False
        after = [i for i, s in enumerate(self.sizes) if s > self.size]
        return all(self.gains[i] > 0 and self.p_holm[i] < ALPHA for i in after)

    def text(self) -> str:
        run = ", ".join(f"{s:,}" for s in self.sizes)
        if not self.tested:
            gains = ", ".join(f"{g:+.1f}" for g in self.gains)
            return (f"not tested: one seed cannot separate a gain from training noise (needs --seeds {MIN_SEEDS} or "
                    f"more); gains at {run}: {gains} points")
        if self.size is None:
            return f"no supported gain within the sizes run ({run})"
        i = self.sizes.index(self.size)
        text = f"from {size_text(self.size)} ({self.gains[i]:+.1f} points, p = {self.p_holm[i]:.2g})"
        return text + ("" if self.holds_above or self.size == self.sizes[-1] else ", not at every larger size")


def thresholds(board: pd.DataFrame, evidence: Evidence, gain: str | None) -> list[Threshold]:
    """Per curve family × severity × model, the smallest size at which the model beats the baseline on the
    metric ``gain`` (:func:`curve_metrics`)."""
    out: list[Threshold] = []
    rows = swept(board)
    if rows.empty or gain is None or gain not in rows:
        return out
    for family, block in rows.groupby(FAMILY, sort=True, dropna=False):
        sizes = tuple(sorted(int(s) for s in block["train_size"].unique()))
        tests: dict[tuple, tuple[float, float]] = {}  # (severity, model, size) -> (gain, p)
        tested: dict[tuple, bool] = {}
        for (severity, size), group in block.groupby(["severity", "train_size"], sort=True):
            base = group[group["model"] == BASELINE]
            if base.empty or pd.isna(base.iloc[0][gain]):
                continue
            for _, row in group[(group["model"] != BASELINE) & group[gain].notna()].iterrows():
                found = evidence.compare(tuple(row[ROW]), tuple(base.iloc[0][ROW]), gain)
                gap = 100 * float(row[gain] - base.iloc[0][gain])
                tests[(int(severity), row["model"], int(size))] = (gap, found.p if found.about_models else math.nan)
                tested[(int(severity), row["model"])] = found.about_models
        order = sorted(tests)
        adjusted = dict(zip(order, holm([tests[k][1] for k in order])))
        for severity, model in sorted({(k[0], k[1]) for k in order}):
            gains = tuple(tests.get((severity, model, s), (math.nan, math.nan))[0] for s in sizes)
            ps = tuple(adjusted.get((severity, model, s), math.nan) for s in sizes)
            first = next((s for s, g, p in zip(sizes, gains, ps) if g > 0 and p < ALPHA), None)
            out.append(Threshold(tuple(family), severity, model, gain, first, sizes, gains, ps,
                                 tested.get((severity, model), False)))
    return out


def curve_title(family: tuple, board: pd.DataFrame, what: str) -> str:
    """``dataset · noise · what · profile · sizes · CNN budget`` of a curve family."""
    dataset, profile, budget, precision, noise = family
    rows = board[(board[FAMILY] == pd.Series(family, index=FAMILY)).all(axis=1)]
    sizes = "/".join(f"{int(s):,}" for s in sorted(rows["train_size"].unique()))
    protocol = {"steps": "CNN compute-matched", "epochs": "CNN equal epochs", "converged": "CNN converged"}.get(
        budget, f"CNN {budget}")
    parts = (dataset, noise, what, profile, f"{sizes} training images", protocol,
             precision if precision != "fp32" else "")
    return " · ".join(p for p in parts if p)


def curve_tables(aucs: pd.DataFrame, found: list[Threshold], board: pd.DataFrame, metrics: list[str]) -> list[Table]:
    """Per curve family: severity, model, each headline metric's area over log size with its interval, the
    gain over the baseline at each size and where the model starts to beat it."""
    tables = []
    by_family: dict[tuple, list[Threshold]] = {}
    for t in found:
        by_family.setdefault(t.family, []).append(t)
    for family, block in aucs.groupby(FAMILY, sort=True, dropna=False):
        shown = [m for m in metrics if m in set(block["metric"])]
        header = ["severity", "model", *(f"{m} AUC (log size)" for m in shown)]
        mine = {(t.severity, t.model): t for t in by_family.get(tuple(family), [])}
        sizes = next(iter(mine.values())).sizes if mine else ()
        if mine:
            gain = next(iter(mine.values())).metric
            header += [f"{gain} − baseline (points) at " + " / ".join(f"{s:,}" for s in sizes), "beats the baseline"]
        rows = []
        for (severity, model), curves in block.groupby(["severity", "model"], sort=True):
            by_metric = curves.set_index("metric")
            row = [(str(severity), ""), (str(model), "")]
            for m in shown:
                if m in by_metric.index:
                    r = by_metric.loc[m]
                    row.append((f"{r['auc']:.4g} [{r['auc_low']:.4g}, {r['auc_high']:.4g}]" if pd.notna(r["auc_low"])
                                else f"{r['auc']:.4g} (one seed: no interval)", ""))
                else:
                    row.append(("n/a", ""))
            if mine:
                t = mine.get((int(severity), model))
                if t is None:
                    row += [("", ""), ("baseline itself" if model == BASELINE else "n/a", "")]
                else:
                    gains = " / ".join("n/a" if math.isnan(g) else f"{g:+.1f}" for g in t.gains)
                    row += [(gains, ""), (t.text(), "best" if t.size is not None else "")]
            rows.append(row)
        tables.append(Table(curve_title(tuple(family), board, "learning curves"), header, rows,
                            dataset=family[0], noise=family[-1]))
    return tables


def threshold_lines(found: list[Threshold]) -> dict[tuple, list[str]]:
    """The verdict's sentences per curve family."""
    lines: dict[tuple, list[str]] = {}
    for t in found:
        what = (f"augmentation beats the baseline CNN ({t.metric}) {t.text()}" if t.size is not None else
                f"augmentation against the baseline CNN ({t.metric}): {t.text()}")
        lines.setdefault(t.family, []).append(f"s{t.severity} · {t.model}: {what}")
    return lines


def learning_curve_png(curves: pd.DataFrame, family: tuple) -> bytes | None:
    """One figure per curve family: a row per headline metric, a column per severity, a line per model
    with its 95% intervals against the training-set size (log axis); the baseline dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .figures import _png

    mine = curves[(curves[FAMILY] == pd.Series(family, index=FAMILY)).all(axis=1)]
    if mine.empty:
        return None
    metrics = list(dict.fromkeys(mine["metric"]))  # in the order curve_frame followed them
    severities = sorted(mine["severity"].unique())
    fig, axes = plt.subplots(len(metrics), len(severities), figsize=(3.4 * len(severities), 2.6 * len(metrics)),
                             squeeze=False)
    models = sorted(mine["model"].unique(), key=lambda m: (m == BASELINE, m))
    colours = {m: f"C{i}" for i, m in enumerate(models)}
    for i, metric in enumerate(metrics):
        for j, severity in enumerate(severities):
            ax = axes[i][j]
            for model in models:
                pts = mine[(mine["metric"] == metric) & (mine["severity"] == severity) & (mine["model"] == model)]
                pts = pts.sort_values("train_size")
                if pts.empty:
                    continue
                err = np.vstack([np.nan_to_num(pts["value"] - pts["ci_low"]), np.nan_to_num(pts["ci_high"] - pts["value"])])
                style = {"linestyle": "--", "color": "grey", "marker": "s"} if model == BASELINE else \
                    {"marker": "o", "color": colours[model]}
                ax.errorbar(pts["train_size"], pts["value"], yerr=err, capsize=3, linewidth=1.2, markersize=4,
                            label=model, **style)
            ax.set_xscale("log")
            sizes = sorted(mine["train_size"].unique())
            ax.set_xticks(sizes, [f"{int(s):,}" for s in sizes], fontsize=7)
            ax.minorticks_off()
            ax.tick_params(labelsize=7)
            ax.set_title(f"{metric} · s{severity}", fontsize=8)
            if i == len(metrics) - 1:
                ax.set_xlabel("training images", fontsize=8)
    handles, labels = axes[0][0].get_legend_handles_labels()
    for ax in axes.flat:  # every model that drew anywhere
        for h, label in zip(*ax.get_legend_handles_labels()):
            if label not in labels:
                handles.append(h)
                labels.append(label)
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=7)
    dataset, profile, budget, precision, noise = family
    fig.suptitle(f"{dataset} · {noise}: learning curves (95% intervals)\n{profile} profile, CNN {budget}"
                 f"{', ' + precision if precision != 'fp32' else ''}", fontsize=9)
    fig.tight_layout(rect=(0, 0.05, 1, 0.95))
    return _png(fig)


def curve_csv(aucs: pd.DataFrame, found: list[Threshold]) -> pd.DataFrame:
    """``learning_curves.csv``: one row per curve with its area and interval; the rows of the baseline
    comparison add the gain and Holm-corrected p-value at each size (NaN: not tested, one seed) and
    ``beats_baseline_from`` (empty: no supported gain within the sizes run, or not tested)."""
    extra = []
    for t in found:
        extra.append({**dict(zip(FAMILY, t.family)), "severity": t.severity, "model": t.model, "metric": t.metric,
                      "gains_points": ";".join(f"{g:.10g}" for g in t.gains),
                      "p_holm": ";".join(f"{p:.6g}" for p in t.p_holm),
                      "beats_baseline_from": t.size})
    if not extra:
        return aucs
    return aucs.merge(pd.DataFrame(extra), on=[*FAMILY, "severity", "model", "metric"], how="left")


def figure_name(family: tuple) -> str:
    """The learning-curve figure's file name under ``figures/``."""
    import re

    dataset, profile, budget, precision, noise = family
    tags = "".join(f"_{t}" for t, default in ((profile, "quick"), (f"cnn-{budget}", "cnn-converged"), (precision, "fp32"))
                   if t != default)
    return re.sub(r"[^A-Za-z0-9_.-]", "-", f"{dataset}_{noise}{tags}_learning_curves.png")
