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
    FAMILY_OF_CLAIMS,
    ROW,
    TABLE,
    Evidence,
    declared,
    headlines,
    protocols,
    size_text,
    table_order,
    table_title,
)
from .significance import ALPHA, MIN_SEEDS, Comparison, holm

PROTOCOL_NAMES = {"converged": "converged", "steps": "compute-matched", "epochs": "equal-epochs"}


@dataclass
class VerdictBlock:
    """A titled list of plain-text lines (renderers escape and mark them up)."""

    title: str
    lines: list[str] = field(default_factory=list)


def _number(value: float, unit: str) -> str:
    return f"{value:.4g}" + (f" {unit}" if unit else "")


def _best_lines(block: pd.DataFrame, meta: pd.DataFrame) -> list[str]:
    """Per family's headline metric and severity, the models that could be the best (the leaderboard's
    marks); with one seed, that no model is named best and what the claim needs."""
    lines: list[str] = []
    one_seed: list[str] = []
    by_name = meta.set_index("metric")
    for family, metric in headlines(meta).items():
        if metric not in block or metric not in by_name.index or block[metric].isna().all():
            continue
        m = by_name.loc[metric]
        arrow = "↑" if m["higher_is_better"] else "↓"
        what = f"{m['title']} ({metric} {arrow})"
        rows_all = block[block[metric].notna()]
        if not m["baseline"]:  # the baseline CNN's rows compete only in a family that scores them
            rows_all = rows_all[rows_all["model"] != BASELINE]
        if not rows_all[f"{metric}_mark"].isin(["best", "possibly best", "behind"]).any():
            seeds = int(rows_all["seeds"].max()) if not rows_all.empty else 0
            if rows_all["model"].nunique() > 1 and seeds < MIN_SEEDS:
                one_seed.append(f"{metric} {arrow}")
            elif rows_all["model"].nunique() > 1:
                lines.append(f"{what}: no model is named best: the rows share no seeds to test them on")
            continue
        parts = []
        for severity, rows in rows_all.groupby("severity", sort=True):
            marks = dict(zip(rows["model"], rows[f"{metric}_mark"]))
            values = dict(zip(rows["model"], rows[metric]))
            could = sorted((mod for mod, mk in marks.items() if mk in ("best", "possibly best")),
                           key=lambda mod: (-values[mod] if m["higher_is_better"] else values[mod], mod))
            untested = sorted(mod for mod, mk in marks.items() if mk == "untested")
            if not could:
                continue
            if len(could) == 1 and len(rows) > 1:
                text = (f"s{severity}: {could[0]} ({_number(values[could[0]], m['unit'])}), ahead of "
                        f"{'every other model' if not untested else 'every other tested model'} with support")
            elif len(could) == 1:
                text = f"s{severity}: {could[0]} ({_number(values[could[0]], m['unit'])}), the only model"
            else:
                text = (f"s{severity}: no model is supported as best; could be: "
                        + ", ".join(f"{mod} ({_number(values[mod], m['unit'])})" for mod in could))
            if untested:
                text += f" (no test for {', '.join(untested)})"
            parts.append(text)
        if parts:
            lines.append(f"{what}: " + "; ".join(parts))
    if one_seed:
        lines.insert(0, f"no model is named best by {', '.join(one_seed)}: with one seed a difference between models "
                        f"is not tested against training noise (needs --seeds {MIN_SEEDS} or more; the quick profile "
                        "runs 3)")
    return lines


def _contrast_lines(block: pd.DataFrame, evidence: Evidence, contrasts: list[dict]) -> list[str]:
    """What the families declare as contrasts (:class:`registry.Contrast`: one distance against two references,
    such as the FIDs of samples against the noisy and the clean test images, computed for a noisy training
    set): which reference is nearer, said with a paired t over seeds, Holm-corrected over the block's
    contrast lines; with one seed, the two values and "not tested"."""
    from .significance import compare_seeds

    found = []
    for c in contrasts:
        near, far = c["metric"], c["against"]
        if near not in block or far not in block:
            continue
        for _, row in block[block[near].notna()].sort_values(["model", "severity"]).iterrows():
            if pd.isna(row[far]):
                continue
            key = tuple(row[ROW])
            found.append((c, row, compare_seeds(evidence.values.get((*key, near), {}),
                                                evidence.values.get((*key, far), {}))))
    adjusted = holm([test.p if test.about_models else math.nan for _, _, test in found])
    lines = []
    for (c, row, test), p in zip(found, adjusted):
        near, far = c["metric"], c["against"]
        closer = c["near"] if row[near] < row[far] else c["far"]
        values = f"{near} {row[near]:.4g} against {c['near']}, {far} {row[far]:.4g} against {c['far']}"
        what = f"{c['subject']} of {row['model']}"
        if not test.about_models:
            lines.append(f"s{row['severity']}: {what}: {values} (one seed: not tested; needs --seeds {MIN_SEEDS} "
                         "or more)")
        elif p < ALPHA:
            lines.append(f"s{row['severity']}: {what} are closer to {closer} ({values}, p = {p:.2g}, Holm): "
                         f"{c['claim'] if closer == c['near'] else c['counterclaim']}")
        else:
            lines.append(f"s{row['severity']}: {what}: no supported difference between their distance to "
                         f"{c['near']} and to {c['far']} ({values}, p = {p:.2g}, Holm)")
    return lines


