"""Training-set size as a grid axis: ``--train-sizes``."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from bench import cli
from bench.data import subset
from bench.store import open_store


def test_smaller_training_subsets_are_drawn_inside_the_larger_ones():
    for seed in (0, 7):
        big = subset(1000, 400, seed)
        assert subset(1000, 100, seed).tolist() == big[:100].tolist()
        assert len(set(big.tolist())) == 400


def test_a_size_sweep_gives_a_cell_per_size_with_its_own_model_cnn_budget_rows_and_figures(tmp_path):
    code = cli.main(["run", "--datasets", "digits", "--models", "ae,vae", "--noise", "gaussian", "--severities", "1",
                     "--train-sizes", "400,100", "--executor", "local", "--out", str(tmp_path), "--quiet"])
    assert code == 0
    results = open_store(tmp_path).results()
    assert len(results) == 6 and all(r.status == "done" for r in results)
    assert sorted((r.cell["model"], r.cell["train_size"]) for r in results) == sorted(
        (m, n) for m in ("ae", "vae", "baseline") for n in (100, 400))
    for r in results:
        n = r.cell["train_size"]
        if r.training is not None:
            assert r.training.train_size == n
        assert r.cnn.baseline == 10 * math.ceil(n / 128)  # the compute-matched budget scales with the subset
    board = pd.read_csv(tmp_path / "leaderboard.csv")
    assert sorted(board["train_size"]) == [100, 100, 100, 400, 400, 400]
    markdown = (tmp_path / "leaderboard.md").read_text()
    assert "## digits · gaussian · reconstruction · quick · 100 training images" in markdown
    assert "## digits · gaussian · reconstruction · quick · 400 training images" in markdown
    figures = {r.figures["tsne"] for r in results if r.cell["model"] == "ae"}
    assert figures == {"figures/digits_ae_gaussian_s1_seed0_n100_tsne.png",
                       "figures/digits_ae_gaussian_s1_seed0_n400_tsne.png"}
    assert all((tmp_path / f).read_bytes()[:4] == b"\x89PNG" for f in figures)


@pytest.mark.parametrize("sizes, expected", [
    ("0", "--train-sizes takes integers >= 1. Got 0 in '0'."),
    ("1.5", "--train-sizes takes integers >= 1 separated by commas. Got '1.5' instead."),
    ("100,99999", "digits has 1,347 training images. Got 99,999 instead."),
])
def test_a_bad_training_size_gets_one_line_and_exit_code_2(sizes, expected, tmp_path, capsys):
    code = cli.main(["run", "--datasets", "digits", "--models", "ae", "--train-sizes", sizes, "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and expected in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "results.db").exists()
