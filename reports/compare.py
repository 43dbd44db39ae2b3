"""``bench compare RUN_A RUN_B``: the same leaderboard rows of two stores side by side, per metric."""

from __future__ import annotations

import pandas as pd
from tabulate import tabulate

from bench.result import CellResult
from registry import SelectionError, select

from .leaderboard import ROW, leaderboard_frame, metric_meta, results_frame


def _long(cells: list[CellResult]) -> tuple[pd.DataFrame, pd.DataFrame]:
    results = results_frame(cells)
    board = leaderboard_frame(results)
    meta = metric_meta(results)
    names = [m for m in meta.loc[~meta["detail"], "metric"] if m in board]
    if board.empty or not names:
        return pd.DataFrame(columns=[*ROW, "metric", "value", "seeds"]), meta
    long = board.melt(id_vars=[*ROW, "seeds"], value_vars=names, var_name="metric", value_name="value")
    return long.dropna(subset=["value"]), meta


def compare(cells_a: list[CellResult], cells_b: list[CellResult], *,
            metrics: str | None = None) -> pd.DataFrame:
    """One row per leaderboard row × metric present in both: A, B, B − A, and which side is better by
    the metric's direction ("=" when equal)."""
    a, meta_a = _long(cells_a)
    b, meta_b = _long(cells_b)
    meta = pd.concat([meta_a, meta_b]).drop_duplicates("metric").set_index("metric")
    both = a.merge(b, on=[*ROW, "metric"], suffixes=("_a", "_b"))
    if metrics:
        chosen = select(metrics, sorted(set(a["metric"]) | set(b["metric"])), "metric")
        both = both[both["metric"].isin(chosen)]
    if both.empty:
        raise SelectionError("the two runs have no leaderboard row in common (same dataset, profile, noise, "
                             "severity and model); compare runs of the same grid")
    delta = both["value_b"] - both["value_a"]
    higher = both["metric"].map(meta["higher_is_better"]).astype(bool)
    better = pd.Series("=", index=both.index)
    better[(delta > 0) == higher] = "B"
    better[(delta < 0) == higher] = "A"
    better[delta == 0] = "="
    order = {m: i for i, m in enumerate(meta.index)}
    out = both.assign(delta=delta, better=better, _o=both["metric"].map(order))
    out = out.sort_values([*ROW[:-1], "_o", "model"], kind="stable").drop(columns="_o")
    return out[[*ROW, "metric", "seeds_a", "value_a", "seeds_b", "value_b", "delta", "better"]].reset_index(drop=True)


def render(table: pd.DataFrame, fmt: str, names: tuple[str, str]) -> str:
    if fmt == "csv":
        return table.to_csv(index=False).rstrip("\n")
    rows = [[r["dataset"], r["profile"], r["cnn_budget"] + ("" if r["precision"] == "fp32" else f" {r['precision']}"),
             r["noise"], r["severity"], r["model"], r["metric"], f"{r['value_a']:.4g}", f"{r['value_b']:.4g}",
             f"{r['delta']:+.3g}", r["better"]] for _, r in table.iterrows()]
    header = ["dataset", "profile", "CNN budget", "noise", "severity", "model", "metric", "A", "B", "B − A", "better"]
    return f"A = {names[0]}\nB = {names[1]}\n\n" + tabulate(rows, headers=header, tablefmt="github",
                                                             disable_numparse=True)