def _change(what: str, comparison: tuple[float, Comparison], p_adj: float) -> str:
    points = 100 * comparison[0]
    if not comparison[1].about_models:
        return f"{what} {points:+.1f} points (one seed: not tested)"
    if math.isnan(p_adj):
        return f"{what} by {points:+.1f} points (no test)"
    if p_adj < ALPHA:
        return f"{what} by {points:+.1f} points (p = {p_adj:.2g})"
    return f"{what}: no supported change ({points:+.1f} points, p = {p_adj:.2g})"


def _augmentation_tests(block: pd.DataFrame, evidence: Evidence, gains: list[str]) -> dict[tuple, tuple[float, Comparison]]:
    """Per (model, severity, metric of ``gains``: what the families declare ``compares``) the gap of the
    means to the baseline row of the same group and its test; a gap the same at every severity (one CNN
    behind them all, as a VAE's clean accuracy) is one test (severity None)."""
    tests: dict[tuple[str, int | None, str], tuple[float, Comparison]] = {}
    for severity, rows in block.groupby("severity", sort=True):
        base = rows[rows["model"] == BASELINE]
        if base.empty:
            continue
        base_row = tuple(base.iloc[0][ROW])
        for _, row in rows[rows["model"] != BASELINE].iterrows():
            for metric in gains:
                if metric in row and pd.notna(row[metric]) and pd.notna(base.iloc[0].get(metric)):
                    tests[(row["model"], int(severity), metric)] = (
                        float(row[metric] - base.iloc[0][metric]), evidence.compare(tuple(row[ROW]), base_row, metric))
    for model, metric in {(m, g) for m, _, g in tests}:  # one CNN behind every severity: one test
        same = {k: c for k, c in tests.items() if k[0] == model and k[2] == metric}
        if len(same) > 1 and len({(gap, c.p) for gap, c in same.values()}) == 1:
            first = same[min(same)]
            for k in same:
                del tests[k]
            tests[(model, None, metric)] = first
    return tests


def _augmentation_lines(tests: dict[tuple, tuple[float, Comparison]], adjusted: dict[tuple, float],
                        budget: str, labels: dict[str, str]) -> list[str]:
    """What each model's samples change against the baseline CNN of the same protocol, per metric the
    families declare ``compares`` (``labels``: each metric in words): once when one CNN serves every
    severity (a VAE's clean accuracy), else at each severity. ``adjusted``: Holm's correction over every such
    test of the dataset and protocol."""
    protocol = PROTOCOL_NAMES.get(budget, budget)
    order = sorted(tests, key=lambda k: (k[0], -1 if k[1] is None else k[1], k[2]))
    lines = []
    for model in sorted({k[0] for k in order}):
        mine = [k for k in order if k[0] == model]
        if not any(tests[k][1].about_models for k in mine):  # one seed: the gaps, in one line, without a claim
            gaps = ", ".join(f"{labels.get(k[2], k[2])}{'' if k[1] is None else f' s{k[1]}'} "
                             f"{100 * tests[k][0]:+.1f}" for k in mine)
            lines.append(f"samples from {model} against the {protocol} baseline, in accuracy points (one seed: not "
                         f"tested): {gaps}")
            continue
        for k in (k for k in mine if k[1] is None):
            lines.append(f"samples from {model} change " + _change(labels.get(k[2], k[2]), tests[k], adjusted[k])
                         + f" against the {protocol} baseline (one CNN for every severity)")
        for severity in sorted({k[1] for k in mine if k[1] is not None}):
            parts = [_change(f"{labels.get(k[2], k[2])} at s{severity}", tests[k], adjusted[k])
                     for k in mine if k[1] == severity]
            lines.append(f"s{severity}: samples from {model} change " + " and ".join(parts)
                         + f" against the {protocol} baseline")
    return lines


