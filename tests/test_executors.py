"""Claims about executors: the same grid gives the same stored results in this process, in worker
processes and on a local Dask cluster; a worker that dies is retried; bad --executor values get one line."""

from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import sys
import time

import psutil
import pytest
import torch
from conftest import CHEAP_CNN, TWO_FAMILIES, add_site, make_distribution, run_bench

from bench import cli
from bench.executors import parse_executor
from bench.grid import groups
from bench.store import open_store

#: Families whose grid has the baseline CNN's cells (the downstream family scores them).
WITH_BASELINE = ["reconstruction", "augmentation"]
GRID = [*CHEAP_CNN, "--datasets", "digits", "--models", "ae", "--noise", "gaussian", "--severities", "1", "--quiet",
        "--format", "csv"]

CRASH_ONCE = '''
import os
from pathlib import Path

from torch import nn
from torch.nn import functional as F
from registry import ModelSpec, hookimpl


class CrashOnce(nn.Module):
    """Kills the process it trains in the first time (a lost worker), then trains normally."""

    def __init__(self, shape):
        super().__init__()
        self.shape = tuple(shape)
        self.enc, self.dec = nn.Linear(64, 4), nn.Linear(4, 64)

    def encode(self, x):
        return self.enc(x.flatten(1))

    def decode(self, z):
        return self.dec(z).sigmoid().view(-1, *self.shape)

    def forward(self, x):
        return self.decode(self.encode(x))

    def loss(self, x_in, x_target):
        marker = Path(os.environ["BENCH_TEST_CRASH_MARKER"])
        if not marker.exists():
            marker.write_text("crashed once")
            os._exit(1)
        return F.mse_loss(self(x_in), x_target)


@hookimpl
def bench_models():
    return [ModelSpec("crash_once", CrashOnce, "dies in its first training", epochs=1)]
'''


HANGS = '''
import os
import time
from pathlib import Path

from torch import nn
from torch.nn import functional as F
from registry import ModelSpec, hookimpl


class Hangs(nn.Module):
    """Says it has started training (a marker file), then trains for ten minutes."""

    def __init__(self, shape):
        super().__init__()
        self.shape = tuple(shape)
        self.enc, self.dec = nn.Linear(64, 4), nn.Linear(4, 64)

    def forward(self, x):
        return self.dec(self.enc(x.flatten(1))).sigmoid().view(-1, *self.shape)

    def loss(self, x_in, x_target):
        Path(os.environ["BENCH_TEST_HANG_MARKER"]).write_text(str(os.getpid()))
        time.sleep(600)
        return F.mse_loss(self(x_in), x_target)


@hookimpl
def bench_models():
    return [ModelSpec("hangs", Hangs, "trains for ten minutes", epochs=1)]
'''


def _results(out) -> dict:
    records = open_store(out).records()
    return {(r["cell"]["key"], r["status"], m["metric"]): (None if math.isnan(m["value"]) else m["value"])
            for r in records for m in r["metrics"] or [{"metric": "", "value": math.nan}]}


def test_local_processes_and_dask_give_identical_stored_results_with_their_defaults(tmp_path):
    pytest.importorskip("dask.distributed")
    threads, omp = torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS")
    stored = {}
    for executor in ("local", "processes:2", "dask-local:2"):
        out = tmp_path / executor.replace(":", "-")
        assert cli.main(["run", *GRID, "--executor", executor, "--out", str(out)]) == 0
        stored[executor] = _results(out)
        runs = open_store(out).runs()
        assert runs[-1]["provenance"]["executor"] == executor and runs[-1]["provenance"]["threads"] == 1
    assert torch.get_num_threads() == threads  # the run's threads apply to the run, not to the caller afterwards
    assert "OMP_NUM_THREADS" not in os.environ or os.environ["OMP_NUM_THREADS"] == omp  # nor Dask's settings
    assert len(stored["local"]) > 30  # every metric of the baseline and ae cells
    assert stored["processes:2"] == stored["local"]
    assert stored["dask-local:2"] == stored["local"]


