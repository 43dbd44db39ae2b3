"""Claims the reports print have a measured false-positive rate: null experiments where the answer is "no
difference", run through the real tests, leaderboard, verdict and ranking code.

The null: two copies of one model (``ae`` and ``ae_twin``) that differ only in their initial weights. Their
results differ by training noise (a shift per model and seed, larger than test-image noise), by test-image
noise, and by persistent model × image effects shared across seeds; under the null no mark, bold, verdict
line or ranking position may separate them in more than 5% of replicates. The copies are simulated here so
that hundreds of replicates fit in the default test run, as fast checks of the machinery;
``benchmarks/test_null_training.py`` measures the rate on real copies trained on digits (dearer, run
separately), and that measurement is the one the README reports.
"""

from __future__ import annotations

import os
import re

import numpy as np
import pytest
from scipy import stats

from bench.result import CellResult
from bench.store import Items
from reports import leaderboard_frame, results_frame
from reports.leaderboard import Evidence
from reports.ranking import rankings
from reports.significance import compare_items
from reports.verdict import verdict

IMAGES = 400
#: Replicates of the three-seed null (about 1 s each on 2 cores): 40 in the default test run, more with
#: BENCH_NULL_SIM_REPLICATES=200 when measuring the rates themselves. 40 fail a family at 5 separating
#: replicates (12.5%), 60 at 7 (11.7%): a third fewer replicates cost the check almost nothing.
THREE_SEED_REPLICATES = int(os.environ.get("BENCH_NULL_SIM_REPLICATES", "40"))
NOISES = ("gaussian", "erasing")
SEVERITIES = (1, 3, 5)
COPIES = ("ae", "ae_twin")


def upper_bound(hits: int, n: int) -> float:
    """The one-sided 95% Clopper-Pearson upper bound of a rate."""
    return float(stats.binomtest(hits, n).proportion_ci(0.90, method="exact").high)  # one-sided 95%


def lower_bound(hits: int, n: int) -> float:
    return float(stats.binomtest(hits, n).proportion_ci(0.95, method="exact").low)


def two_equal_models(rng: np.random.Generator, seeds: int, *, binary: bool, seed_sd: float = 0.03,
                     persistent_sd: float = 0.3) -> tuple[dict, dict]:
    """Per-item values of two equally good models on ``seeds`` seeds scoring the same images: each model
    has its own persistent per-image effects (mean zero over images), each model × seed a training shift."""
    base = rng.normal(1.5, 1.0, IMAGES)
    out = []
    for _ in range(2):
        persistent = rng.normal(0, persistent_sd, IMAGES)
        by_seed = {}
        for s in range(seeds):
            logit = base + persistent + rng.normal(0, seed_sd * 10)
            if binary:
                by_seed[s] = rng.random(IMAGES) < 1 / (1 + np.exp(-logit))
            else:
                by_seed[s] = logit + rng.normal(0, 0.5, IMAGES)
        out.append(by_seed)
    return out[0], out[1]


@pytest.mark.parametrize("binary", [True, False], ids=["correctness", "per-image values"])
def test_the_seed_test_keeps_its_false_positive_rate_with_three_seeds_on_shared_images(binary):
    rng = np.random.default_rng(7)
    replicates = 400
    hits = sum(compare_items(*two_equal_models(rng, 3, binary=binary), "mcnemar" if binary else "paired-t").p < 0.05
               for _ in range(replicates))
    assert lower_bound(hits, replicates) <= 0.05, f"{hits} of {replicates} false positives"
    assert upper_bound(hits, replicates) < 0.10


def test_one_seed_tests_see_only_test_image_noise_and_separate_equal_models_often():
    """Why one seed makes no claim: McNemar on one seed separates two equal models whose training shifts
    differ far more often than 5% (the issue measured a third of pairs of real CNNs)."""
    rng = np.random.default_rng(3)
    replicates = 200
    hits = sum(compare_items(*two_equal_models(rng, 1, binary=True), "mcnemar").p < 0.05 for _ in range(replicates))
    assert lower_bound(hits, replicates) > 0.05


