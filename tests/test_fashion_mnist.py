"""Claims about `bench run` on the real Fashion-MNIST (its own file: it is the suite's longest test, and test
files run side by side)."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import FASHION_SYSTEM_DIR

from bench import cli


@pytest.mark.skipif(not (FASHION_SYSTEM_DIR / "train-images-idx3-ubyte.gz").exists(),
                    reason="Debian package dataset-fashion-mnist is not installed (CI installs it)")
def test_on_fashion_mnist_a_denoising_autoencoder_beats_its_noisy_input_and_the_plain_one(tmp_path):
    # the claim is about reconstruction: that family alone, one seed, no CNN (the downstream and augmentation
    # families are covered on digits, by test_downstream.py, test_protocol.py and test_suite.py, and the
    # generative family by test_generative.py)
    code = cli.main(["run", "--seeds", "1", "--families", "reconstruction", "--datasets", "fashion_mnist",
                     "--models", "ae,dae", "--noise", "gaussian",
                     "--severities", "5", "--executor", "local", "--out", str(tmp_path), "--quiet"])
    assert code == 0
    board = pd.read_csv(tmp_path / "leaderboard.csv").set_index("model")
    assert board.loc["dae", "psnr_gain"] > 3.0
    assert board.loc["dae", "psnr"] > board.loc["ae", "psnr"] + 1.0
    assert board.loc["dae", "psnr_rank"] == 1
    results = pd.read_csv(tmp_path / "results.csv")
    assert (results.loc[results.family == "reconstruction", "n"] == 10000).all()  # the full test set