@pytest.mark.parametrize("executor", ["processes:2", "dask-local:2"])
def test_a_lost_worker_is_retried_and_nothing_is_lost(executor, tmp_path, monkeypatch):
    if executor.startswith("dask"):
        pytest.importorskip("dask.distributed")
    add_site(make_distribution(tmp_path / "site", "bench-crash", "0.1", "bench_crash", CRASH_ONCE), monkeypatch)
    monkeypatch.setenv("BENCH_TEST_CRASH_MARKER", str(tmp_path / "crashed"))
    out = tmp_path / "run"
    code = cli.main(["run", *TWO_FAMILIES, "--datasets", "digits", "--models", "crash_once,ae", "--noise", "gaussian",
                     "--severities", "1", "--quiet", "--format", "csv", "--executor", executor, "--out", str(out)])
    assert code == 0 and (tmp_path / "crashed").exists()  # it did die once
    records = open_store(out).records()
    assert {r["cell"]["model"] for r in records if r["status"] == "done"} == {"crash_once", "ae", "baseline"}


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_run_stopped_by_a_signal_leaves_no_worker_process_computing(how, tmp_path, monkeypatch):
    """kill (SIGTERM) ends a run as Ctrl-C does (exit 130, its workers ended, how to go on said); after
    SIGKILL, which the run cannot handle, its workers see it gone and end within seconds."""
    add_site(make_distribution(tmp_path / "site", "bench-hangs", "0.1", "bench_hangs", HANGS), monkeypatch)
    marker = tmp_path / "training"
    proc = subprocess.Popen([sys.executable, "-m", "bench", "run", "--seeds", "1", "--families", "reconstruction",
                             "--datasets", "digits", "--models", "hangs", "--noise", "gaussian", "--severities", "1",
                             "--executor", "processes:2", "--format", "csv", "--out", str(tmp_path / "run")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "BENCH_TEST_HANG_MARKER": str(marker)})
    children: list = []
    try:
        deadline = time.monotonic() + 300
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert marker.exists(), proc.stderr.read() if proc.poll() is not None else "no cell started in 300 s"
        children = psutil.Process(proc.pid).children(recursive=True)
        assert int(marker.read_text()) in {c.pid for c in children}  # the cell trains in a worker process
        proc.send_signal(how)
        _, err = proc.communicate(timeout=60)
        alive = psutil.wait_procs(children, timeout=30)[1]
        assert not alive, f"still running after the run ended: {[c.cmdline()[-1:] for c in alive]}"
    finally:  # whatever a failure above left behind
        for process in [proc, *children]:
            try:
                process.kill()
            except (ProcessLookupError, psutil.NoSuchProcess):
                pass
    if how == signal.SIGTERM:
        assert proc.returncode == 130, err
        assert "bench: interrupted; every finished cell is kept in" in err


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory):
    out = tmp_path_factory.mktemp("two-workers")
    result = run_bench("run", *TWO_FAMILIES, "--datasets", "digits", "--models", "ae,dae", "--noise", "gaussian",
                       "--severities", "1", "--executor", "processes:2", "--format", "csv", "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out, result


def test_under_worker_processes_each_cell_gets_its_own_line_as_it_finishes(two_workers):
    out, result = two_workers
    lines = [line for line in result.stderr.splitlines() if line.startswith("[")]
    assert len(lines) == 3  # baseline, ae and dae: three groups in two workers
    assert [line.split("]")[0] for line in lines] == [f"[{i}/3" for i in range(1, 4)]
    assert all(re.search(r": done in [\d.]+s \(eta (\?|(\d+m)?\d+s)\)$", line) for line in lines)


def test_the_baseline_cnn_is_trained_once_per_grid_whatever_worker_needs_it(two_workers):
    out, _ = two_workers
    sources = [r["baseline_cnn"] for r in open_store(out).records() if "baseline_cnn" in r]  # the records with CNNs
    assert sources.count("trained") == 1  # the others loaded its checkpoint or kept it in memory
    assert set(sources) <= {"trained", "checkpoint", "memory"}


def test_cells_are_grouped_by_the_model_they_share_as_the_local_runner_orders_them():
    from bench.data import load
    from bench.grid import plan
    from bench.profiles import get_profile
    from registry import load_registry

    registry = load_registry()
    cells = plan(registry, datasets=["tabular"], models=[("ae", {}), ("vae", {})], noises=[("gaussian", {})],
                 severities=[1, 2], seeds=[0, 1], profile=get_profile("quick"),
                 loaded={"tabular": load(registry.spec("datasets", "tabular"))}, families=WITH_BASELINE)
    grouped = groups(cells)
    assert sum(len(g) for g in grouped) == len(cells) == 12
    for group in grouped:
        assert len({(c.dataset, c.seed, c.model_label) for c in group}) == 1 and len(group) == 2
    # the cost model shares a generating model's samples (and their CNNs) across its noises, as the evaluator does
    assert {c.model: c.model_generates for c in cells} == {"ae": False, "vae": True, "baseline": False}
    denoising = plan(registry, datasets=["tabular"], models=[("dae", {})], noises=[("gaussian", {})],
                     severities=[1, 2], seeds=[0], profile=get_profile("quick"), budgets=["steps", "epochs"],
                     loaded={"tabular": load(registry.spec("datasets", "tabular"))}, families=WITH_BASELINE)
    # a denoising model trains per noise and severity: a group for each, its two CNN budgets together
    assert [[(c.model, c.severity, c.profile.cnn_budget) for c in g] for g in groups(denoising)] == [
        [("baseline", 1, "steps"), ("baseline", 1, "epochs"), ("baseline", 2, "steps"), ("baseline", 2, "epochs")],
        [("dae", 1, "steps"), ("dae", 1, "epochs")], [("dae", 2, "steps"), ("dae", 2, "epochs")]]


def test_a_free_worker_takes_cells_that_can_start_before_cells_that_would_wait_on_another_workers_classifier():
    from collections import deque

    from bench.cost import plan_work
    from bench.data import load
    from bench.driver import _next, _tasks
    from bench.executors import ExecutorSpec
    from bench.families import BUILTIN
    from bench.grid import plan
    from bench.profiles import get_profile
    from registry import load_registry

    registry = load_registry()
    families = {f.name: f for f in BUILTIN}
    cells = plan(registry, datasets=["tabular"], models=[("ae", {}), ("vae", {})], noises=[("gaussian", {})],
                 severities=[1], seeds=[0, 1, 2], profile=get_profile("quick"),
                 loaded={"tabular": load(registry.spec("datasets", "tabular"))}, families=("downstream",))
    tasks = _tasks(cells, ExecutorSpec("processes", 2), families, {})
    name = lambda task: (task[0].model, task[0].seed)  # noqa: E731
    # the cells that train a split's reference classifier cost most, so they start first
    assert [name(t) for t in tasks] == [("ae", 0), ("ae", 1), ("ae", 2), ("vae", 0), ("vae", 1), ("vae", 2)]
    work = plan_work([c for t in tasks for c in t], families, {})
    by = {name(t): t for t in tasks}
    # ae of seed 2 is training its split's classifier; ae of seeds 0 and 1 have ended
    queue = deque(enumerate([by[("vae", 2)], by[("vae", 0)], by[("vae", 1)]]))
    busy = {c.key for c in by[("ae", 2)]}
    assert name(_next(queue, work, busy)[1]) == ("vae", 0)  # not vae of seed 2, which would wait for it
    assert [name(t) for _, t in queue] == [("vae", 2), ("vae", 1)]  # the others keep their order
    assert name(_next(queue, work, busy)[1]) == ("vae", 1)
    assert name(_next(queue, work, busy)[1]) == ("vae", 2)  # every task left would wait: the first one


def test_by_default_a_run_uses_one_worker_process_per_core_and_never_more_than_its_groups(monkeypatch):
    from bench import executors
    from bench.data import load
    from bench.grid import plan
    from bench.profiles import get_profile
    from registry import load_registry

    registry = load_registry()
    cells = plan(registry, datasets=["tabular"], models=[("ae", {}), ("dae", {})], noises=[("gaussian", {})],
                 severities=[1, 2], seeds=[0], profile=get_profile("quick"),
                 loaded={"tabular": load(registry.spec("datasets", "tabular"))}, families=WITH_BASELINE)
    monkeypatch.setattr(executors, "usable_cores", lambda: 4)
    assert executors.default_executor(cells, 1, "cpu").label == "processes:4"  # baseline, ae, dae@1, dae@2
    assert executors.default_executor(cells, 2, "cpu").label == "processes:2"  # two threads per cell
    assert executors.default_executor(cells, 4, "cpu").label == "local"
    assert executors.default_executor([c for c in cells if c.model == "ae"], 1, "cpu").label == "local"  # one group
    assert executors.default_executor(cells, 1, "cuda").label == "local"
    monkeypatch.setattr(executors, "usable_cores", lambda: 16)
    assert executors.default_executor(cells, 1, "cpu").label == "processes:4"


@pytest.mark.parametrize("text, expected", [
    ("gpu:3", "--executor takes local, processes:N, dask://HOST:PORT or dask-local:N. Got 'gpu:3'"),
    ("processes:0", "--executor processes:N takes a number of workers N >= 1. Got 'processes:0'"),
    ("dask://nohost", "--executor dask:// needs HOST:PORT of a Dask scheduler"),
])
def test_a_bad_executor_is_one_line_and_exit_2(text, expected, tmp_path, capsys):
    code = cli.main(["run", *GRID, "--executor", text, "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("bench: error: ") and expected in err and err.count("\n") == 1
    assert not (tmp_path / "results.db").exists()


def test_executor_forms_parse():
    assert parse_executor("local").kind == "local"
    assert (parse_executor("processes:3").kind, parse_executor("processes:3").workers) == ("processes", 3)
    assert parse_executor("dask://10.0.0.5:8786").address == "10.0.0.5:8786"
    assert parse_executor("dask-local:2").label == "dask-local:2"


def test_a_pool_that_a_dead_worker_broke_before_it_took_a_task_is_replaced_and_the_task_sent_again(tmp_path, monkeypatch):
    # a worker can die between two waits: the next submit is refused (BrokenProcessPool) before any future
    # says so; the task goes to a new pool, and every cell is stored once
    from concurrent.futures.process import BrokenProcessPool
    from contextlib import contextmanager

    from bench import driver, executors

    pools = []

    @contextmanager
    def refusing_first(spec):
        with executors.open_executor(spec) as pool:
            pools.append(pool)
            if len(pools) == 1:
                def refuse(*args, **kwargs):
                    raise BrokenProcessPool("a child process terminated abruptly")

                pool.submit = refuse
            yield pool

    monkeypatch.setattr(driver, "open_executor", refusing_first)
    out = tmp_path / "run"
    assert cli.main(["run", "--seeds", "1", "--datasets", "digits", "--models", "ae", "--noise", "gaussian",
                     "--severities", "1", "--families", "reconstruction", "--quiet", "--format", "csv", "--out", str(out)]) == 0
    assert len(pools) == 2
    assert [r["status"] for r in open_store(out).records()] == ["done"]
