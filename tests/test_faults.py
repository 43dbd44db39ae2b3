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
from conftest import CHEAP_CNN, FASHION_SYSTEM_DIR, add_site, make_distribution

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

    key = broken[0]["cell"]["key"]
    assert cli.main(["report", "--out", str(out), "--format", "md"]) == 0
    named = capsys.readouterr().err
    assert f"failed cell {key}" in named and "the noise library is broken" in named
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
