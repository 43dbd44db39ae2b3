"""Claims about the results store: resume after a kill, concurrent runs, caching, schema, checkpoints."""

from __future__ import annotations

import math
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch
from conftest import TWO_FAMILIES, run_bench

from bench import cli
from bench.checkpoints import Checkpoints
from bench.store import SCHEMA_VERSION, StoreError, open_store

# One process (the kill and resume claims are about it) and two families: these tests are about storing.
GRID = [*TWO_FAMILIES, "--executor", "local", "--datasets", "digits", "--models", "dae,vae", "--noise", "gaussian,erasing",
        "--severities", "1", "--quiet"]
CELLS = (2 + 1) * 2  # (models + the baseline CNN) × noises: a denoising model per noise, a plain one for both


def _values(store) -> dict[tuple[str, str], float]:
    return {(r["cell"]["key"], m["metric"]): m["value"] for r in store.records() for m in r["metrics"]}


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])) for k in a)


def _done(path) -> int:
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(path, timeout=1) as con:
            # a cell's families are kept in a record per scope (bench.keys), all written in one transaction
            return con.execute("SELECT count(*) FROM (SELECT DISTINCT dataset, model, noise, severity, seed, profile "
                               "FROM cells)").fetchone()[0]
    except sqlite3.Error:
        return 0


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("whole")
    assert cli.main(["run", *GRID, "--out", str(out)]) == 0
    return out


def _bench(capsys, *args: str) -> str:
    """``bench ARGS`` in this process: its stderr."""
    code = cli.main(list(args))
    err = capsys.readouterr().err
    assert code == 0, err
    return err


def test_a_run_killed_with_sigkill_keeps_its_finished_cells_and_the_rerun_gives_the_uninterrupted_results(
        uninterrupted, tmp_path, capsys):
    store = tmp_path / "results.db"
    proc = subprocess.Popen([sys.executable, "-m", "bench", "run", *GRID, "--out", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while _done(store) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kept = _done(store)
    assert 3 <= kept < CELLS, f"the kill came after {kept} of {CELLS} cells"

    again = _bench(capsys, "run", *GRID[:-1], "--out", str(tmp_path))
    assert re.search(rf"{CELLS - kept} computed \(.*\), {kept} already in", again), again
    assert _same(_values(open_store(tmp_path)), _values(open_store(uninterrupted)))


def test_a_second_identical_run_computes_nothing_and_leaves_the_reports_untouched(uninterrupted, capsys):
    before = {p.name: p.stat().st_mtime_ns for p in uninterrupted.glob("*.*") if p.suffix != ".db"}
    again = _bench(capsys, "run", *GRID[:-1], "--out", str(uninterrupted))
    assert f"0 computed, {CELLS} already in" in again
    assert {p.name: p.stat().st_mtime_ns for p in uninterrupted.glob("*.*") if p.suffix != ".db"} == before


def test_every_cell_records_its_provenance_and_full_parameters(uninterrupted):
    record = next(r for r in open_store(uninterrupted).records()
                  if r["cell"]["model"] == "vae" and r["cell"]["noise"] == "gaussian")
    prov = record["provenance"]
    assert {"bench", "git_commit", "torch", "torchvision", "host", "cpu", "threads", "started", "ended"} <= set(prov)
    assert prov["torch"] == torch.__version__ and prov["threads"] >= 1 and prov["started"] <= prov["ended"]
    assert record["wall_s"] > 0
    cell = record["cell"]
    assert cell["model_params"] == {"latent_dim": 4, "hidden": 128}
    assert cell["profile_params"]["train_size"] == 5000 and "sigma" in cell["noise_params"]
    assert set(cell["versions"]) >= {"bench"}
    run = open_store(uninterrupted).runs()[0]
    assert run["argv"][:2] == ["bench", "run"] and run["computed"] == CELLS and run["ended"]


def test_rerun_all_loads_trained_models_from_checkpoints_and_gives_the_same_numbers(uninterrupted, tmp_path, capsys):
    import shutil

    shutil.copytree(uninterrupted, tmp_path / "copy")
    before = _values(open_store(tmp_path / "copy"))
    _bench(capsys, "run", *GRID, "--out", str(tmp_path / "copy"), "--rerun", "all")
    records = [r for r in open_store(tmp_path / "copy").records() if r.get("train")]
    assert {r["train"]["source"] for r in records} <= {"checkpoint", "memory"}
    assert _same(_values(open_store(tmp_path / "copy")), before)


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_a_checkpoint_that_is_not_plain_weights_is_refused_and_the_model_trained_again(tmp_path):
    from registry.models import MLPAutoencoder

    checkpoints = Checkpoints(tmp_path)
    model = MLPAutoencoder((1, 8, 8))
    torch.save({"format": 1, "state_dict": model.state_dict(), "history": [1.0], "seconds": 1.0, "x": _Evil()},
               checkpoints.path("k"))
    with pytest.warns(UserWarning, match="could not be read .* trained again"):
        assert checkpoints.load("k", MLPAutoencoder((1, 8, 8))) is None
    checkpoints.save("k", model, [2.0, 1.0], 0.5)
    fresh = MLPAutoencoder((1, 8, 8))
    assert checkpoints.load("k", fresh).history == [2.0, 1.0]
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), fresh.state_dict().values()))