def _metric(name: str, family: str, value: float, higher: bool, *, test: str | None = None,
            items: str | None = None, detail: bool = False) -> dict:
    return {"metric": name, "family": family, "value": value, "ci95": 0.01, "n": IMAGES, "higher_is_better": higher,
            "unit": "", "detail": detail, "note": None, "test": test, "items": items}


def null_store(rng: np.random.Generator, seeds: int) -> tuple[list[CellResult], dict]:
    """A digits-like grid: the two copies and the baseline CNN × 2 noises × 3 severities × ``seeds``, with the
    headline of every family (psnr from per-image MSE, probe_acc, acc_noisy and acc_clean against the
    baseline, fid_prior without per-image values). Plain models: one trained model per seed scored under every
    noise, so their clean-input metrics repeat across blocks as they do in a real store."""
    records, items = [], {}
    draws: dict[tuple, tuple] = {}
    for model in (*COPIES, "baseline"):
        clean_mse = two_equal_models(rng, seeds, binary=False)[0]
        probe = two_equal_models(rng, seeds, binary=True)[0]
        acc_clean = two_equal_models(rng, seeds, binary=True)[0]
        fid = {s: 50 + rng.normal(0, 3) for s in range(seeds)}
        draws[model] = (clean_mse, probe, acc_clean, fid)
    for noise in NOISES:
        for severity in SEVERITIES:
            noisy = {m: two_equal_models(rng, seeds, binary=True)[0] for m in (*COPIES, "baseline")}
            mse_noise = {m: two_equal_models(rng, seeds, binary=False)[0] for m in COPIES}
            for model in (*COPIES, "baseline"):
                clean_mse, probe, acc_clean, fid = draws[model]
                for s in range(seeds):
                    key = f"{model}-{noise}-{severity}-{s}"
                    cell = {"key": key, "dataset": "digits", "model": model, "noise": noise, "severity": severity,
                            "seed": s, "profile": "quick", "train_size": 1347, "cnn_budget": "converged",
                            "precision": "fp32", "model_params": {}, "noise_params": {}}
                    ids = f"digits-test-{s}"
                    metrics = [_metric("acc_noisy", "augmentation", float(noisy[model][s].mean()), True,
                                       test="mcnemar", items="acc_noisy"),
                               _metric("acc_clean", "augmentation", float(acc_clean[s].mean()), True,
                                       test="mcnemar", items="acc_clean")]
                    items[(key, "acc_noisy")] = Items(ids, noisy[model][s])
                    items[(key, "acc_clean")] = Items(ids, acc_clean[s])
                    if model != "baseline":
                        mse = np.exp(-3 + 0.1 * (clean_mse[s] + mse_noise[model][s]))
                        metrics += [_metric("psnr", "reconstruction", float(-10 * np.log10(mse.mean())), True,
                                            test="paired-t", items="mse"),
                                    _metric("mse", "reconstruction", float(mse.mean()), False, test="paired-t",
                                            items="mse"),
                                    _metric("probe_acc", "latent", float(probe[s].mean()), True, test="mcnemar",
                                            items="probe_acc"),
                                    _metric("fid_prior", "generative", float(fid[s]), False)]
                        items[(key, "mse")] = Items(ids, mse)
                        items[(key, "probe_acc")] = Items(ids, probe[s])
                    records.append(CellResult.from_record({"cell": cell, "status": "done", "reason": None,
                                                           "metrics": metrics, "input_psnr": 20.0}))
    return records, items


SEPARATING = re.compile(r"ahead of|\(p = |the sign depends")
#: Each family's headline metric and the words its verdict lines start with.
FAMILIES = {"reconstruction": ("psnr", "reconstruction"), "latent": ("probe_acc", "latent separability"),
            "downstream": ("clf_denoised", "downstream"), "likelihood": ("iw_nll", "likelihood"),
            "augmentation": ("acc_noisy", "augmentation"), "generative": ("fid_prior", "generative quality")}


