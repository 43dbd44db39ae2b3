"""Leaderboards from cell records: ``results.csv`` (long), ``leaderboard.csv`` (wide), ``leaderboard.md``.

A record is what the runner stores for one cell: ``{"cell": {...}, "status", "reason", "metrics": [
{"metric", "family", "value", "ci95", "n", "higher_is_better", "unit", "detail", "note"}, ...],
"input_psnr", "figures", ...}``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable

import pandas as pd
from scipy import stats
from tabulate import tabulate

from .figures import write_accuracy_figures

CELL_COLUMNS = ["dataset", "model", "noise", "severity", "seed", "profile"]
METRIC_COLUMNS = ["metric", "family", "value", "ci95", "n", "higher_is_better", "unit", "detail", "note"]
GROUP = ["dataset", "noise", "severity"]  # models are ranked against each other within a group
ROW = ["dataset", "noise", "severity", "model"]
FAMILY_TITLES = {"reconstruction": "reconstruction", "latent": "latent separability",
                 "likelihood": "likelihood (VAEs)", "downstream": "downstream accuracy (generative augmentation)"}


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
            rows.append({**base, **{c: None for c in METRIC_COLUMNS}})
        rows.extend({**base, **{c: m.get(c) for c in METRIC_COLUMNS}} for m in metrics)
    columns = ["key", *CELL_COLUMNS, "model_params", "noise_params", *METRIC_COLUMNS, "input_psnr", "status",
               "reason", "wall_s"]
    return pd.DataFrame(rows, columns=columns)


def _metric_meta(results: pd.DataFrame) -> pd.DataFrame:
    """Metric name, family, direction and whether it is a breakdown, in the order they first appear."""
    done = results[(results["status"] == "done") & results["metric"].notna()]
    meta = done.drop_duplicates("metric")[["metric", "family", "higher_is_better", "unit", "detail"]]
    order = {family: i for i, family in enumerate(FAMILY_TITLES)}
    meta = meta.assign(detail=meta["detail"].fillna(False).astype(bool),
                       _order=meta["family"].map(order).fillna(len(order)))
    return meta.sort_values("_order", kind="stable").drop(columns="_order").reset_index(drop=True)


def _interval(group: pd.DataFrame) -> float:
    """95% interval half-width: over seeds (Student t) when there are several, else over test items."""
    values = group["value"].dropna()
    k = len(values)
    if k > 1:
        return float(stats.t.ppf(0.975, k - 1) * values.std(ddof=1) / math.sqrt(k))
    return float(group["ci95"].iloc[0]) if k == 1 else float("nan")


def leaderboard_frame(results: pd.DataFrame) -> pd.DataFrame:
    """One row per dataset × noise × severity × model; per metric its mean over seeds, the interval
    (``<metric>_ci95``) and the rank among models of its group (``<metric>_rank``, 1 is best)."""
    done = results[(results["status"] == "done") & results["metric"].notna()]
    meta = _metric_meta(results)
    if done.empty:
        return pd.DataFrame(columns=ROW)
    done = done.assign(value=pd.to_numeric(done["value"]), ci95=pd.to_numeric(done["ci95"]))
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
    return board[ordered].sort_values(ROW, kind="stable").reset_index(drop=True)


def _fmt(value: float, ci: float) -> str:
    if value is None or pd.isna(value):
        return "n/a"
    text = f"{value:.4g}"
    return text if ci is None or pd.isna(ci) else f"{text} ± {ci:.2g}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    return tabulate(rows, headers=header, tablefmt="github", disable_numparse=True)


def _escape(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _family_section(block: pd.DataFrame, fam: pd.DataFrame, results: pd.DataFrame) -> list[str]:
    names = list(fam["metric"])
    rows_with_values = block[block[names].notna().any(axis=1)]
    notes = results[results["metric"].isin(names) & results["note"].notna()
                    & results["dataset"].eq(block["dataset"].iloc[0]) & results["noise"].eq(block["noise"].iloc[0])]
    if rows_with_values.empty and notes.empty:
        return []
    first = names[0]
    rows_with_values = rows_with_values.sort_values(["severity", f"{first}_rank", "model"], na_position="last")
    header = ["severity", "model", "input PSNR (dB)"]
    header += [f"{m['metric']} {'↑' if m['higher_is_better'] else '↓'}" + (f" ({m['unit']})" if m["unit"] else "")
               for _, m in fam.iterrows()]
    rows = []
    for _, row in rows_with_values.iterrows():
        cells = [str(row["severity"]), row["model"], f"{row['input_psnr']:.2f}"]
        for name in names:
            text = _fmt(row[name], row[f"{name}_ci95"])
            best = pd.notna(row[f"{name}_rank"]) and row[f"{name}_rank"] == 1
            cells.append(f"**{text}**" if best else text)
        rows.append(cells)
    lines = [_table(header, rows), ""] if rows else []
    for (model, note), group in notes.groupby(["model", "note"], sort=True):
        metrics = ", ".join(dict.fromkeys(group["metric"]))
        lines.append(f"- n/a for `{model}` ({metrics}): {_escape(note)}")
    return lines + ([""] if not notes.empty else [])


MATCHED = ("psnr", "acc_noisy")  # the metrics compared across noises at matched severity


def _matched_severity(board: pd.DataFrame, meta: pd.DataFrame) -> list[str]:
    """Per dataset and metric: models × severity against noises. Severities are calibrated to the same
    input PSNR for every noise, so a row compares noise types at equal strength."""
    lines: list[str] = []
    for metric in (m for m in MATCHED if m in set(meta["metric"])):
        arrow = "↑" if bool(meta.set_index("metric").loc[metric, "higher_is_better"]) else "↓"
        for dataset, block in board[board["severity"] > 0].groupby("dataset", sort=True):
            wide = block.pivot_table(index=["severity", "model"], columns="noise", values=metric, aggfunc="mean")
            wide = wide.dropna(how="all")
            if wide.empty or wide.shape[1] < 2:
                continue
            rows = [[str(sev), model, *(_fmt(v, None) for v in values)]
                    for (sev, model), values in zip(wide.index, wide.to_numpy())]
            lines += [f"## {dataset} · {metric} {arrow} by noise at matched severity", "",
                      _table(["severity", "model", *wide.columns], rows), ""]
    return lines


def render_markdown(board: pd.DataFrame, results: pd.DataFrame) -> str:
    """Markdown: for each dataset and noise, one section per metric family with one table; the best
    value of each metric at a severity is bold. Not-applicable metrics say why; failed cells are listed
    with their reasons."""
    meta = _metric_meta(results)
    shown = meta[~meta["detail"]]
    lines = ["# Leaderboard", ""]
    if board.empty:
        lines += ["No cell finished.", ""]
    else:
        lines += ["Values are means with 95% intervals (over seeds when there are several, else over test "
                  "images). ↑ higher is better, ↓ lower is better; **bold** is the best model at that "
                  "severity. `input PSNR` is the noisy input against the clean image. `baseline` is the "
                  "reference CNN trained on the limited subset alone.", ""]
    for (dataset, noise), block in board.groupby(["dataset", "noise"], sort=True):
        for family, fam in shown.groupby("family", sort=False):
            section = _family_section(block, fam, results)
            if section:
                lines += [f"## {dataset} · {noise} · {FAMILY_TITLES.get(family, family)}", "", *section]
    lines += _matched_severity(board, meta)
    failed = results[results["status"] != "done"].drop_duplicates("key")
    if not failed.empty:
        lines += ["## Cells skipped or failed", ""]
        rows = [[r["dataset"], r["model"], r["noise"], str(r["severity"]), str(r["seed"]), r["status"],
                 _escape(r["reason"])] for _, r in failed.iterrows()]
        lines += [_table(["dataset", "model", "noise", "severity", "seed", "status", "reason"], rows), ""]
    return "\n".join(lines)


def _figure_notes(records: list[dict[str, Any]]) -> str:
    """The figures a cell could not draw, with the reason (e.g. a 1-D latent has no t-SNE)."""
    rows = [[r["cell"]["dataset"], r["cell"]["model"], r["cell"]["noise"], str(r["cell"]["severity"]),
             str(r["cell"]["seed"]), kind, _escape(value)]
            for r in records for kind, value in (r.get("figures") or {}).items()
            if str(value).startswith("not applicable")]
    if not rows:
        return ""
    header = ["dataset", "model", "noise", "severity", "seed", "figure", "why"]
    return "\n".join(["## Figures not drawn", "", _table(header, rows), ""])


def write_reports(records: list[dict[str, Any]], out_dir: Path) -> list[Path]:
    """Write ``results.csv``, ``leaderboard.csv``, ``leaderboard.md`` and the accuracy figures."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = results_frame(records)
    board = leaderboard_frame(results)
    paths = [out_dir / "results.csv", out_dir / "leaderboard.csv", out_dir / "leaderboard.md"]
    results.to_csv(paths[0], index=False)
    board.to_csv(paths[1], index=False)
    paths[2].write_text(render_markdown(board, results) + _figure_notes(records), encoding="utf-8")
    figure_paths = {r["cell"]["key"]: r["figures"]["accuracy"] for r in records
                    if r["status"] == "done" and "accuracy" in (r.get("figures") or {})}
    write_accuracy_figures(results, out_dir, figure_paths)
    return paths
