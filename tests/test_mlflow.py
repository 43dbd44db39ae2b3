"""Claims about the ``mlflow`` reporter: against a real tracking server on loopback (SQLite backend) and against
local stores, a run logs every cell once, nested under its bench run, with the leaderboard's values; logging
again adds no run; a family added later updates the cells' runs; bad input is one line and exit 2."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pandas as pd
import pytest

import bench
from bench import cli

mlflow = pytest.importorskip("mlflow", reason="the mlflow extra is not installed (pip install -e '.[dev]' has it)")
from mlflow.tracking import MlflowClient  # noqa: E402

GRID = ("run", "--seeds", "1", "--datasets", "digits", "--models", "ae,vae", "--noise", "gaussian", "--severities", "1,3")
FIRST = ("--families", "reconstruction,latent")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``mlflow server`` on loopback with a SQLite backend, as a user starts one."""
    where = tmp_path_factory.mktemp("mlflow-server")
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
                             "--backend-store-uri", f"sqlite:///{where}/mlflow.db", "--default-artifact-root",
                             str(where / "artifacts"), "--workers", "1"],
                            stdout=subprocess.DEVNULL, stderr=open(where / "server.log", "w"),
                            start_new_session=True)  # its workers and job runner in one group, ended together
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                os.killpg(proc.pid, signal.SIGKILL)
                pytest.fail(f"mlflow server did not start: {(where / 'server.log').read_text()[-2000:]}")
            time.sleep(0.5)
    yield uri
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # whatever of the group outlived the terminate
        except ProcessLookupError:
            pass


def _runs(uri: str, experiment: str = "bench") -> list:
    client = MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    return [] if found is None else client.search_runs([found.experiment_id], max_results=1000)


def _bench(capsys, *args: str) -> str:
    assert cli.main(list(args)) == 0
    return capsys.readouterr().err


def test_a_run_logs_every_cell_once_under_its_bench_run_with_the_leaderboards_values(server, tmp_path, capsys):
    out = tmp_path / "out"
    first = _bench(capsys, *GRID, *FIRST, "--out", str(out), "--format", "csv,mlflow", "--tracking-uri", server)
    assert "bench: mlflow: 4 cell runs added" in first
    runs = _runs(server)
    cells = [r for r in runs if r.data.tags.get("bench.kind") == "cell"]
    (parent,) = [r for r in runs if r.data.tags.get("bench.kind") == "run"]
    assert len(cells) == 4 and {r.data.tags["mlflow.parentRunId"] for r in cells} == {parent.info.run_id}
    board = pd.read_csv(out / "leaderboard.csv")
    for run in cells:
        p = run.data.params
        row = board[(board["model"] == p["model"]) & (board["severity"] == int(p["severity"]))].iloc[0]
        for metric in ("psnr", "ssim", "probe_acc"):  # one seed: the leaderboard's mean is the cell's value
            assert run.data.metrics[metric] == pytest.approx(row[metric], rel=1e-9)
            assert run.data.metrics[f"{metric}_ci_low"] == pytest.approx(row[f"{metric}_ci_low"], rel=1e-9)
        assert p["dataset"] == "digits" and p["noise"] == "gaussian" and len(p["key"]) >= 16
        assert run.data.tags["bench.status"] == "done" and "torch" in " ".join(run.data.tags)
        artifacts = {a.path for a in MlflowClient(server).list_artifacts(run.info.run_id)}
        assert "cell.json" in artifacts and "figures" in artifacts

    again = _bench(capsys, *GRID, *FIRST, "--out", str(out), "--format", "csv,mlflow", "--tracking-uri", server)
    assert "0 cell runs added, 0 brought up to date, 4 already logged" in again
    assert len(_runs(server)) == len(runs)

    # a family added later: the same runs, brought up to date, the vae's with its likelihood
    later = _bench(capsys, *GRID, "--out", str(out), "--format", "mlflow", "--tracking-uri", server, "--families",
                   "reconstruction,latent,likelihood")
    assert "0 cell runs added, 4 brought up to date" in later
    updated = [r for r in _runs(server) if r.data.tags.get("bench.kind") == "cell"]
    assert len(updated) == 4
    assert all(("iw_nll" in r.data.metrics) == (r.data.params["model"] == "vae") for r in updated)


def test_the_python_api_logs_to_a_local_store_without_a_server(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a sqlite:/// store keeps its artifacts in ./mlruns, MLflow's default
    results = bench.run("ae", "gaussian", "digits", severities=[1], seeds=1, families="reconstruction", store=tmp_path / "out")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 keeps its file store for those who ask
    for uri in (f"sqlite:///{tmp_path}/local.db", f"file:{tmp_path}/mlruns"):
        assert results.report("mlflow", tracking_uri=uri, experiment="api") == []
        (run,) = [r for r in _runs(uri, "api") if r.data.tags.get("bench.kind") == "cell"]
        assert run.data.params["model"] == "ae" and "psnr" in run.data.metrics


def test_an_unreachable_tracking_server_is_one_line_and_exit_2_before_any_work(tmp_path, capsys):
    code = cli.main([*GRID, "--out", str(tmp_path), "--format", "md,mlflow", "--tracking-uri",
                     f"http://127.0.0.1:{_free_port()}"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "no MLflow tracking server answers" in err
    assert not (tmp_path / "results.db").exists()


def test_without_the_extra_the_format_is_refused_in_one_line_naming_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # as where the extra is not installed
    code = cli.main([*GRID, "--out", str(tmp_path), "--format", "md,mlflow"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and 'pip install "aebench[mlflow]"' in err
    assert not (tmp_path / "results.db").exists()
