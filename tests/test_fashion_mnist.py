"""Claims about `bench run` on the real Fashion-MNIST (its own file: it is the suite's longest test, and test
files run side by side)."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import CHEAP_CNN, FASHION_SYSTEM_DIR

from bench import cli, downstream
from bench.evaluator import Evaluator


@pytest.mark.skipif(not (FASHION_SYSTEM_DIR / "train-images-idx3-ubyte.gz").exists(),
                    reason="Debian package dataset-fashion-mnist is not installed (CI installs it)")
def test_on_fashion_mnist_a_denoising_autoencoder_beats_its_noisy_input_and_the_plain_one(tmp_path, monkeypatch):
    # the claim is about reconstruction; the downstream family (three CNNs: 70% of this grid's time) is
    # covered on digits, by test_protocol.py and test_suite.py, and the generative family (a feature network
    # trained on all 60,000 images) by test_generative.py
    monkeypatch.setattr(Evaluator, "_downstream", lambda self, cell, work, split, info: downstream.not_applicable(
        "not part of this test", self.eval_severities(cell)))
    monkeypatch.setattr(Evaluator, "_generative", lambda self, cell, work, split: [])  # its own tests, on digits
    code = cli.main(["run", *CHEAP_CNN, "--datasets", "fashion_mnist", "--models", "ae,dae", "--noise", "gaussian",
                     "--severities", "5", "--executor", "local", "--out", str(tmp_path), "--quiet"])
    assert code == 0
    board = pd.read_csv(tmp_path / "leaderboard.csv").set_index("model")
    assert board.loc["dae", "psnr_gain"] > 3.0
    assert board.loc["dae", "psnr"] > board.loc["ae", "psnr"] + 1.0
    assert board.loc["dae", "psnr_rank"] == 1
    results = pd.read_csv(tmp_path / "results.csv")
    assert (results.loc[results.family == "reconstruction", "n"] == 10000).all()  # the full test set
