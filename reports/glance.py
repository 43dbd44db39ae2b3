"""The answer on top: one "at a glance" table per dataset and protocol, rows noise × severity, a column per
family's headline metric, each cell naming the models that could be the best there (from the leaderboard's
marks, :func:`reports.leaderboard.leaderboard_frame`): bold when the test names one."""

from __future__ import annotations

from typing import Any

import pandas as pd

from .leaderboard import Table, headlines, markdown_table, metric_meta, size_text

#: A glance table per dataset and protocol: its rows are every noise × severity of it.
BY = ["dataset", "profile", "train_size", "cnn_budget", "precision"]

GLANCE_LEGEND = ("At a glance: per noise and severity, the model that is best by each family's headline metric "
                 "(**bold**: the test names it, the others are behind it), or the models the test cannot separate "
                 "(≈, each could be the best), with their means over seeds; \"untested\" where the run has one seed "
                 "or no values to test, with the leader by its mean. The tables below give every metric with its "
                 "interval.")


def _names(rows: pd.DataFrame, metric: str) -> tuple[str, str]:
    """A glance cell: the text and its mark ("best" when one model is named)."""
    rows = rows[rows[metric].notna()]
    if rows.empty:
        return "n/a", ""
    marks = rows[f"{metric}_mark"]
    value = lambda r: f"{r['model']} ({r[metric]:.4g})"  # noqa: E731
    best = rows[marks == "best"]
    if len(best) == 1:
        return value(best.iloc[0]), "best"
    tied = rows[marks.isin(["best", "possibly best"])]
    if len(tied):
        ordered = tied.sort_values(f"{metric}_rank", kind="stable")
        return " ≈ ".join(value(r) for _, r in ordered.iterrows()), ""
    if len(rows) == 1:
        return f"{value(rows.iloc[0])} (the only model)", ""
    leader = rows.sort_values(f"{metric}_rank", kind="stable").iloc[0]
    return f"{value(leader)} leads (untested)", ""


def glance_tables(board: pd.DataFrame, results: pd.DataFrame, protocol: dict[tuple, Any] | None = None) -> list[Table]:
    """One table per dataset × profile × training-set size × CNN budget × precision (:data:`BY`), rows noise ×
    severity, a column per family whose headline the board holds; empty for an empty board. ``protocol``:
    :func:`reports.leaderboard.protocols` of the cells (the training-set size each used). A family that
    trains no CNN has the same rows under every CNN budget: its column is shown in each table."""
    if board.empty:
        return []
    meta = metric_meta(results)
    heads = {family: metric for family, metric in headlines(meta).items() if metric in board}
    titles = dict(zip(meta["family"], meta["title"]))
    arrows = {m: "↑" if h else "↓" for m, h in zip(meta["metric"], meta["higher_is_better"])}
    tables = []
    for (dataset, profile, size, budget, precision), block in board.groupby(BY, sort=True, dropna=False):
        size_key = size
        columns = [(f, m) for f, m in heads.items() if block[m].notna().any()]
        if not columns:
            continue
        rows = []
        for (noise, severity), group in block.groupby(["noise", "severity"], sort=True):
            rows.append([(str(noise), ""), (str(severity), ""), *(_names(group, m) for _, m in columns)])
        seeds = int(block["seeds"].max())
        size = (protocol or {}).get(("used", profile, size, budget, precision), size)
        cnn = "" if budget == "converged" and precision == "fp32" else f" · CNN {budget}, {precision}"
        title = (f"{dataset} at a glance · {profile} · {size_text(size)}{cnn} · {seeds} seed"
                 f"{'s' * (seeds != 1)}: the model(s) that could be the best")
        header = ["noise", "severity", *(f"{titles.get(f, f).split(':')[0]}: {m} {arrows.get(m, '')}"
                                         for f, m in columns)]
        found = board.attrs.get("claims", {})
        notes = [found[(dataset, profile, size_key, budget, precision, m)].note(m) for _, m in columns
                 if (dataset, profile, size_key, budget, precision, m) in found]
        tables.append(Table(title, header, rows, [n for n in notes if n], dataset=dataset))
    return tables


def render_glance_markdown(tables: list[Table]) -> list[str]:
    """The "at a glance" tables, first in ``leaderboard.md``, their legend below them."""
    if not tables:
        return []
    return [*(line for t in tables for line in markdown_table(t, "##")), GLANCE_LEGEND, ""]
