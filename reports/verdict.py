"""The verdict at the top of ``leaderboard.md`` and ``report.html``: per dataset × noise × protocol and
metric family, the best model at each severity and the models a test cannot separate from it; for the
augmentation protocol, what the samples of each model change against the baseline CNN trained under the
same budget, with the p-value, or "no supported change"; and where the two CNN budgets disagree on the
sign of a gain."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bench.result import CellResult
from registry import BASELINE

from .curves import curve_title, threshold_lines
from .leaderboard import (
    FAMILY_OF_CLAIMS,
    GROUP,
    ROW,
    TABLE,
    Evidence,
    declared,
    headlines,
    metric_meta,
    protocols,
    size_text,
    table_order,
    table_title,
)
from .significance import ALPHA, MIN_SEEDS, Comparison, holm, seeds_images_t

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
                        f"is not tested against training noise (needs --seeds {MIN_SEEDS} or more; 3 recommended)")
    return lines


def _contrast_lines(block: pd.DataFrame, evidence: Evidence, contrasts: list[dict]) -> list[str]:
    """What the families declare as contrasts (:class:`registry.Contrast`: one distance against two references,
    such as the FIDs of samples against the noisy and the clean test images, computed for a noisy training
    set): which reference is nearer, said with a paired t over seeds; with one seed, the two values and "not
    tested"."""
    from .significance import compare_seeds

    lines = []
    for c in contrasts:
        near, far = c["metric"], c["against"]
        if near not in block or far not in block:
            continue
        for _, row in block[block[near].notna()].sort_values(["model", "severity"]).iterrows():
            if pd.isna(row[far]):
                continue
            key = tuple(row[ROW])
            test = compare_seeds(evidence.values.get((*key, near), {}), evidence.values.get((*key, far), {}))
            closer = c["near"] if row[near] < row[far] else c["far"]
            values = f"{near} {row[near]:.4g} against {c['near']}, {far} {row[far]:.4g} against {c['far']}"
            what = f"{c['subject']} of {row['model']}"
            if not test.about_models:
                lines.append(f"s{row['severity']}: {what}: {values} (one seed: not tested; needs --seeds {MIN_SEEDS} "
                             "or more)")
            elif test.p < ALPHA:
                lines.append(f"s{row['severity']}: {what} are closer to {closer} ({values}, p = {test.p:.2g}): "
                             f"{c['claim'] if closer == c['near'] else c['counterclaim']}")
            else:
                lines.append(f"s{row['severity']}: {what}: no supported difference between their distance to "
                             f"{c['near']} and to {c['far']} ({values}, p = {test.p:.2g})")
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


def _gain_difference(evidence: Evidence, rows: dict[str, tuple], bases: dict[str, tuple], metric: str,
                     first: str, second: str) -> tuple[float, int]:
    """The p-value that a model's gain over its baseline differs between two CNN protocols, from the
    per-image correctness of the four CNNs on the seeds all four have (t over seeds and images), and the
    number of those seeds."""
    name = evidence.meta.at[metric, "items"] if metric in evidence.meta.index else None
    if not isinstance(name, str):
        return math.nan, 0
    vectors = {(b, w): evidence.vectors(r, name) for b, pair in ((first, (rows[first], bases[first])),
                                                               (second, (rows[second], bases[second])))
               for w, r in zip(("model", "base"), pair)}
    seeds = sorted(set.intersection(*(set(v) for v in vectors.values())))
    seeds = [s for s in seeds if len({len(v[s].values) for v in vectors.values()}) == 1]
    if len(seeds) < MIN_SEEDS:
        return math.nan, len(seeds)
    per_seed = np.stack([
        (vectors[(first, "model")][s].values.astype(float) - vectors[(first, "base")][s].values.astype(float))
        - (vectors[(second, "model")][s].values.astype(float) - vectors[(second, "base")][s].values.astype(float))
        for s in seeds])
    return seeds_images_t(per_seed)[2], len(seeds)