def test_the_store_migrates_an_older_file_and_refuses_a_newer_or_foreign_one(tmp_path, capsys):
    old = tmp_path / "old.db"
    sqlite3.connect(old).close()  # an empty file: schema version 0
    assert open_store(old).schema_version == SCHEMA_VERSION
    with sqlite3.connect(old) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    newer = tmp_path / "newer.db"
    with sqlite3.connect(newer) as con:
        con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="Upgrade bench"):
        open_store(newer).statuses()
    foreign = tmp_path / "notes.db"
    foreign.write_text("not a database at all, just some text that is long enough " * 20)
    assert cli.main(["report", "--store", str(foreign), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bench: error: ") and "is not a bench results store" in err and err.count("\n") == 1


@pytest.mark.parametrize("args, expected", [
    (["--seeds", "0"], "--seeds takes integers >= 1. Got 0"),
    (["--seeds", "1,x"], "--seeds takes integers >= 0 separated by commas. Got '1,x'"),
    (["--format", "pdf"], "--format: unknown report format 'pdf'"),
])
def test_bad_seeds_and_formats_get_one_line_and_exit_code_2(args, expected, tmp_path, capsys):
    assert cli.main(["run", "--datasets", "digits", "--out", str(tmp_path), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bench: error: ") and err.count("\n") == 1 and expected in err, err
    assert not (tmp_path / "results.db").exists()


def test_compare_prints_per_metric_differences_between_two_runs(uninterrupted, tmp_path):
    other = tmp_path / "other"
    assert cli.main(["run", *GRID, "--models", "vae", "--noise", "gaussian", "--out", str(other), "--seed", "1",
                     "--format", "csv"]) == 0
    same = run_bench("compare", str(uninterrupted), str(uninterrupted), "--metrics", "psnr", "--format", "csv")
    assert same.returncode == 0, same.stderr
    table = pd.read_csv(pd.io.common.StringIO(same.stdout))
    assert set(table["metric"]) == {"psnr"} and (table["delta"] == 0).all() and set(table["better"]) == {"="}
    assert len(table) == 4  # 2 models × 2 noises at severity 1
    diff = run_bench("compare", str(uninterrupted), str(other / "results.db"))
    assert diff.returncode == 0, diff.stderr
    assert "| psnr " in diff.stdout and "B − A" in diff.stdout


def test_a_damaged_store_is_named_in_one_line_with_how_to_go_on(tmp_path, capsys):
    import shutil
    from pathlib import Path

    from bench import cli

    store = tmp_path / "results.db"
    shutil.copy(Path(__file__).parent / "data" / "store_v4.db", store)
    assert len(open_store(store).results()) > 0  # migrated, readable
    data = bytearray(store.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 4096] = b"\xff" * 4096  # a block overwritten, as a failing disk would
    store.write_bytes(bytes(data))
    assert cli.main(["report", "--store", str(store), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1, err
    assert f"the results store {str(store)!r} is damaged" in err and "'bench import'" in err


def test_a_store_damaged_where_a_command_does_not_read_is_named_when_it_opens(tmp_path, capsys):
    """SQLite's quick_check runs when a store opens (after any change to the file): an index page overwritten,
    which 'bench show' never reads, is named before anything is written."""
    import shutil
    from pathlib import Path

    from bench import cli

    store = tmp_path / "results.db"
    shutil.copy(Path(__file__).parent / "data" / "store_v4.db", store)
    key = open_store(store).results()[0].key
    con = sqlite3.connect(store)
    page = con.execute("PRAGMA page_size").fetchone()[0]
    root = con.execute("SELECT rootpage FROM sqlite_master WHERE name = 'cells_by_grid'").fetchone()[0]
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    data = bytearray(store.read_bytes())
    data[(root - 1) * page:root * page] = b"\xff" * page  # the grid index's page, as a failing disk would
    store.write_bytes(bytes(data))
    assert cli.main(["show", key[:8], "--store", str(store), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"the results store {str(store)!r} is damaged (SQLite's quick_check: " in err


def test_a_stored_cell_says_the_training_images_it_had_not_the_profiles_ask(tmp_path):
    """digits has 1,347 training images where the quick profile asks 5,000: a store of an earlier bench recorded
    the ask; opened now, every cell of that dataset and profile (the baseline's too) says 1,347, under its key."""
    import shutil
    from pathlib import Path

    path = tmp_path / "results.db"
    shutil.copy(Path(__file__).parent / "data" / "store_v4.db", path)
    results = open_store(path).results()
    assert {r.cell["model"]: r.cell["train_size"] for r in results} == {"ae": 1347, "vae": 1347, "baseline": 1347}
    assert {r.cell["profile_params"]["train_size"] for r in results} == {5000}  # what the key hashes: unchanged
