"""Claims about faults: a plugin that raises fails its cells, not the run, and the traceback is kept; a
corrupt dataset file is caught by its checksum and named; a full disk or an unwritable output stops the
run before any training, and a store that cannot be written mid-run keeps what it had. (NaN losses:
tests/test_run.py; lost workers: tests/test_executors.py.)"""

from __future__ import annotations

import shutil
import sqlite3
from collections import namedtuple
from contextlib import contextmanager

import pytest
from conftest import CHEAP_CNN, FASHION_SYSTEM_DIR, THIRD_PARTY_MODEL, add_site, make_distribution

from bench import cli
from bench.store import Store, open_store
from registry import DatasetUnavailable

FAILING_NOISE = '''
from registry import NoiseSpec, hookimpl


def broken(x, **params):
    raise RuntimeError("the noise library is broken")


@hookimpl
def bench_noises():
    return [NoiseSpec("broken_noise", broken, "raises on every call", severities={1: {}})]
'''

SMALL = [*CHEAP_CNN, "--datasets", "digits", "--models", "ae", "--severities", "1", "--quiet", "--format", "csv"]


def test_an_exception_inside_a_plugin_fails_its_cells_keeping_the_traceback_and_the_others_finish(
        tmp_path, monkeypatch, capsys):
    add_site(make_distribution(tmp_path / "site", "bench-broken-noise", "0.1", "bench_broken_noise", FAILING_NOISE),
             monkeypatch)
    out = tmp_path / "run"
    assert cli.main(["run", *SMALL, "--noise", "broken_noise,gaussian", "--out", str(out)]) == 1
    assert "'bench show KEY'" in capsys.readouterr().err  # named even with --quiet
    records = open_store(out).records()
    by_noise = {(r["cell"]["noise"], r["cell"]["model"]): r for r in records}
    assert by_noise[("gaussian", "ae")]["status"] == "done" and by_noise[("gaussian", "baseline")]["status"] == "done"
    broken = [r for r in records if r["cell"]["noise"] == "broken_noise"]
    assert broken and all(r["status"] == "failed" and "the noise library is broken" in r["reason"] for r in broken)
    assert all("in broken" in r["traceback"] and "RuntimeError" in r["traceback"] for r in broken)
    import pandas as pd

    rows = pd.read_csv(out / "results.csv")
    failed = rows[(rows["noise"] == "broken_noise") & (rows["status"] == "failed")]
    for model, families in failed.groupby("model")["family"]:  # a row per family the cell was to compute
        # the cell's families, kept in a record per scope (bench.keys)
        assert sorted(families) == sorted(f for r in broken if r["cell"]["model"] == model for f in r["families"]), model

    key = broken[0]["cell"]["key"]
    assert cli.main(["report", "--out", str(out), "--format", "md"]) == 0
    named = capsys.readouterr().err
    assert f"failed cell {key}" in named and "the noise library is broken" in named
    # a cell that failed whole is named once, though each record of its families says so (bench.keys)
    cells = {(r["cell"]["model"], r["cell"]["severity"], r["cell"]["seed"]) for r in broken}
    assert len(broken) > len(cells) and named.count("bench: failed cell ") == len(cells)
    assert cli.main(["show", key[:10], "--out", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "status: failed: RuntimeError: the noise library is broken" in shown
    assert "traceback:" in shown and 'raise RuntimeError("the noise library is broken")' in shown
    assert cli.main(["show", "zzzz", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no cell" in err and key[:8] in err


@pytest.mark.skipif(not (FASHION_SYSTEM_DIR / "t10k-labels-idx1-ubyte.gz").exists(),
                    reason="Debian package dataset-fashion-mnist is not installed (CI installs it)")
def test_a_corrupt_dataset_file_is_caught_by_its_checksum_and_named(tmp_path):
    from plugins.datasets.fashion_mnist import load_fashion_mnist

    load_fashion_mnist(tmp_path)  # extracted from the system package, digests recorded
    labels = tmp_path / "FashionMNIST" / "raw" / "t10k-labels-idx1-ubyte"
    data = bytearray(labels.read_bytes())
    data[100] = (data[100] + 1) % 10  # still a valid label file: only the checksum can tell
    labels.write_bytes(bytes(data))
    with pytest.raises(DatasetUnavailable, match=r"t10k-labels-idx1-ubyte fails its checksum") as info:
        load_fashion_mnist(tmp_path)
    assert f"Delete {labels.parent}" in str(info.value)


def test_a_full_disk_stops_the_run_before_any_training(tmp_path, monkeypatch, capsys):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10 * 2**20, 9 * 2**20, 2**20))
    out = tmp_path / "run"
    assert cli.main(["run", *SMALL, "--noise", "gaussian", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bench: error: only 1 MB free on the disk of") and err.count("\n") == 1
    assert "this run needs about" in err and not (out / "results.db").exists() and not (out / "checkpoints").exists()


def test_an_unwritable_output_stops_the_run_before_any_training(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    assert cli.main(["run", *SMALL, "--noise", "gaussian", "--out", str(blocker / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bench: error: cannot write to --out") and "choose another directory" in err
    assert err.count("\n") == 1


def test_a_store_that_cannot_be_written_mid_run_keeps_the_cells_already_stored(tmp_path, monkeypatch, capsys):
    real_connect = Store._connect
    inserts = {"n": 0}

    class FullDisk:
        def __init__(self, con):
            self.con = con

        def execute(self, sql, *args):
            if sql.lstrip().startswith("INSERT INTO cells"):
                inserts["n"] += 1
                if inserts["n"] > 2:
                    raise sqlite3.OperationalError("database or disk is full")
            return self.con.execute(sql, *args)

        def __getattr__(self, name):
            return getattr(self.con, name)

    @contextmanager
    def connect(self):
        with real_connect(self) as con:
            yield FullDisk(con)

    monkeypatch.setattr(Store, "_connect", connect)
    out = tmp_path / "run"
    assert cli.main(["run", *SMALL, "--noise", "gaussian,erasing", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bench: error: cannot write to the results store") and "database or disk is full" in err
    assert "everything stored before is kept" in err and err.count("\n") == 1
    monkeypatch.setattr(Store, "_connect", real_connect)
    assert len(open_store(out).records()) == 2


#: The third-party TinyAE whose forward gives flat vectors (its loss flattens the target, so it trains): the model
#: contract is broken.
FLAT_MODEL = (THIRD_PARTY_MODEL
              .replace("return self.decode(self.encode(x))", "return self.decode(self.encode(x)).flatten(1)")
              .replace("F.mse_loss(self(x_in), x_target)", "F.mse_loss(self(x_in), x_target.flatten(1))")
              .replace('ModelSpec("tiny_ae"', 'ModelSpec("flat_ae"'))
assert FLAT_MODEL.count("flatten(1)") == 3 and '"flat_ae"' in FLAT_MODEL


def test_a_family_a_model_breaks_is_failed_in_every_output_naming_the_contract(tmp_path, monkeypatch, capsys):
    import json

    add_site(make_distribution(tmp_path / "site", "bench-flat", "0.1", "bench_flat", FLAT_MODEL), monkeypatch)
    out = tmp_path / "run"
    assert cli.main(["run", "--seeds", "1", "--datasets", "digits", "--models", "ae,flat_ae", "--noise", "gaussian",
                     "--severities", "1", "--families", "reconstruction,latent", "--format", "md,html,json,csv",
                     "--out", str(out)]) == 1
    err = capsys.readouterr().err
    contract = "model 'flat_ae' (bench-flat 0.1) broke the model contract: forward gave shape"
    line = next(x for x in err.splitlines() if x.startswith("[") and "flat_ae" in x)
    assert ": failed in " in line and f"reconstruction ({contract}" in line  # the progress line, not "done"
    assert "'bench plugins check flat_ae'" in line and line.endswith("; latent done")  # one family ended: "failed"
    flat = next(r for r in open_store(out).results() if r.cell["model"] == "flat_ae")
    assert flat.outcome == "failed" and set(flat.failed_families()) == {"reconstruction"}

    assert cli.main(["show", flat.key[:8], "--out", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "(profile quick, 1347 training images)" in shown and flat.cell["train_size"] == 1347  # digits has 1,347
    # (no CNN protocol: neither reconstruction nor latent trains one)
    assert "status: failed: reconstruction (model 'flat_ae'" in shown and shown.splitlines()[1].endswith("; latent done")
    assert flat.status == "done"  # the cell's own status (its model trained): every output says the outcome
    html = (out / "report.html").read_text()
    assert "1 cells done, 1 failed (1 cell × family run, whole or in part)" in html
    assert '<h2 id="failed">Failed: 1 cell × family run ' in html and f"bench show {flat.key[:8]}" in html
    assert '<a href="#failed">failed</a>' in html
    md = (out / "leaderboard.md").read_text()
    assert md.startswith("# Leaderboard\n\n> 1 of 2 cells failed, whole or in part: flat_ae reconstruction in 1 cell")
    assert "## Failed: 1 cell × family run " in md and md.count(f"bench show {flat.key[:8]}") == 1
    assert "- `flat_ae`: reconstruction failed in 1 cell of this table (model 'flat_ae'" in md  # not a silent gap
    document = json.loads((out / "results.json").read_text())
    assert {r["cell"]["model"]: r["outcome"] for r in document["cells"]} == {"ae": "done", "flat_ae": "failed"}
    rows = (out / "results.csv").read_text().splitlines()
    assert sum(",failed," in r and "flat_ae" in r for r in rows) == 1  # a row per failed family


@pytest.mark.parametrize("output, problem", [
    (lambda x: x * float("nan"), "forward gave non-finite values"),
    (lambda x: x * 3 - 1, "forward gave values in [-1, 2], expected [0, 1]"),
    (lambda x: (x > 0.5).long(), "forward gave dtype torch.int64, expected floating point"),
    (lambda x: x[:, 0], "forward gave shape (4, 2, 2), expected (4, 1, 2, 2)"),
])
def test_a_trained_model_whose_output_breaks_the_contract_is_named_with_what_it_broke(output, problem):
    import torch

    from bench.checked import CheckedModel, ContractBroken

    class Broken(torch.nn.Module):
        def forward(self, x):
            return output(x)

        def encode(self, x):
            return x.flatten(1)[:, :1]

    checked = CheckedModel(Broken(), "model 'broken' (bench-broken 0.1)", "run 'bench plugins check broken'", (1, 2, 2))
    x = torch.linspace(0, 1, 16).view(4, 1, 2, 2)
    with pytest.raises(ContractBroken) as raised:
        checked(x)
    assert str(raised.value) == (f"model 'broken' (bench-broken 0.1) broke the model contract: {problem}; "
                                 "run 'bench plugins check broken'")
    assert checked.encode(x).shape == (4, 1)  # what keeps the contract passes through unchanged
    assert not hasattr(checked, "sample") and not hasattr(checked, "decode")  # capabilities are still what it has


def test_mlflow_says_failed_for_a_cell_whose_family_failed_and_names_it():
    from bench.result import CellResult, FamilyRun, Timings
    from reports.mlflow_runs import _tags

    cell = {"key": "k" * 20, "dataset": "digits", "model": "flat_ae", "noise": "gaussian", "severity": 1, "seed": 0,
            "profile": "quick"}
    result = CellResult(cell, "done", None, {}, Timings(1.0), families={
        "latent": FamilyRun("1", "done"), "reconstruction": FamilyRun("1", "failed", "forward gave shape (4, 64)")})
    tags = _tags(result, "state")
    assert tags["bench.status"] == "failed" and tags["bench.failed"] == "reconstruction: forward gave shape (4, 64)"
