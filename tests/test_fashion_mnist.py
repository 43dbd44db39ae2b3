"""Claims about `bench run` on the real Fashion-MNIST (its own file: it is the suite's longest test, and test
files run side by side)."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import CHEAP_CNN, FASHION_SYSTEM_DIR

from bench import cli


@pytest.mark.skipif(not (FASHION_SYSTEM_DIR / "train-images-idx3-ubyte.gz").exists(),
                    reason="Debian package dataset-fashion-mnist is not installed (CI installs it)")
def test_on_fashion_mnist_a_denoising_autoencoder_beats_its_noisy_input_and_the_plain_one(tmp_path):
    code = cli.main(["run", *CHEAP_CNN, "--datasets", "fashion_mnist", "--models", "ae,dae", "--noise", "gaussian",
                     "--severities", "5", "--executor", "local", "--out", str(tmp_path), "--quiet"])
    assert code == 0
    board = pd.read_csv(tmp_path / "leaderboard.csv").set_index("model")
    assert board.loc["dae", "psnr_gain"] > 3.0
    assert board.loc["dae", "psnr"] > board.loc["ae", "psnr"] + 1.0
    assert board.loc["dae", "psnr_rank"] == 1
    results = pd.read_csv(tmp_path / "results.csv")
    assert (results.loc[results.family == "reconstruction", "n"] == 10000).all()  # the full test set


def test_a_one_seed_digits_run_marks_statistically_tied_rows_with_the_per_image_tests(digits_run):
    out, _ = digits_run
    board = pd.read_csv(out / "leaderboard.csv")
    assert (board["seeds"] == 1).all()
    tied = board[board["probe_acc_tied"] == True]  # noqa: E712 (a column of booleans read from CSV)
    assert len(tied) > 0 and set(tied["probe_acc_test"]) == {"McNemar exact"}
    assert (tied["probe_acc_p_holm"] >= 0.05).all() and (tied["probe_acc_p_holm"] >= tied["probe_acc_p_best"]).all()
    assert set(board["psnr_test"].dropna()) == {"paired t over images"}
    markdown = (out / "leaderboard.md").read_text()
    assert "≈" in markdown.split("## digits · erasing · latent separability")[1].split("\n## ")[0]
    verdict = markdown.split("## Verdict")[1].split("\n## digits · erasing · reconstruction")[0]
    assert "against the compute-matched baseline" in verdict and "One seed: ties" in verdict
