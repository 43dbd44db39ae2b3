"""Claims about the paired tests behind the leaderboards' marks, on constructed data where the answer is
known: McNemar on per-image correctness, the paired t-test on per-image values, the combination over
seeds (a t over seeds and images) and which rows could be the best."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from bench.result import CellResult
from bench.store import Items
from reports import leaderboard_frame, results_frame
from reports.significance import SeedDiffs, compare_items, holm, mcnemar_p, mixed_t, paired_t_p, pooled_over_models

N = 1000


def correctness(right: int, n: int = N, *, seed: int = 0) -> np.ndarray:
    """``right`` correct answers out of ``n`` at random places."""
    out = np.zeros(n, dtype=bool)
    out[np.random.default_rng(seed).choice(n, right, replace=False)] = True
    return out


def better_by(a: np.ndarray, gained: int, lost: int, *, seed: int = 1) -> np.ndarray:
    """``a`` with ``gained`` of its wrong answers made right and ``lost`` of its right answers made wrong."""
    rng = np.random.default_rng(seed)
    b = a.copy()
    b[rng.choice(np.flatnonzero(~a), gained, replace=False)] = True
    b[rng.choice(np.flatnonzero(a), lost, replace=False)] = False
    return b


def test_identical_predictions_give_p_equal_to_one():
    a = correctness(800)
    assert mcnemar_p(a, a) == 1.0
    assert compare_items({0: a}, {0: a.copy()}, "mcnemar").p == 1.0
    values = np.random.default_rng(0).random(N)
    assert paired_t_p(values, values.copy()) == 1.0
    assert compare_items({0: values, 1: values}, {0: values, 1: values}, "paired-t").p == 1.0


def test_a_model_right_on_60_more_images_out_of_1000_is_significant():
    a = correctness(780)
    b = better_by(a, gained=80, lost=20)  # 60 more right answers, 100 discordant images
    found = compare_items({0: b}, {0: a}, "mcnemar")
    assert b.sum() - a.sum() == 60
    assert found.test == "McNemar exact, test images only" and found.diff == pytest.approx(0.06)
    assert not found.about_models  # one seed: test-image noise only, no claim about models
    assert found.p == pytest.approx(stats.binomtest(20, 100, 0.5).pvalue) and found.p < 1e-6


def test_a_gap_of_a_few_images_among_many_discordant_ones_is_not_significant():
    a = correctness(780)
    b = better_by(a, gained=52, lost=48)
    assert compare_items({0: b}, {0: a}, "mcnemar").p > 0.5


def test_several_seeds_support_a_gap_they_agree_on_and_not_one_that_flips_with_the_seed():
    a = {s: correctness(780, seed=s) for s in range(3)}
    steady = {s: better_by(a[s], gained=45, lost=20, seed=10 + s) for s in range(3)}
    flipping = {0: better_by(a[0], 80, 20, seed=20), 1: better_by(a[1], 20, 80, seed=21),
                2: better_by(a[2], 80, 20, seed=22)}
    assert all(compare_items({s: flipping[s]}, {s: a[s]}, "mcnemar").p < 1e-4 for s in range(3))  # each alone
    combined = compare_items(steady, a, "mcnemar")
    assert combined.test == "t over seeds and images (3 seeds)" and combined.p < 0.05 and combined.about_models
    assert compare_items(flipping, a, "mcnemar").p > 0.05  # a gap seeds make and unmake is not supported


def test_holm_adjusts_the_smallest_p_value_by_the_number_of_tests_and_keeps_untested_rows():
    adjusted = holm([0.01, math.nan, 0.04, 0.03])
    assert adjusted[0] == pytest.approx(0.03) and math.isnan(adjusted[1])
    assert adjusted[3] == pytest.approx(0.06) and adjusted[2] == pytest.approx(0.06)
    from statsmodels.stats.multitest import multipletests

    ps = np.random.default_rng(0).random(40) ** 3  # the same values as statsmodels' implementation
    assert holm(list(ps)) == pytest.approx(list(multipletests(ps, method="holm")[1]))


def _seeded_records(correct: dict[str, dict[int, np.ndarray]]) -> tuple[list[dict], dict]:
    """Records of the headline accuracy of the downstream family, per model and seed."""
    records, items = [], {}
    for model, by_seed in correct.items():
        for seed, right in by_seed.items():
            key = f"k-{model}-{seed}"
            cell = {"key": key, "dataset": "toy", "model": model, "noise": "gaussian", "severity": 1, "seed": seed,
                    "profile": "quick", "cnn_budget": "converged", "precision": "fp32", "model_params": {},
                    "noise_params": {}}
            metric = {"metric": "acc_noisy", "family": "augmentation", "value": float(right.mean()),
                      "ci95": 0.02, "n": len(right), "higher_is_better": True, "unit": "", "detail": False,
                      "note": None, "test": "mcnemar", "items": "acc_noisy"}
            records.append({"cell": cell, "status": "done", "reason": None, "metrics": [metric], "input_psnr": 20.0})
            items[(key, "acc_noisy")] = Items("same-images", right)
    return records, items


def test_a_gap_between_two_models_is_judged_among_many_rows_with_holm_over_pairs_and_their_pooled_variance():
    best = {s: correctness(850, seed=s) for s in range(3)}
    behind = {s: better_by(best[s], gained=20, lost=45 + 3 * s, seed=3 + s) for s in range(3)}
    alone = leaderboard_frame(*_with_items(_seeded_records({"best": best, "behind": behind}))).set_index("model")
    assert alone.loc["behind", "acc_noisy_mark"] == "behind" and alone.loc["best", "acc_noisy_mark"] == "best"
    raw = alone.loc["behind", "acc_noisy_p_adj"]  # one pair, one group: no correction, the pair's own t
    assert raw == pytest.approx(compare_items(best, behind, "mcnemar").p) and raw < 0.05
    crowd = {"best": best, "behind": behind,
             **{f"m{i}": {s: better_by(best[s], gained=30, lost=32, seed=100 + 10 * i + s) for s in range(3)}
                for i in range(6)}}
    many = leaderboard_frame(*_with_items(_seeded_records(crowd))).set_index("model")
    per_seed = {m: np.array([v[s].mean() for s in range(3)]) for m, v in crowd.items()}
    pooled = pooled_over_models(np.vstack(list(per_seed.values())))
    assert pooled.df == 7 * 2  # 8 models, 3 seeds
    d = np.stack([best[s].astype(float) - behind[s].astype(float) for s in range(3)])
    image_var = float(np.var(d.mean(axis=0), ddof=1)) / d.shape[1]
    unadjusted = mixed_t(SeedDiffs(d.mean(axis=1), image_var), pooled).p
    pairs = 8 * 7 // 2
    assert unadjusted <= many.loc["behind", "acc_noisy_p_adj"] <= min(1.0, pairs * unadjusted) + 1e-12
    assert many.loc["behind", "acc_noisy_mark"] == ("behind" if pairs * unadjusted < 0.05 else "possibly best")
    assert "**" not in "".join(many["acc_noisy_mark"].astype(str)) and (many["acc_noisy_mark"] != "best").sum() >= 7


def _with_items(made: tuple[list[dict], dict]):
    records, items = made
    return results_frame([CellResult.from_record(r) for r in records]), items


def test_with_one_seed_every_row_is_untested_and_the_test_image_test_is_kept_with_its_label():
    best = correctness(850)
    level = better_by(best, gained=10, lost=80, seed=5)  # 70 fewer right answers: McNemar p < 1e-9
    board = leaderboard_frame(*_with_items(_seeded_records({"a": {0: best}, "b": {0: level}}))).set_index("model")
    assert board.loc["b", "acc_noisy_p_best"] < 1e-9 and board.loc["b", "acc_noisy_test"].endswith("test images only")
    assert (board["acc_noisy_mark"] == "untested").all() and board["acc_noisy_tied"].isna().all()


def _table(rng: np.random.Generator, sd: np.ndarray, seeds: int = 3, gap: dict | None = None,
           models: int = 4) -> list[np.ndarray]:
    """One simulated table: per group (condition), models × seeds values (a seed effect shared by the models of
    a seed, each model × group × seed its own training noise of standard deviation ``sd[group]``); ``gap``:
    (group, model) → a shift of that model."""
    groups = len(sd)
    y = rng.normal(0, 1, (1, groups, seeds)) + rng.normal(0, 1, (models, groups, seeds)) * sd[None, :, None]
    for (g, m), shift in (gap or {}).items():
        y[m, g] += shift
    return [y[:, g] for g in range(groups)]


def _claims(table, correct=holm, pool: bool = True) -> set:
    tests = {}
    for g, values in enumerate(table):
        pooled = pooled_over_models(values) if pool else None
        for a in range(len(values)):
            for b in range(a + 1, len(values)):
                tests[(g, a, b)] = mixed_t(SeedDiffs(values[a] - values[b]), pooled)
    keys = list(tests)
    return {key for key, p in zip(keys, correct([tests[k].p for k in keys])) if p < 0.05}


def test_the_seed_variance_pooled_over_a_conditions_models_has_their_degrees_of_freedom_and_is_right():
    rng = np.random.default_rng(0)
    estimates = [pooled_over_models(values) for values in _table(rng, np.full(400, 0.3))]
    assert {p.df for p in estimates} == {6}  # 4 models, 3 seeds: (4 - 1)(3 - 1)
    assert np.mean([p.var for p in estimates]) == pytest.approx(0.3**2, rel=0.1)  # the seed effect cancels


def test_a_table_of_equal_models_gets_a_false_mark_in_at_most_5_percent_of_runs_and_without_holm_in_far_more():
    rng = np.random.default_rng(2)
    runs = 300
    holm_hits = loose_hits = 0
    for _ in range(runs):
        table = _table(rng, np.full(6, 0.5) * rng.uniform(0.5, 2.0, 6))
        holm_hits += bool(_claims(table))
        loose_hits += bool(_claims(table, correct=lambda ps: ps))
    assert stats.binomtest(holm_hits, runs, 0.05, alternative="greater").pvalue >= 0.05, holm_hits
    assert stats.binomtest(loose_hits, runs, 0.05, alternative="greater").pvalue < 1e-6, loose_hits


def test_pooling_over_the_models_of_a_condition_finds_a_gap_that_one_pairs_seeds_alone_cannot():
    """A gap of 5 standard deviations of the per-seed difference in one condition of 6, at 3 seeds: the
    pooled test (6 degrees of freedom) finds it most of the time, the pair's own t (2) almost never."""
    rng = np.random.default_rng(3)
    runs, sd = 200, 0.5
    pooled = alone = 0
    for _ in range(runs):
        table = _table(rng, np.full(6, sd), gap={(0, 1): -5 * sd * np.sqrt(2)})
        pooled += (0, 0, 1) in _claims(table)
        alone += (0, 0, 1) in _claims(table, pool=False)
    assert pooled / runs >= 0.6 and alone / runs <= 0.1, (pooled, alone)


