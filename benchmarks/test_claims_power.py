"""How often the leaderboard's marks find real differences: pairs of models with a real gap on digits, each
effect measured in seed standard deviations over 20 seeds, and the share of random 2-, 3- and 5-seed subsets
of those seeds in which the family test (:mod:`reports.significance`) marks the better model ahead of the
worse, within the default table (ae, dae, vae, dvae × gaussian, erasing × severities 1, 3, 5).

Dear (20 seeds of the grid, about 15 minutes on 2 cores; then a leaderboard per subset), so run separately:
``BENCH_POWER_STORE=/some/dir pytest benchmarks/test_claims_power.py --benchmark-only -n 0 -s`` (the store is
kept there and reused; BENCH_POWER_SUBSETS: subsets per seed count, default 60).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from replicates import Pair, board_of, decision, run_seeds, select

from bench.store import open_store
from reports.leaderboard import Evidence, results_frame

SEEDS = list(range(20))
MODELS = ("ae", "dae", "vae", "dvae")
SUBSETS = int(os.environ.get("BENCH_POWER_SUBSETS", "60"))
PAIRS = [
    Pair("psnr", "gaussian", 5, "dae", "ae"),
    Pair("psnr", "erasing", 5, "dae", "ae"),
    Pair("psnr", "erasing", 3, "dae", "dvae"),
    Pair("psnr", "gaussian", 1, "ae", "vae"),
    Pair("clf_denoised", "erasing", 5, "dae", "ae"),
    Pair("clf_denoised", "gaussian", 3, "ae", "dae"),
    Pair("clf_denoised", "gaussian", 1, "ae", "vae"),
    Pair("probe_acc", "gaussian", 3, "ae", "dae"),
]


def effect(cells, items, pair: Pair) -> float:
    """The pair's mean per-seed difference over every seed, in standard deviations of the per-seed
    difference (on the tested scale: per-image MSE for PSNR)."""
    frame = results_frame(cells)
    evidence = Evidence.of(frame, items)
    rows = {}
    for row in evidence.keys:
        if row[-3] == pair.noise and row[-2] == pair.severity and row[-1] in (pair.better, pair.worse):
            rows[row[-1]] = row
    found = evidence.paired(rows[pair.better], rows[pair.worse], pair.metric)
    return float(found.diffs.mean() / found.diffs.std(ddof=1))


def test_three_seeds_mark_real_differences_of_a_few_seed_deviations(benchmark, tmp_path):
    out = Path(os.environ.get("BENCH_POWER_STORE", tmp_path / "power"))
    run_seeds(out, ",".join(MODELS), SEEDS)
    store = open_store(out)
    cells, items = select(store.results(), store.items(), SEEDS, MODELS)
    rng = np.random.default_rng(0)
    effects = {pair: effect(cells, items, pair) for pair in PAIRS}
    found: dict[int, dict[Pair, int]] = {}

    def measure():
        for k in (2, 3, 5):
            found[k] = {pair: 0 for pair in PAIRS}
            for _ in range(SUBSETS):
                seeds = sorted(rng.choice(SEEDS, k, replace=False).tolist())
                board = board_of(*select(cells, items, seeds))
                for pair in PAIRS:
                    found[k][pair] += decision(board, pair)[0]

    benchmark.pedantic(measure, rounds=1, iterations=1)
    print(f"\n| pair | effect (seed-SDs, {len(SEEDS)} seeds) | marked at 2 seeds | 3 seeds | 5 seeds |")
    print("| --- | --- | --- | --- | --- |")
    for pair in PAIRS:
        rates = " | ".join(f"{found[k][pair] / SUBSETS:.0%}" for k in (2, 3, 5))
        print(f"| {pair} | {effects[pair]:+.1f} | {rates} |")
    benchmark.extra_info.update({f"{pair} @{k}": found[k][pair] / SUBSETS for pair in PAIRS for k in found})
    # every pair here has a real gap in the direction named: more seeds find it at least as often
    for pair in PAIRS:
        assert found[5][pair] >= found[2][pair] - 0.1 * SUBSETS, pair
