"""Where the time of a run goes: the metric suite of one cell (a trained VAE loaded from its checkpoint
and scored on the whole suite); the default ``bench run`` grid's share of time outside training and
evaluation (start-up, planning, loading, noise, storing, reports), run in one process so that the work of
its cells adds up to its wall time; and the default executor (one worker process per core) against one
process, with identical stored results.

The grid benchmark runs the default command on Fashion-MNIST in one process: the better part of an hour
on 2 CPU cores. ``BENCH_GRID_ARGS`` adds options, e.g. ``--datasets digits`` for a quick look.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time

from conftest import RESULTS

from bench.checkpoints import Checkpoints
from bench.evaluator import Evaluator
from bench.grid import plan
from bench.profiles import get_profile
from bench.progress import Progress
from bench.store import open_store
from registry import load_registry


def test_metric_suite_of_one_cell(benchmark, fashion, tmp_path):
    from bench.data import load

    registry = load_registry()
    loaded = {"fashion_mnist": load(registry.spec("datasets", "fashion_mnist"))}
    cells = plan(registry, datasets=["fashion_mnist"], models=[("vae", {})], noises=[("gaussian", {})],
                 severities=[3], seeds=[0], profile=get_profile("quick"), loaded=loaded)
    cell = next(c for c in cells if c.model == "vae")
    store = open_store(tmp_path)
    checkpoints = Checkpoints(store.path.parent / "checkpoints")
    Evaluator(registry, loaded, checkpoints).trained(cell)  # trained and checkpointed once, outside the timing
    records = []

    def one_cell() -> None:
        records.append(Evaluator(registry, loaded, checkpoints).evaluate(cell, Progress(quiet=True)).record())

    benchmark.pedantic(one_cell,
                       rounds=3, warmup_rounds=1)
    assert all(r["status"] == "done" and r["train"]["source"] == "checkpoint" for r in records)
    RESULTS["suite/cell_s"] = benchmark.stats.stats.median
    RESULTS["suite/eval_s"] = sorted(r["eval_s"] for r in records)[len(records) // 2]
    benchmark.extra_info.update(eval_s=RESULTS["suite/eval_s"],
                                metrics=len(records[-1]["metrics"]))


def _work_seconds(records: list[dict]) -> float:
    """Seconds spent training and evaluating: a model cell's training (when it trained) and evaluation,
    and the whole of a baseline cell (the reference CNN's training and evaluation)."""
    total = 0.0
    for r in records:
        if r["status"] != "done":
            continue
        if "train" in r:
            total += (r["train"]["seconds"] if r["train"]["source"] == "trained" else 0.0) + r.get("eval_s", 0.0)
        else:
            total += r["wall_s"]
    return total


def test_default_grid_time_outside_training_and_evaluation(benchmark, fashion, tmp_path):
    extra = shlex.split(os.environ.get("BENCH_GRID_ARGS", ""))
    out = tmp_path / "grid"

    def run() -> float:
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "bench", "run", "--out", str(out), "--quiet", "--executor",
                               "local", *extra], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return time.perf_counter() - started

    wall = benchmark.pedantic(run, rounds=1, iterations=1)
    work = _work_seconds(open_store(out).records())
    RESULTS["grid/total"], RESULTS["grid/outside"] = wall, wall - work
    benchmark.extra_info.update(wall_s=wall, train_and_eval_s=work, outside_share=(wall - work) / wall)


DIGITS_GRID = ["--datasets", "digits", "--models", "ae,dae,vae,dvae", "--noise", "gaussian,erasing",
               "--severities", "1,3", "--quiet", "--format", "csv"]


def _stored(out) -> dict:
    return {(r["cell"]["key"], m["metric"]): m["value"] for r in open_store(out).records() for m in r["metrics"]}


def test_default_executor_against_one_process(benchmark, tmp_path):
    """The default executor (``processes:N``, one per usable core, one thread per cell) against
    ``--executor local`` on the digits grid: wall times, and the same stored results."""
    walls = {}

    def grid(executor: list[str], name: str) -> None:
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "bench", "run", *DIGITS_GRID, "--out", str(tmp_path / name),
                               *executor], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        walls[name] = time.perf_counter() - started

    benchmark.pedantic(lambda: (grid(["--executor", "local"], "local"), grid([], "default")), rounds=1, iterations=1)
    a, b = _stored(tmp_path / "local"), _stored(tmp_path / "default")
    assert a.keys() == b.keys() and all(a[k] == b[k] or (a[k] != a[k] and b[k] != b[k]) for k in a)
    RESULTS["executor/local_s"], RESULTS["executor/default_s"] = walls["local"], walls["default"]
    benchmark.extra_info.update(walls)
