"""Claims about the paired tests behind the leaderboards' marks, on constructed data where the answer is
known: McNemar on per-image correctness, the paired t-test on per-image values, the combination over
seeds and Holm's correction over the rows of a table."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from bench.result import CellResult
from bench.store import Items
from reports import leaderboard_frame, results_frame
from reports.significance import compare_items, holm, mcnemar_p, paired_t_p

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
    assert found.test == "McNemar exact" and found.diff == pytest.approx(0.06)
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
    assert combined.test == "random effects over seeds (3) of per-image McNemar pairs" and combined.p < 1e-3
    assert compare_items(flipping, a, "mcnemar").p > 0.05  # a gap seeds make and unmake is not supported


def test_holm_adjusts_the_smallest_p_value_by_the_number_of_tests_and_keeps_untested_rows():
    adjusted = holm([0.01, math.nan, 0.04, 0.03])
    assert adjusted[0] == pytest.approx(0.03) and math.isnan(adjusted[1])
    assert adjusted[3] == pytest.approx(0.06) and adjusted[2] == pytest.approx(0.06)


def _records(correct: dict[str, np.ndarray]) -> tuple[list[dict], dict]:
    records, items = [], {}
    for model, right in correct.items():
        key = f"k-{model}"
        cell = {"key": key, "dataset": "toy", "model": model, "noise": "gaussian", "severity": 1, "seed": 0,
                "profile": "quick", "cnn_budget": "steps", "precision": "fp32", "model_params": {},
                "noise_params": {}}
        metric = {"metric": "acc_clean", "family": "downstream", "value": float(right.mean()),
                  "ci95": 0.02, "n": len(right), "higher_is_better": True, "unit": "", "detail": False,
                  "note": None, "test": "mcnemar", "items": "acc_clean"}
        records.append({"cell": cell, "status": "done", "reason": None, "metrics": [metric], "input_psnr": 20.0})
        items[(key, "acc_clean")] = Items("same-images", right)
    return records, items


def test_with_holms_correction_a_borderline_gap_stops_being_supported_when_many_rows_are_tested():
    best = correctness(850)
    borderline = better_by(best, gained=25, lost=45, seed=3)  # 20 fewer right answers: p about 0.02
    raw = mcnemar_p(borderline, best)
    assert 0.01 < raw < 0.05
    alone = leaderboard_frame(*_with_items(_records({"best": best, "borderline": borderline}))).set_index("model")
    assert alone.loc["borderline", "acc_clean_p_holm"] == pytest.approx(raw)
    assert not alone.loc["borderline", "acc_clean_tied"]  # two rows: the gap is supported, no ≈
    crowd = {"best": best, "borderline": borderline,
             **{f"m{i}": better_by(best, gained=30, lost=32, seed=100 + i) for i in range(10)}}
    many = leaderboard_frame(*_with_items(_records(crowd))).set_index("model")
    assert many.loc["borderline", "acc_clean_p_best"] == pytest.approx(raw)
    assert many.loc["borderline", "acc_clean_p_holm"] == pytest.approx(min(1.0, 11 * raw))
    assert many.loc["borderline", "acc_clean_tied"]  # eleven rows tested: the same gap is now within noise
    assert many.loc["borderline", "acc_clean_test"] == "McNemar exact"


def _with_items(made: tuple[list[dict], dict]):
    records, items = made
    return results_frame([CellResult.from_record(r) for r in records]), items


def test_a_row_level_with_the_best_is_tested_against_it_and_marked_tied():
    best = correctness(850)
    level = better_by(best, gained=30, lost=30, seed=5)  # the same accuracy, right on other images
    board = leaderboard_frame(*_with_items(_records({"a": best, "b": level}))).set_index("model")
    assert (board["acc_clean_rank"] == 1).all()
    assert math.isnan(board.loc["a", "acc_clean_p_best"])  # the best row itself
    assert board.loc["b", "acc_clean_p_best"] == pytest.approx(1.0)
    assert board.loc["b", "acc_clean_tied"]