def _disagreements(tests: dict[tuple, dict], adjusted: dict[tuple, dict], labels: dict[str, str],
                   sizes: int) -> list[str]:
    """Gains over the baseline (the metrics the families declare ``compares``: clean accuracy, accuracy on
    the noisy test set) whose sign differs between two CNN protocols of the same grid, said only where each
    of the two gains is itself supported (its Holm-adjusted test in its protocol's family, ``adjusted``, below
    0.05) with opposite signs: then the two protocols' own claims disagree, and no test is chosen after
    looking at the signs. ``tests`` and ``adjusted``: per verdict table (:data:`TABLE`), per (model, severity
    or None, metric) the gain and its test."""
    by_protocol: dict[tuple, dict[str, tuple[float, float, Comparison]]] = {}
    budget_at = TABLE.index("cnn_budget")
    for key, found in tests.items():
        rest = key[:budget_at] + key[budget_at + 1:]
        for k, (gain, c) in found.items():
            by_protocol.setdefault((*rest, *k), {})[key[budget_at]] = (gain, adjusted[key].get(k, math.nan), c)
    lines, untested = [], 0
    for key, by_budget in sorted(by_protocol.items(), key=lambda kv: str(kv[0])):
        dataset, profile, size, precision, noise, model, severity, metric = key
        budgets = sorted(by_budget)
        for i, a in enumerate(budgets):
            for b in budgets[i + 1:]:
                (gain_a, p_a, c_a), (gain_b, p_b, c_b) = by_budget[a], by_budget[b]
                if gain_a * gain_b >= 0:
                    continue
                if not (c_a.about_models and c_b.about_models):
                    untested += 1
                    continue
                if not (p_a < ALPHA and p_b < ALPHA):
                    continue
                at = f" · {size_text(size)}" if sizes > 1 else ""
                label = labels.get(metric, metric).replace(" ", "-")
                what = label if severity is None else f"s{severity} {label}"
                lines.append(f"{dataset}{at} · {noise} · {model}: {what} gain {100 * gain_a:+.1f} points under "
                             f"{PROTOCOL_NAMES.get(a, a)} (p = {p_a:.2g}), {100 * gain_b:+.1f} under "
                             f"{PROTOCOL_NAMES.get(b, b)} (p = {p_b:.2g}): the sign depends on the protocol")
    if untested:
        lines.append(f"{untested} gain{'s' * (untested != 1)} change{'s' * (untested == 1)} sign between protocols on "
                     f"the seeds run; whether that is more than training noise needs --seeds {MIN_SEEDS} or more")
    return lines


def verdict(board: pd.DataFrame, results: pd.DataFrame, cells: list[CellResult],
            items: dict | None, thresholds: list | None = None, *,
            evidence: Evidence | None = None) -> list[VerdictBlock]:
    """The verdict blocks of a store's leaderboard, in table order; ``thresholds``
    (:func:`reports.curves.thresholds`) add where each model starts to beat the baseline."""
    if board.empty:
        return []
    evidence = evidence or Evidence.of(results, items)
    meta = evidence.metrics
    protocol = protocols(cells)
    ordered = sorted(board.groupby(TABLE), key=lambda kv: table_order(kv[0]))
    gains = list(meta.loc[meta["compares"], "metric"])
    labels = dict(zip(meta["metric"], meta["label"]))
    contrasts = [c for family in declared(results).values() for c in family.get("contrasts") or ()]
    tests = {key: _augmentation_tests(block, evidence, gains) for key, block in ordered}
    adjusted: dict[tuple, dict] = {key: {} for key in tests}
    families: dict[tuple, list[tuple]] = {}
    for key, found in tests.items():
        for k, (_, c) in found.items():
            if c.about_models:
                families.setdefault(key[:len(FAMILY_OF_CLAIMS)], []).append((key, k))
            else:
                adjusted[key][k] = math.nan
    for members in families.values():
        for (key, k), p in zip(members, holm([tests[key][k][1].p for key, k in members])):
            adjusted[key][k] = p
    blocks = []
    for key, block in ordered:
        lines = (_best_lines(block, meta)
                 + _augmentation_lines(tests[key], adjusted[key], key[TABLE.index("cnn_budget")], labels)
                 + _contrast_lines(block, evidence, contrasts))
        if lines:
            blocks.append(VerdictBlock(table_title(key, protocol, ""), lines))
    for family, lines in sorted(threshold_lines(thresholds or []).items()):
        blocks.append(VerdictBlock(curve_title(family, board, "where augmentation starts to beat the baseline"),
                                   lines))
    disagreements = _disagreements(tests, adjusted, labels, board["train_size"].nunique())
    if disagreements:
        blocks.append(VerdictBlock("Where two CNN protocols disagree on the sign of a gain", disagreements))
    return blocks


def verdict_preamble(board: pd.DataFrame) -> str:
    seeds = int(board["seeds"].max()) if "seeds" in board and not board.empty else 0
    base = ("Per family's headline metric, the models that could be the best at each severity (the "
            "leaderboard's marks: a t over seeds, the seed variance pooled over the models of the condition, "
            "Holm-corrected over every pair of models and every "
            "noise × severity of the dataset and protocol), and what each model's samples change against the "
            "baseline CNN (Holm over the dataset and protocol).")
    if seeds < MIN_SEEDS:
        base += (f" This run has {seeds} seed{'s' * (seeds != 1)}: no claim about models is made, because training "
                 "noise (initial weights, batch order, sample draws) moves these numbers more than the test images "
                 f"do and one seed cannot measure it. Claims need --seeds {MIN_SEEDS} or more (the quick profile "
                 "runs 3).")
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
