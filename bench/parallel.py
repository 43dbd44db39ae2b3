"""Running a grid's cells through an executor (``processes:N``, Dask): the cells are grouped so that work
they share runs once (one group per trained model: a plain model's cells together, a denoising model's
per noise and severity; the baseline CNN's cells together), the dearest groups start first, each group
runs in a worker, and the worker sends each cell's record back as soon as the cell ends; this process
alone writes the store, one cell at a time, and prints a line per cell. Workers write checkpoints into
the run's ``checkpoints/`` (the baseline CNN under a file lock, so workers on one machine train it once;
on Dask, workers on other machines need the directory on a shared file system, else they retrain).

Results do not depend on the executor: every random draw of a cell is seeded from the cell, a worker
checks that its dataset has the fingerprint the cell was planned with, and the threads per cell (torch's
and the BLAS/OpenMP pools of numpy and scikit-learn) are the same everywhere (see :mod:`bench.threads`).
"""

from __future__ import annotations

import os
from collections import defaultdict
from concurrent.futures import FIRST_COMPLETED, BrokenExecutor, wait
from dataclasses import dataclass
from typing import Any

from .cost import expected_costs
from .executors import Channel, ExecutorSpec, open_executor
from .grid import Cell, groups
from .progress import Progress
from .provenance import environment, now
from .store import Store, needs_computing
from .summary import RunSummary

#: Times a group is started again after its worker process died (``processes:N``; Dask reschedules by itself).
RETRIES = 2


@dataclass(frozen=True)
class GroupTask:
    """What a worker needs to run a group of cells: everything but the data, which it reads itself."""

    cells: tuple[Cell, ...]
    checkpoints: str
    data_root: str
    device: str
    threads: int
    channel: Channel  # where each cell's (record, artifacts) goes as soon as it ends


_WORKER: dict[str, Any] = {}


def _worker_runner(task: GroupTask):
    """The worker process's runner (kept between tasks, so a baseline CNN or a data split is reused)."""
    from registry import load_registry

    from .checkpoints import Checkpoints
    from .data import load
    from .runner import Runner
    from .threads import set_threads

    set_threads(task.threads)
    os.environ["BENCH_DATA"] = task.data_root
    key = (task.checkpoints, task.device)
    if _WORKER.get("key") != key:
        _WORKER.update(key=key, registry=load_registry(), datasets={})
        _WORKER["runner"] = Runner(_WORKER["registry"], _WORKER["datasets"], None, device=task.device,
                                   checkpoints=Checkpoints(task.checkpoints))
    registry, datasets = _WORKER["registry"], _WORKER["datasets"]
    for cell in task.cells:
        if cell.dataset not in datasets:
            datasets[cell.dataset] = load(registry.spec("datasets", cell.dataset_name), cell.dataset_params,
                                          version=registry.entry("datasets", cell.dataset_name).version)
        if datasets[cell.dataset].fingerprint != cell.dataset_fingerprint:
            raise RuntimeError(f"dataset '{cell.dataset}' on worker {os.uname().nodename} has fingerprint "
                               f"{datasets[cell.dataset].fingerprint}, the run planned {cell.dataset_fingerprint}: "
                               "give every worker the same data")
    return _WORKER["runner"]


def run_group(task: GroupTask) -> list[str]:
    """Run ``task``'s cells in order in this (worker) process, sending each one's record and artifacts on
    the task's channel as it ends; the keys sent."""
    runner = _worker_runner(task)
    quiet = Progress(quiet=True)
    for cell in task.cells:
        task.channel.put(runner.run_cell(cell, quiet))
    return [cell.key for cell in task.cells]


def _failed(cell: Cell, reason: str, device: str) -> dict[str, Any]:
    stamp = now()
    return {"cell": cell.describe(), "status": "failed", "reason": reason, "metrics": [], "wall_s": 0.0,
            "provenance": {**environment(device), "started": stamp, "ended": stamp}}


def run_parallel(spec: ExecutorSpec, cells: list[Cell], store: Store, *, rerun: str | None, run_id: int | None,
                 progress: Progress, device: str, threads: int) -> RunSummary:
    """Compute the cells of ``cells`` the store lacks through the executor of ``spec``, the dearest groups
    first; store and report each cell as its record arrives."""
    from .data import data_root

    summary = RunSummary()
    statuses = store.statuses([c.key for c in cells])
    todo = [c for c in cells if needs_computing(statuses.get(c.key), rerun)]
    summary.reused = len(cells) - len(todo)
    costs = expected_costs(todo)
    by_key = {c.key: c for c in todo}
    ordered = sorted(groups(todo), key=lambda g: -sum(costs[c.key] for c in g))  # longest first: less idle at the end
    costs = expected_costs([c for g in ordered for c in g])  # shared work is charged to the groups that start first
    pending = dict(enumerate(ordered))
    attempts: dict[int, int] = defaultdict(int)
    stored: set[str] = set()
    checkpoints = str(store.path.parent / "checkpoints")

    def keep(record: dict[str, Any], artifacts: dict[str, bytes]) -> None:
        key = record["cell"]["key"]
        if key in stored:
            return
        store.add(record, artifacts, run_id=run_id)
        stored.add(key)
        summary.count(record, by_key[key].label)
        progress.end_cell(by_key[key].label, record["status"], record.get("wall_s") or 0.0, costs[key])

    def unfinished(i: int) -> tuple[Cell, ...]:
        return tuple(c for c in pending[i] if c.key not in stored)

    progress.begin(len(todo), sum(costs.values()), workers=min(spec.workers, len(ordered)))
    try:
        while pending:
            with open_executor(spec) as pool:
                futures = {pool.executor.submit(run_group, GroupTask(unfinished(i), checkpoints, str(data_root()),
                                                                      device, threads, pool.channel)): i
                           for i in pending}
                broken = False
                while futures and not broken:
                    done, _ = wait(futures, timeout=0.5, return_when=FIRST_COMPLETED)
                    for record, artifacts in pool.channel.drain():
                        keep(record, artifacts)
                    for future in done:
                        i = futures.pop(future)
                        try:
                            future.result()
                        except BrokenExecutor:  # a worker process died: this group and the unfinished ones
                            broken = True
                            attempts[i] += 1
                            continue
                        except Exception as exc:  # the task itself failed on the worker (or Dask gave up)
                            for cell in unfinished(i):
                                keep(_failed(cell, f"worker failed: {type(exc).__name__}: {exc}", device), {})
                        for record, artifacts in pool.channel.drain():  # sent before the task returned
                            keep(record, artifacts)
                        for cell in unfinished(i):
                            keep(_failed(cell, "its worker returned without sending the cell's result", device), {})
                        del pending[i]
                if broken:
                    for future, i in futures.items():
                        future.cancel()
                        attempts[i] += 1
                    for record, artifacts in pool.channel.drain():
                        keep(record, artifacts)
                    for i in [i for i in pending if attempts[i] > RETRIES or not unfinished(i)]:
                        for cell in unfinished(i):
                            keep(_failed(cell, f"its worker process died {attempts[i]} times", device), {})
                        del pending[i]
    finally:
        progress.close()
    return summary