def test_ranking_positions_need_the_seeds_an_exact_sign_flip_test_needs_among_their_comparisons():
    from reports.ranking import _separated_from_above, seeds_to_separate, sign_flip_p

    assert sign_flip_p(np.ones(3)) == pytest.approx(2 / 2**3)  # three seeds that agree: p = 0.25
    assert sign_flip_p(np.array([1.0, -1.0, 1.0, -1.0])) == 1.0
    assert seeds_to_separate(3 * 4) == 9  # 4 models (3 positions) in 4 rankings: 2 / 2^9 x 12 < 0.05
    assert seeds_to_separate(3 * 5) == 10  # the default grid: overall and four families
    rng = np.random.default_rng(4)
    per_seed = rng.normal(0, 0.05, (9, 12, 4))  # seeds × blocks × models, higher is better
    per_seed[:, :, 0] += 1.0  # model 0 ahead in every block on every seed
    per_seed[:, :, 3] -= 1.0  # model 3 behind
    assert _separated_from_above([0, 1, 2, 3], per_seed, rankings=4) == [False, True, False, True]
    assert _separated_from_above([0, 1, 2, 3], per_seed[:8], rankings=4) == [False] * 4  # one seed short

def test_the_glance_table_says_how_large_a_gap_its_run_can_mark():
    from reports.glance import glance_tables

    best = {s: correctness(850, seed=s) for s in range(3)}
    crowd = {"best": best, **{f"m{i}": {s: better_by(best[s], gained=30, lost=60, seed=10 * i + s) for s in range(3)}
                              for i in range(3)}}
    frame, items = _with_items(_seeded_records(crowd))
    board = leaderboard_frame(frame, items)
    claims = board.attrs["claims"][("toy", "quick", board["train_size"].iloc[0], "converged", "fp32", "acc_noisy")]
    assert claims.tests == 6 and claims.seeds == 3 and claims.df == 6  # 4 models: 6 pairs, (4 - 1)(3 - 1) df
    (table,) = glance_tables(board, frame)
    (note,) = table.notes
    assert note.startswith("acc_noisy: 6 tests") and "over 3 seeds, each a t with 6 degrees of freedom" in note
    assert f"a gap of {claims.detectable():.1f} seed SDs" in note and claims.detectable() > 0