def _disagreements(board: pd.DataFrame, evidence: Evidence, gains: list[str], labels: dict[str, str]) -> list[str]:
    """Gains over the baseline (the metrics the families declare ``compares``: clean accuracy, accuracy on
    the noisy test set) whose sign differs between two CNN protocols of the same grid, said only where the
    difference between the two gains is supported (t over seeds and images, Holm over every such pair). A
    gain the same at every severity (one CNN behind them all, as a VAE's clean accuracy) is said once,
    without a severity."""
    budgets = sorted(board["cnn_budget"].unique())
    if len(budgets) < 2:
        return []
    keys = ["dataset", "profile", "train_size", "precision", "noise", "model"]
    found: dict[tuple, dict[str, tuple]] = {}  # (*keys, metric, severity) -> budget -> (gain, row, base row)
    for _, row in board[board["model"] != BASELINE].iterrows():
        base = board[(board[GROUP] == row[GROUP]).all(axis=1) & (board["model"] == BASELINE)]
        if base.empty:
            continue
        for metric in gains:
            if metric in row and pd.notna(row[metric]) and pd.notna(base.iloc[0].get(metric)):
                found.setdefault((*row[keys], metric, int(row["severity"])), {})[row["cnn_budget"]] = (
                    100 * (row[metric] - base.iloc[0][metric]), tuple(row[ROW]), tuple(base.iloc[0][ROW]))
    candidates, untested = [], 0
    said: set[tuple] = set()
    per_severity: dict[tuple, set] = {}  # (*keys, metric, a, b) -> the distinct pairs of gains over severities
    for key, by_budget in found.items():
        for a, b in ((a, b) for i, a in enumerate(budgets) for b in budgets[i + 1:]):
            if a in by_budget and b in by_budget:
                per_severity.setdefault((*key[:-1], a, b), set()).add(
                    (round(by_budget[a][0], 9), round(by_budget[b][0], 9)))
    severities = {key[:-1]: 0 for key in found}
    for key in found:
        severities[key[:-1]] += 1
    for key, by_budget in sorted(found.items()):
        (dataset, profile, size, precision, noise, model, metric, severity) = key
        for a, b in ((a, b) for i, a in enumerate(budgets) for b in budgets[i + 1:]):
            if a not in by_budget or b not in by_budget or by_budget[a][0] * by_budget[b][0] >= 0:
                continue
            pair = (round(by_budget[a][0], 9), round(by_budget[b][0], 9))
            once = (dataset, profile, size, precision, noise, model, metric, a, b, pair)
            if once in said:
                continue
            said.add(once)
            p, _ = _gain_difference(evidence, {a: by_budget[a][1], b: by_budget[b][1]},
                                    {a: by_budget[a][2], b: by_budget[b][2]}, metric, a, b)
            if math.isnan(p):
                untested += 1
                continue
            candidates.append((key, a, b, by_budget[a][0], by_budget[b][0], p))
    adjusted = holm([c[-1] for c in candidates])
    lines = []
    sizes = board["train_size"].nunique()
    for (key, a, b, gain_a, gain_b, _), p in zip(candidates, adjusted):
        if not p < ALPHA:
            continue
        dataset, profile, size, precision, noise, model, metric, severity = key
        at = f" · {size_text(size)}" if sizes > 1 else ""
        label = labels.get(metric, metric).replace(" ", "-")
        constant = severities[key[:-1]] > 1 and len(per_severity[(*key[:-1], a, b)]) == 1
        what = label if constant else f"s{severity} {label}"
        lines.append(f"{dataset}{at} · {noise} · {model}: {what} gain {gain_a:+.1f} points under "
                     f"{PROTOCOL_NAMES.get(a, a)}, {gain_b:+.1f} under {PROTOCOL_NAMES.get(b, b)}: the sign depends "
                     f"on the protocol (difference of the gains p = {p:.2g})")
    if untested:
        lines.append(f"{untested} gain{'s' * (untested != 1)} change{'s' * (untested == 1)} sign between protocols on "
                     f"the seeds run; whether that is more than training noise needs --seeds {MIN_SEEDS} or more")
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
    disagreements = _disagreements(board, evidence, gains, labels)
    if disagreements:
        blocks.append(VerdictBlock("Where two CNN protocols disagree on the sign of a gain", disagreements))
    return blocks


def verdict_preamble(board: pd.DataFrame) -> str:
    seeds = int(board["seeds"].max()) if "seeds" in board and not board.empty else 0
    base = ("Per family's headline metric, the models that could be the best at each severity (a t over seeds "
            "and test images, Bonferroni-corrected over every pair of models and every noise × severity of the "
            "dataset and protocol), and what each model's samples change against the baseline CNN (Holm over "
            "the dataset and protocol).")
    if seeds < MIN_SEEDS:
        base += (f" This run has {seeds} seed{'s' * (seeds != 1)}: no claim about models is made, because training "
                 "noise (initial weights, batch order, sample draws) moves these numbers more than the test images "
                 f"do and one seed cannot measure it. Claims need --seeds {MIN_SEEDS} or more; --seeds 3 is "
                 "recommended.")
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
