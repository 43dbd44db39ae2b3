"""Cost beside quality: per dataset × model × training-set size what the model costs (parameters and forward
FLOPs per image measured on the trained model, training seconds per epoch, and where ``bench time``
measured them, onnxruntime latency at batch 1 and throughput at the largest batch), as leaderboard columns,
a cost table, and per dataset × family a quality-against-cost figure with the Pareto front named."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from bench.result import CellResult
from registry import BASELINE

from .leaderboard import Table, cell_size

KEY = ["dataset", "model", "train_size"]
COLUMNS = ["params", "flops_per_image", "train_s_per_epoch", "ort_ms_batch1", "ort_images_per_s", "ort_batch"]
#: The axes a Pareto figure puts quality against: (column, label, log scale).
AXES = (("flops_per_image", "forward FLOPs per image", True), ("train_s_per_epoch", "training s/epoch", True),
        ("ort_ms_batch1", "onnxruntime ms at batch 1", True))


def cost_frame(cells: list[CellResult], timings: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per dataset × model × training-set size with :data:`COLUMNS` (NaN where not measured).
    Training seconds per epoch are the mean over the cells that trained (or loaded the checkpoint of) a
    model of that size; a denoising model trained once per noise counts each training."""
    rows: dict[tuple, dict[str, list[float]]] = {}
    for r in cells:
        if r.status != "done" or r.cell["model"] == BASELINE:
            continue
        found = rows.setdefault((r.cell["dataset"], r.cell["model"], cell_size(r.cell)), {})
        if r.footprint is not None:
            found.setdefault("params", []).append(r.footprint.params)
            found.setdefault("flops_per_image", []).append(r.footprint.flops_per_image)
        if r.training is not None and r.training.epochs and r.training.seconds:
            found.setdefault("per_epoch", {})[r.training.checkpoint] = r.training.seconds / r.training.epochs
    ort = _ort(timings)
    out = []
    for (dataset, model, size), found in rows.items():
        row = {"dataset": dataset, "model": model, "train_size": size,
               "params": float(np.median(found["params"])) if "params" in found else math.nan,
               "flops_per_image": float(np.median(found["flops_per_image"])) if "flops_per_image" in found else math.nan,
               "train_s_per_epoch": float(np.mean(list(found["per_epoch"].values()))) if "per_epoch" in found else math.nan,
               **ort.get((dataset, model), {"ort_ms_batch1": math.nan, "ort_images_per_s": math.nan, "ort_batch": math.nan})}
        out.append(row)
    return pd.DataFrame(out, columns=[*KEY, *COLUMNS])


def _ort(timings: list[dict[str, Any]]) -> dict[tuple, dict[str, float]]:
    """Per (dataset, model): onnxruntime median latency at batch 1 and images/s at the largest batch timed,
    from the latest measurement of each variant (averaged over a model's variants)."""
    if not timings:
        return {}
    frame = pd.DataFrame([{k: t[k] for k in ("dataset", "model", "variant", "backend", "batch_size", "threads",
                                             "median_ms", "images_per_s", "machine")} for t in timings])
    frame = frame[frame["backend"] == "onnxruntime"].drop_duplicates(["dataset", "variant", "batch_size"], keep="last")
    out = {}
    for (dataset, model), group in frame.groupby(["dataset", "model"]):
        one = group[group["batch_size"] == 1]
        largest = group[group["batch_size"] == group["batch_size"].max()]
        out[(dataset, model)] = {"ort_ms_batch1": float(one["median_ms"].mean()) if not one.empty else math.nan,
                                 "ort_images_per_s": float(largest["images_per_s"].mean()),
                                 "ort_batch": float(largest["batch_size"].iloc[0])}
    return out


def with_costs(board: pd.DataFrame, costs: pd.DataFrame) -> pd.DataFrame:
    """The leaderboard with the cost columns of each row's model and size."""
    if board.empty:
        return board
    return board.merge(costs, on=KEY, how="left")


def _number(value: float, fmt: str) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, fmt)


