"""Claims about several runs sharing one store and about repeats over seeds (apart from test_store.py's
grid fixture: these tests run their own grids, and test files run side by side)."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
from conftest import TWO_FAMILIES, run_bench

from bench import cli
from bench.store import open_store


def test_two_concurrent_runs_on_one_store_split_the_work_and_lose_nothing(tmp_path):
    shared = tmp_path / "shared.db"
    common = ["run", *TWO_FAMILIES, "--datasets", "digits", "--noise", "gaussian", "--severities", "1,3", "--quiet",
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
    # one record per cell and scope of its families (bench.keys: the CNN protocol only where a family reads it)
    scoped = {(r["cell"]["model"], r["cell"]["severity"], r["cell"]["cnn_budget"], r["cell"]["precision"])
              for r in records}
    assert len(records) == len(scoped) and all(r["status"] == "done" and r["metrics"] for r in records)
    runs = open_store(shared).runs()
    assert len(runs) == 2
    # claims: every cell computed by exactly one of the runs, the other counts it as reused
    assert sum(r["computed"] for r in runs) == len(cells) == 8
    assert [r["computed"] + r["reused"] for r in runs] == [6, 6]
    assert open_store(shared).claims() == []  # both runs gave back what they claimed
    report = run_bench("report", "--store", str(shared), "--out", str(tmp_path / "report"), "--format", "csv")
    assert report.returncode == 0, report.stderr
    assert set(pd.read_csv(tmp_path / "report" / "leaderboard.csv")["model"]) == {"ae", "vae", "dae", "baseline"}


def test_seeds_take_a_count_or_a_list(tmp_path):
    code = cli.main(["run", "--families", "reconstruction", "--datasets", "digits", "--models", "ae", "--noise",
                     "gaussian", "--severities", "1", "--seeds", "2", "--seed", "5", "--out", str(tmp_path / "count"),
                     "--quiet", "--format", "csv"])
    assert code == 0
    assert {r["cell"]["seed"] for r in open_store(tmp_path / "count").records()} == {5, 6}
    board = pd.read_csv(tmp_path / "count" / "leaderboard.csv").query("model == 'ae'")
    assert set(board["seeds"]) == {2} and {"psnr_std", "psnr_ci_low", "psnr_ci_high", "psnr_tied"} <= set(board)
    assert (board["psnr_ci_low"] <= board["psnr"]).all() and (board["psnr"] <= board["psnr_ci_high"]).all()
    assert cli.main(["run", "--families", "reconstruction", "--datasets", "digits", "--models", "ae", "--noise",
                     "gaussian", "--severities", "1", "--seeds", "0,3", "--out", str(tmp_path / "list"), "--quiet",
                     "--format", "csv"]) == 0
    assert {r["cell"]["seed"] for r in open_store(tmp_path / "list").records()} == {0, 3}


def _live_process() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])


def test_a_claim_of_a_live_run_is_left_to_it_one_of_a_dead_process_expires_and_a_stored_cell_is_not_claimed(
        tmp_path):
    from bench.result import CellResult
    from bench.store import Owner, Store

    store = Store(tmp_path / "results.db")
    other = _live_process()
    try:
        theirs = Owner(Owner.this_process().host, other.pid, "theirs")
        ours = Owner.this_process()
        assert store.claim({"a": None, "b": None}, theirs) == ({"a", "b"}, [])
        assert store.claim({"a": None, "c": None}, ours) == ({"c"}, [])  # a is theirs while they live
        assert store.claim({"c": None}, ours) == ({"c"}, [])  # a claim of one's own is one's own
        record = {"cell": {"key": "b", "dataset": "d", "model": "m", "noise": "n", "severity": 1, "seed": 0,
                           "profile": "quick"}, "status": "done", "metrics": [], "provenance": {"ended": "t1"}}
        store.add(CellResult.from_record(record))  # they stored b: its claim goes with it
        assert store.claim({"b": None}, ours) == (set(), ["b"])  # stored since we looked: not ours to compute
    finally:
        other.kill()
        other.wait()
    assert store.claim({"a": None}, ours) == ({"a"}, [])  # its owner died: the claim expired
    store.release(ours)
    assert store.claims() == []


def test_a_run_waits_for_a_cell_another_live_run_holds_and_computes_it_when_that_run_dies(tmp_path):
    import io

    from bench.api import execute, prepare
    from bench.progress import Progress
    from bench.store import Owner

    plan = prepare("ae", "gaussian", "digits", severities=[1], seeds=1, cnn_budget="epochs", executor="local",
                   store=tmp_path / "results.db", families="reconstruction,augmentation")  # with the baseline's cell: two cells
    ae = next(c for c in plan.cells if c.model == "ae")
    other = _live_process()
    plan.store.claim({ae.key: None}, Owner(Owner.this_process().host, other.pid, "theirs"))

    class OtherRunDies(Progress):  # the other run dies while this one waits for it
        def waiting(self, cells: int) -> None:
            super().waiting(cells)
            other.kill()

    stream = io.StringIO()
    try:
        results = execute(plan, progress=OtherRunDies(stream=stream))
    finally:
        other.kill()
        other.wait()
    assert "waiting for 1 cell that another run on this store is computing" in stream.getvalue()
    assert results.summary.computed == len(plan.cells) == 2 and results.summary.failed == 0
    assert plan.store.claims() == []
