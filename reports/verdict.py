"""The verdict at the top of ``leaderboard.md`` and ``report.html``: per dataset × noise × protocol and
metric family, the best model at each severity and the models a test cannot separate from it; for the
augmentation protocol, what the samples of each model change against the baseline CNN trained under the
same budget, with the p-value, or "no supported change"; and where the two CNN budgets disagree on the
sign of a gain."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from bench.result import CellResult
from registry import BASELINE

from .curves import curve_title, threshold_lines
from .leaderboard import (
    FAMILY_TITLES,
    GROUP,
    ROW,
    TABLE,
    Evidence,
    metric_meta,
    protocols,
    size_text,
    table_order,
    table_title,
)
from .significance import ALPHA, Comparison, holm

#: The metric that decides "best" in each family's line of the verdict.
HEADLINE = {"reconstruction": "psnr", "latent": "probe_acc", "likelihood": "iw_nll", "downstream": "acc_noisy",
            "generative": "fid_prior"}
#: Accuracies the augmentation sentences report, against the baseline CNN.
GAINS = ("acc_clean", "acc_noisy")


@dataclass
class VerdictBlock:
    """A titled list of plain-text lines (renderers escape and mark them up)."""

    title: str
    lines: list[str] = field(default_factory=list)


def _number(value: float, unit: str) -> str:
    return f"{value:.4g}" + (f" {unit}" if unit else "")


def _best_lines(block: pd.DataFrame, meta: pd.DataFrame) -> list[str]:
    lines = []
    by_name = meta.set_index("metric")
    for family, metric in HEADLINE.items():
        if metric not in block or metric not in by_name.index or block[metric].isna().all():
            continue
        m = by_name.loc[metric]
        arrow = "↑" if m["higher_is_better"] else "↓"
        parts = []
        for severity, rows in block.groupby("severity", sort=True):
            rows = rows[rows[metric].notna()]
            if family != "downstream":
                rows = rows[rows["model"] != BASELINE]
            best = rows[rows[f"{metric}_rank"] == 1].sort_values("model")
            if best.empty:
                continue
            top = best.iloc[0]
            tied = sorted(rows.loc[rows[f"{metric}_tied"].fillna(False).astype(bool), "model"])
            others = rows[rows["model"] != top["model"]]
            untested = sorted(others.loc[others[f"{metric}_p_holm"].isna(), "model"])
            text = f"s{severity}: {top['model']} ({_number(top[metric], m['unit'])})"
            if tied:
                text += f", tied with {', '.join(tied)}"
            elif not untested and not others.empty:
                text += ", ahead of every other model"
            if untested:
                text += f" (no test against {', '.join(untested)})"
            parts.append(text)
        if parts:
            lines.append(f"{FAMILY_TITLES[family]} ({metric} {arrow}): " + "; ".join(parts))
    return lines


def _inheritance_lines(block: pd.DataFrame) -> list[str]:
    """For models trained on a noisy training set (``--train-noise``): do their samples look more like the
    noisy test images than like the clean ones (FID in the domain feature space against each)?"""
    lines = []
    for source, what in (("prior", "prior samples"), ("aug", "augmentation samples")):
        noisy = f"fid_{source}_noisy"
        if noisy not in block:
            continue
        for _, row in block[block[noisy].notna()].sort_values(["model", "severity"]).iterrows():
            clean = row.get(f"fid_{source}")
            if pd.isna(clean):
                continue
            inherits = row[noisy] < clean
            lines.append(f"s{row['severity']}: {what} of {row['model']} are closer to the "
                         f"{'noisy' if inherits else 'clean'} test images (FID {row[noisy]:.4g} against the noisy, "
                         f"{clean:.4g} against the clean): they {'inherit' if inherits else 'do not inherit'} "
                         "the training set's noise (a comparison of two FIDs, without a test)")
    return lines


def _change(what: str, comparison: tuple[float, Comparison], p_holm: float) -> str:
    points = 100 * comparison[0]
    if math.isnan(p_holm):
        return f"{what} by {points:+.1f} points (no test)"
    if p_holm < ALPHA:
        return f"{what} by {points:+.1f} points (p = {p_holm:.2g})"
    return f"{what}: no supported change ({points:+.1f} points, p = {p_holm:.2g})"


def _augmentation_lines(block: pd.DataFrame, evidence: Evidence, budget: str) -> list[str]:
    """Per model what its samples change against the baseline row of the same group: clean accuracy
    (once when one CNN serves every severity, as a VAE's does) and accuracy on the noisy test set at
    each severity. Holm's correction runs over every test of the block."""
    protocol = "compute-matched" if budget == "steps" else "equal-epochs"
    tests: dict[tuple[str, int | None, str], tuple[float, Comparison]] = {}  # (gap of the means, test)
    for severity, rows in block.groupby("severity", sort=True):
        base = rows[rows["model"] == BASELINE]
        if base.empty:
            continue
        base_row = tuple(base.iloc[0][ROW])
        for _, row in rows[rows["model"] != BASELINE].iterrows():
            for metric in GAINS:
                if metric in row and pd.notna(row[metric]) and pd.notna(base.iloc[0].get(metric)):
                    tests[(row["model"], int(severity), metric)] = (
                        float(row[metric] - base.iloc[0][metric]), evidence.compare(tuple(row[ROW]), base_row, metric))
    for model in {m for m, _, _ in tests}:  # one CNN behind every severity: one clean-accuracy test
        clean = {k: c for k, c in tests.items() if k[0] == model and k[2] == "acc_clean"}
        if len(clean) > 1 and len({(gap, c.p) for gap, c in clean.values()}) == 1:
            first = clean[min(clean)]
            for k in clean:
                del tests[k]
            tests[(model, None, "acc_clean")] = first
    if not tests:
        return []
    order = sorted(tests, key=lambda k: (k[0], -1 if k[1] is None else k[1], k[2]))
    adjusted = dict(zip(order, holm([tests[k][1].p for k in order])))
    lines = []
    for model in sorted({k[0] for k in order}):
        mine = [k for k in order if k[0] == model]
        shared = [k for k in mine if k[1] is None]
        if shared:
            lines.append(f"samples from {model} change " + _change("clean accuracy", tests[shared[0]],
                                                                    adjusted[shared[0]])
                         + f" against the {protocol} baseline (one CNN for every severity)")
        for severity in sorted({k[1] for k in mine if k[1] is not None}):
            parts = [_change("clean accuracy" if metric == "acc_clean" else f"accuracy at s{severity}",
                             tests[(model, severity, metric)], adjusted[(model, severity, metric)])
                     for metric in GAINS if (model, severity, metric) in tests]
            lines.append(f"s{severity}: samples from {model} change " + " and ".join(parts)
                         + f" against the {protocol} baseline")
    return lines


def _disagreements(board: pd.DataFrame, evidence: Evidence) -> list[str]:
    """Gains over the baseline (clean accuracy, accuracy on the noisy test set) whose sign differs between
    the two CNN budgets of the same grid. A clean-accuracy gain the same at every severity (one CNN behind
    them all, as a VAE's) is said once."""
    if board["cnn_budget"].nunique() < 2:
        return []
    keys = ["dataset", "profile", "train_size", "precision", "noise", "model"]
    gains: dict[tuple, dict[str, float]] = {}  # (*keys, metric, severity) -> gain by budget
    for _, row in board[board["model"] != BASELINE].iterrows():
        base = board[(board[GROUP] == row[GROUP]).all(axis=1) & (board["model"] == BASELINE)]
        if base.empty:
            continue
        for metric in GAINS:
            if metric in row and pd.notna(row[metric]) and pd.notna(base.iloc[0].get(metric)):
                gains.setdefault((*row[keys], metric, int(row["severity"])), {})[row["cnn_budget"]] = \
                    100 * (row[metric] - base.iloc[0][metric])
    def pair(gain: dict[str, float]) -> tuple:
        return round(gain.get("steps", math.nan), 9), round(gain.get("epochs", math.nan), 9)

    clean_pairs: dict[tuple, set[tuple]] = {}
    for (*where, metric, _), gain in gains.items():
        if metric == "acc_clean":
            clean_pairs.setdefault(tuple(where), set()).add(pair(gain))
    lines = []
    said: set[tuple] = set()
    sizes = board["train_size"].nunique()
    for (dataset, profile, size, precision, noise, model, metric, severity), by_budget in sorted(gains.items()):
        steps, epochs = by_budget.get("steps"), by_budget.get("epochs")
        if steps is None or epochs is None or steps * epochs >= 0:
            continue
        at = f" · {size_text(size)}" if sizes > 1 else ""
        where, what = f"{dataset}{at} · {noise} s{severity}", "noisy-accuracy"
        if metric == "acc_clean":
            what = "clean-accuracy"
            group = (dataset, profile, size, precision, noise, model)
            if len(clean_pairs[group]) == 1:  # one clean accuracy behind every severity: said once
                if group in said:
                    continue
                said.add(group)
                where = f"{dataset}{at} · {noise}"
        lines.append(f"{where} · {model}: {what} gain {epochs:+.1f} points under equal epochs, {steps:+.1f} "
                     "under compute-matched steps: the sign depends on the protocol")
    return lines


def verdict(board: pd.DataFrame, results: pd.DataFrame, cells: list[CellResult],
            items: dict | None, thresholds: list | None = None) -> list[VerdictBlock]:
    """The verdict blocks of a store's leaderboard, in table order; ``thresholds``
    (:func:`reports.curves.thresholds`) add where each model starts to beat the baseline."""
    if board.empty:
        return []
    meta = metric_meta(results)
    evidence = Evidence.of(results, items)
    protocol = protocols(cells)
    blocks = []
    for key, block in sorted(board.groupby(TABLE), key=lambda kv: table_order(kv[0])):
        lines = (_best_lines(block, meta) + _augmentation_lines(block, evidence, key[TABLE.index("cnn_budget")])
                 + _inheritance_lines(block))
        if lines:
            blocks.append(VerdictBlock(table_title(key, protocol, ""), lines))
    for family, lines in sorted(threshold_lines(thresholds or []).items()):
        blocks.append(VerdictBlock(curve_title(family, board, "where augmentation starts to beat the baseline"),
                                   lines))
    disagreements = _disagreements(board, evidence)
    if disagreements:
        blocks.append(VerdictBlock("Where the two CNN budgets disagree on the sign of a gain", disagreements))
    return blocks


def verdict_preamble(board: pd.DataFrame) -> str:
    seeds = int(board["seeds"].max()) if "seeds" in board and not board.empty else 0
    base = ("Best model per severity by each family's headline metric, and the models a paired test (Holm-"
            "corrected over the rows of the table) cannot separate from it.")
    if seeds <= 1:
        base += (" One seed: ties and supported gaps speak of test-image noise only; another seed can still "
                 "move a model that training noise favoured (run with --seeds 3).")
    return base


def render_verdict_markdown(blocks: list[VerdictBlock], board: pd.DataFrame) -> list[str]:
    if not blocks:
        return []
    lines = ["## Verdict", "", verdict_preamble(board), ""]
    for block in blocks:
        lines += [f"### {block.title}", ""]
        lines += [f"- {line}".replace("|", "\\|") for line in block.lines]
        lines.append("")
    return lines