def cost_tables(costs: pd.DataFrame) -> list[Table]:
    """Per dataset: one row per model × training-set size."""
    tables = []
    for dataset, block in costs.groupby("dataset", sort=True):
        batch = block["ort_batch"].dropna()
        header = ["model", "training images", "parameters", "MFLOPs / image", "training s / epoch",
                  "onnxruntime ms (batch 1)",
                  f"onnxruntime images/s (batch {int(batch.max())})" if not batch.empty else "onnxruntime images/s"]
        rows = [[(str(r["model"]), ""), (f"{int(r['train_size']):,}", ""), (_number(r["params"], ",.0f"), ""),
                 (_number(r["flops_per_image"] / 1e6, ".3g"), ""), (_number(r["train_s_per_epoch"], ".3g"), ""),
                 (_number(r["ort_ms_batch1"], ".3g"), ""), (_number(r["ort_images_per_s"], ",.0f"), "")]
                for _, r in block.sort_values(["model", "train_size"]).iterrows()]
        notes = [] if block["ort_ms_batch1"].notna().any() else [
            "no onnxruntime timing in this store: run `bench time` on it to fill the last two columns"]
        tables.append(Table(f"{dataset} · cost per model", header, rows, notes, dataset=dataset))
    return tables


def pareto_front(cost: np.ndarray, quality: np.ndarray) -> np.ndarray:
    """Whether each point is on the front: no other point is at most as costly and at least as good, and
    strictly better in one of the two."""
    on = np.ones(len(cost), bool)
    for i in range(len(cost)):
        dominated = (cost <= cost[i]) & (quality >= quality[i]) & ((cost < cost[i]) | (quality > quality[i]))
        on[i] = not dominated.any()
    return on


def quality_frame(board: pd.DataFrame, headline: dict[str, str], higher: dict[str, bool]) -> pd.DataFrame:
    """Per dataset × family × model: the headline metric averaged over the conditions every model of the
    family has (noise × severity × size, at the largest size only for the cost axes that depend on it)."""
    rows = []
    for dataset, block in board.groupby("dataset", sort=True):
        for family, metric in headline.items():
            if metric not in block:
                continue
            values = block[block["model"] != BASELINE].pivot_table(
                index=["noise", "severity", "train_size"], columns="model", values=metric, aggfunc="mean").dropna()
            if values.empty or values.shape[1] < 2:
                continue
            for model in values.columns:
                rows.append({"dataset": dataset, "family": family, "metric": metric, "model": model,
                             "quality": float(values[model].mean()), "higher_is_better": higher.get(metric, True),
                             "conditions": len(values)})
    return pd.DataFrame(rows, columns=["dataset", "family", "metric", "model", "quality", "higher_is_better",
                                       "conditions"])


def pareto_png(quality: pd.DataFrame, costs: pd.DataFrame, dataset: str, family: str) -> bytes | None:
    """Quality against each measured cost (a panel per cost); the models on the Pareto front named in bold
    and joined by a line, the others named in grey."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .figures import _png

    q = quality[(quality["dataset"] == dataset) & (quality["family"] == family)]
    if q.empty:
        return None
    largest = costs[costs["dataset"] == dataset].sort_values("train_size").drop_duplicates("model", keep="last")
    merged = q.merge(largest, on=["dataset", "model"], how="left")
    axes_used = [a for a in AXES if merged[a[0]].notna().sum() >= 2]
    if not axes_used:
        return None
    metric, higher = q["metric"].iloc[0], bool(q["higher_is_better"].iloc[0])
    fig, axes = plt.subplots(1, len(axes_used), figsize=(4.2 * len(axes_used), 3.4), squeeze=False)
    for ax, (column, label, log) in zip(axes[0], axes_used):
        pts = merged[merged[column].notna()]
        cost, value = pts[column].to_numpy(float), pts["quality"].to_numpy(float)
        front = pareto_front(cost, value if higher else -value)
        ax.scatter(cost[~front], value[~front], color="#999", s=25)
        ax.scatter(cost[front], value[front], color="C0", s=35, zorder=3)
        order = np.argsort(cost[front])
        ax.plot(cost[front][order], value[front][order], color="C0", linewidth=1, zorder=2)
        for c, v, name, on in zip(cost, value, pts["model"], front):
            ax.annotate(name, (c, v), textcoords="offset points", xytext=(4, 3), fontsize=7,
                        fontweight="bold" if on else "normal", color="black" if on else "#777")
        if log and (cost > 0).all() and cost.max() > 10 * cost.min():  # a narrow range reads better linear
            ax.set_xscale("log")
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4)) if ax.get_xscale() == "linear" else None
        ax.set_xlabel(label + (" (largest size)" if column == "train_s_per_epoch" else ""), fontsize=8)
        ax.set_ylabel(f"{metric} {'↑' if higher else '↓'} (mean over conditions)", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle(f"{dataset} · {family}: quality against cost; the Pareto front in blue, named in bold", fontsize=9)
    fig.tight_layout()
    return _png(fig)
