"""Claims about several runs sharing one store and about repeats over seeds (apart from test_store.py's
grid fixture: these tests run their own grids, and test files run side by side)."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
from conftest import CHEAP_CNN, run_bench

from bench import cli
from bench.store import open_store


def test_two_concurrent_runs_on_one_store_lose_nothing(tmp_path):
    shared = tmp_path / "shared.db"
    common = ["run", *CHEAP_CNN, "--datasets", "digits", "--noise", "gaussian", "--severities", "1,3", "--quiet",
              "--store", str(shared)]
    one_thread = {**os.environ, "OMP_NUM_THREADS": "1"}  # two processes on a small machine
    procs = [subprocess.Popen([sys.executable, "-m", "bench", *common, "--models", models, "--out", str(tmp_path / d),
                               "--format", "csv"], stderr=subprocess.PIPE, text=True, env=one_thread)
             for models, d in (("ae,vae", "a"), ("vae,dae", "b"))]
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
    records = open_store(shared).records()
    cells = {(r["cell"]["model"], r["cell"]["severity"]) for r in records}
    assert cells == {(m, s) for m in ("ae", "vae", "dae", "baseline") for s in (1, 3)}
    assert len(records) == len(cells) and all(r["status"] == "done" and r["metrics"] for r in records)
    assert len(open_store(shared).runs()) == 2
    report = run_bench("report", "--store", str(shared), "--out", str(tmp_path / "report"), "--format", "csv")
    assert report.returncode == 0, report.stderr
    assert set(pd.read_csv(tmp_path / "report" / "leaderboard.csv")["model"]) == {"ae", "vae", "dae", "baseline"}


def test_seeds_take_a_count_or_a_list(tmp_path):
    code = cli.main(["run", *CHEAP_CNN, "--datasets", "digits", "--models", "ae", "--noise", "gaussian", "--severities", "1",
                     "--seeds", "2", "--seed", "5", "--out", str(tmp_path / "count"), "--quiet", "--format", "csv"])
    assert code == 0
    assert {r["cell"]["seed"] for r in open_store(tmp_path / "count").records()} == {5, 6}
    board = pd.read_csv(tmp_path / "count" / "leaderboard.csv").query("model == 'ae'")
    assert set(board["seeds"]) == {2} and {"psnr_std", "psnr_ci_low", "psnr_ci_high", "psnr_tied"} <= set(board)
    assert (board["psnr_ci_low"] <= board["psnr"]).all() and (board["psnr"] <= board["psnr_ci_high"]).all()
    assert cli.main(["run", *CHEAP_CNN, "--datasets", "digits", "--models", "ae", "--noise", "gaussian", "--severities", "1",
                     "--seeds", "0,3", "--out", str(tmp_path / "list"), "--quiet", "--format", "csv"]) == 0
    assert {r["cell"]["seed"] for r in open_store(tmp_path / "list").records()} == {0, 3}
