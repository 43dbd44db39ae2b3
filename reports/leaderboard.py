"""Leaderboards from cell records: ``results.csv`` (long), ``leaderboard.csv`` (wide), ``leaderboard.md``.

A record is what the runner stores for one cell: ``{"cell": {...}, "status", "reason", "metrics": [
{"metric", "family", "value", "ci95", "n", "higher_is_better", "unit"}, ...], "input_psnr", ...}``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable

import pandas as pd
from scipy import stats
from tabulate import tabulate

CELL_COLUMNS = ["dataset", "model", "noise", "severity", "seed", "profile"]
GROUP = ["dataset", "noise", "severity"]  # models are ranked against each other within a group
ROW = ["dataset", "noise", "severity", "model"]


def results_frame(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per cell × metric with the cell's parameters; a failed cell keeps one row with its reason."""
    rows = []
    for record in records:
        cell = record["cell"]
        base = {
            "key": cell["key"],
            **{c: cell[c] for c in CELL_COLUMNS},
            "model_params": json.dumps(cell["model_params"], sort_keys=True),
            "noise_params": json.dumps(cell["noise_params"], sort_keys=True),
            "input_psnr": record.get("input_psnr"),
            "status": record["status"],
            "reason": record.get("reason"),
            "wall_s": record.get("wall_s"),
        }
        metrics = record.get("metrics") or []
        if not metrics:
            rows.append({**base, "metric": None, "family": None, "value": None, "ci95": None, "n": None,
                         "higher_is_better": None, "unit": None})
        rows.extend({**base, **m} for m in metrics)
    columns = ["key", *CELL_COLUMNS, "model_params", "noise_params", "metric", "family", "value", "ci95",
               "n", "higher_is_better", "unit", "input_psnr", "status", "reason", "wall_s"]
    return pd.DataFrame(rows, columns=columns)


def _metric_meta(results: pd.DataFrame) -> pd.DataFrame:
    """Metric name, family and direction, in the order the metrics first appear."""
    done = results[results["status"] == "done"]
    return done.drop_duplicates("metric")[["metric", "family", "higher_is_better", "unit"]].reset_index(drop=True)


def _interval(group: pd.DataFrame) -> float:
    """95% interval half-width: over seeds (Student t) when there are several, else over test items."""
    k = len(group)
    if k > 1:
        return float(stats.t.ppf(0.975, k - 1) * group["value"].std(ddof=1) / math.sqrt(k))
    return float(group["ci95"].iloc[0])


def leaderboard_frame(results: pd.DataFrame) -> pd.DataFrame:
    """One row per dataset × noise × severity × model; per metric its mean over seeds, the interval
    (``<metric>_ci95``) and the rank among models of its group (``<metric>_rank``, 1 is best)."""
    done = results[(results["status"] == "done") & results["metric"].notna()]
    meta = _metric_meta(results)
    if done.empty:
        return pd.DataFrame(columns=ROW)
    grouped = done.groupby([*ROW, "metric"], sort=False)
    summary = grouped["value"].mean().to_frame("value")
    summary["ci95"] = grouped[["value", "ci95"]].apply(_interval)
    wide = summary["value"].unstack("metric")
    ci = summary["ci95"].unstack("metric").add_suffix("_ci95")
    extra = done.groupby(ROW).agg(seeds=("seed", "nunique"), input_psnr=("input_psnr", "mean")).reset_index()
    board = wide.join(ci).reset_index().merge(extra, on=ROW)
    for _, m in meta.iterrows():
        name = m["metric"]
        board[f"{name}_rank"] = board.groupby(GROUP)[name].rank(
            ascending=not bool(m["higher_is_better"]), method="min").astype("Int64")
    ordered = ROW + ["seeds", "input_psnr"]
    for name in meta["metric"]:
        ordered += [name, f"{name}_ci95", f"{name}_rank"]
    board = board[ordered]
    first = meta["metric"].iloc[0] if len(meta) else None
    sort_by = GROUP + ([f"{first}_rank"] if first else []) + ["model"]
    return board.sort_values(sort_by, kind="stable").reset_index(drop=True)


def _fmt(value: float, ci: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    text = f"{value:.4g}"
    return text if ci is None or math.isnan(ci) else f"{text} ± {ci:.2g}"


def render_markdown(board: pd.DataFrame, results: pd.DataFrame) -> str:
    """Markdown: one section per dataset and noise, one table per metric family; the best value of
    each metric in a severity is bold. Failed cells are listed with their reasons."""
    meta = _metric_meta(results)
    lines = ["# Leaderboard", ""]
    if board.empty:
        lines += ["No cell finished.", ""]
    else:
        lines += ["Values are means with 95% intervals (over seeds when there are several, else over test "
                  "images). ↑ higher is better, ↓ lower is better; **bold** is the best model at that "
                  "severity. `input PSNR` is the noisy input against the clean image.", ""]
    for (dataset, noise), block in board.groupby(["dataset", "noise"], sort=True):
        for family, fam in meta.groupby("family", sort=False):
            lines += [f"## {dataset} · {noise} · {family}", ""]
            header = ["severity", "model", "input PSNR (dB)"]
            header += [f"{m['metric']} {'↑' if m['higher_is_better'] else '↓'}" + (f" ({m['unit']})" if m["unit"] else "")
                       for _, m in fam.iterrows()]
            rows = []
            for _, row in block.iterrows():
                cells = [str(row["severity"]), row["model"], f"{row['input_psnr']:.2f}"]
                for name in fam["metric"]:
                    text = _fmt(row[name], row[f"{name}_ci95"])
                    best = pd.notna(row[f"{name}_rank"]) and row[f"{name}_rank"] == 1
                    cells.append(f"**{text}**" if best else text)
                rows.append(cells)
            lines += [_table(header, rows), ""]
    failed = results[results["status"] != "done"].drop_duplicates("key")
    if not failed.empty:
        lines += ["## Cells that did not finish", ""]
        rows = [[r["dataset"], r["model"], r["noise"], str(r["severity"]), str(r["seed"]), r["status"],
                 str(r["reason"]).replace("|", "\\|").replace("\n", " ")] for _, r in failed.iterrows()]
        lines += [_table(["dataset", "model", "noise", "severity", "seed", "status", "reason"], rows), ""]
    return "\n".join(lines)


def _table(header: list[str], rows: list[list[str]]) -> str:
    return tabulate(rows, headers=header, tablefmt="github", disable_numparse=True)


def write_reports(records: list[dict[str, Any]], out_dir: Path) -> list[Path]:
    """Write ``results.csv``, ``leaderboard.csv`` and ``leaderboard.md`` into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = results_frame(records)
    board = leaderboard_frame(results)
    paths = [out_dir / "results.csv", out_dir / "leaderboard.csv", out_dir / "leaderboard.md"]
    results.to_csv(paths[0], index=False)
    board.to_csv(paths[1], index=False)
    paths[2].write_text(render_markdown(board, results), encoding="utf-8")
    return paths