def separating_claims(cells: list[CellResult], items: dict) -> dict[str, list[str]]:
    """Per family, every mark, bold, verdict line and ranking position that tells the two copies apart (or,
    for the downstream family, that says samples change accuracy against an equally good baseline); the
    overall ranking under "overall"."""
    frame = results_frame(cells)
    evidence = Evidence.of(frame, items)  # built once, as a report does
    board = leaderboard_frame(frame, items, evidence=evidence)
    found: dict[str, list[str]] = {family: [] for family in (*FAMILIES, "overall")}
    for family, (metric, _) in FAMILIES.items():
        if f"{metric}_mark" not in board:
            continue
        rows = board[board["model"].isin(COPIES) & board[f"{metric}_mark"].isin(["best", "behind"])]
        found[family] += [f"{metric} {r['noise']} s{r['severity']} {r['model']}: {r[f'{metric}_mark']}"
                          for _, r in rows.iterrows()]
    for block in verdict(board, frame, cells, items, evidence=evidence):
        for line in block.lines:
            if not SEPARATING.search(line):
                continue
            family = next((f for f, (_, words) in FAMILIES.items() if line.startswith(words)), "augmentation")
            found[family].append(line)
    for r in rankings(board, frame, items, replicates=20, evidence=evidence):
        ranked = r.frame.set_index("model")
        if not all(m in ranked.index for m in COPIES):
            continue
        top, low = sorted(COPIES, key=lambda m: int(ranked.loc[m, "rank"]))
        between = ranked[(ranked["rank"] > ranked.loc[top, "rank"]) & (ranked["rank"] <= ranked.loc[low, "rank"])]
        if int(ranked.loc[low, "rank"]) > int(ranked.loc[top, "rank"]) and not between["could_swap_with_above"].all():
            found[r.family].append(f"ranking {r.family}: {low} placed below its twin")
    return found


def not_above_five_percent(hits: int, n: int) -> bool:
    """Whether a measured false-positive rate is consistent with at most 5%: the one-sided binomial test of
    "more than 5%" does not reject (its 95% lower bound is at most 5%)."""
    return stats.binomtest(hits, n, 0.05, alternative="greater").pvalue >= 0.05


@pytest.mark.parametrize("seeds,replicates", [(1, 20), (3, THREE_SEED_REPLICATES)], ids=["one seed", "three seeds"])
def test_two_copies_of_one_model_are_told_apart_in_at_most_5_percent_of_null_runs(seeds, replicates):
    rng = np.random.default_rng(100 + seeds)
    hits = {family: 0 for family in (*FAMILIES, "overall")}
    examples: dict[str, list[str]] = {family: [] for family in hits}
    for _ in range(replicates):
        for family, claims in separating_claims(*null_store(rng, seeds)).items():
            hits[family] += bool(claims)
            examples[family] += claims[:1]
    for family, count in hits.items():
        assert not_above_five_percent(count, replicates), (family, count, replicates, examples[family][:3])
    if seeds == 1:  # one seed claims nothing about models at all
        assert sum(hits.values()) == 0, examples


def test_a_real_difference_between_models_is_still_found_with_three_seeds():
    """The calibration is not bought by never claiming: a model 8 points more accurate on every seed is
    marked best, the verdict says it is ahead, and the twin is marked behind."""
    rng = np.random.default_rng(5)
    cells, items = null_store(rng, 3)
    better = []
    for cell in cells:
        if cell.cell["model"] != "ae_twin":
            better.append(cell)
            continue
        key = cell.cell["key"]
        right = items[(key, "probe_acc")].values.copy()
        wrong = np.flatnonzero(~right)
        right[wrong[: int(0.6 * len(wrong))]] = True
        items[(key, "probe_acc")] = Items(items[(key, "probe_acc")].items_id, right)
        metrics = [dict(m, value=float(right.mean())) if m["metric"] == "probe_acc" else m for m in cell.metrics]
        better.append(CellResult.from_record({**cell.record(), "metrics": metrics}))
    frame = results_frame(better)
    board = leaderboard_frame(frame, items)
    twin = board[(board["model"] == "ae_twin")]
    assert (twin["probe_acc_mark"] == "best").all()
    assert (board.loc[board["model"] == "ae", "probe_acc_mark"] == "behind").all()
    lines = [line for block in verdict(board, frame, better, items) for line in block.lines]
    assert any("latent separability (probe_acc ↑): s1: ae_twin" in line and "ahead of" in line for line in lines)
