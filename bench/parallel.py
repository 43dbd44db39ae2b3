"""Running a grid's cells through an executor (``processes:N``, Dask): the cells are grouped as the local
runner would run them back to back (one dataset, seed and model per group, so a model is trained once per
group), each group runs in a worker, and the worker returns the records to this process, which alone
writes the store. Workers write checkpoints into the run's ``checkpoints/`` (on Dask, workers on other
machines need it on a shared file system; without it they retrain).

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

from .executors import ExecutorSpec, open_executor
from .grid import BASELINE, Cell
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
            datasets[cell.dataset] = load(registry.spec("datasets", cell.dataset),
                                          version=registry.entry("datasets", cell.dataset).version)
        if datasets[cell.dataset].fingerprint != cell.dataset_fingerprint:
            raise RuntimeError(f"dataset '{cell.dataset}' on worker {os.uname().nodename} has fingerprint "
                               f"{datasets[cell.dataset].fingerprint}, the run planned {cell.dataset_fingerprint}: "
                               "give every worker the same data")
    return _WORKER["runner"]


def run_group(task: GroupTask) -> list[tuple[dict[str, Any], dict[str, bytes]]]:
    """Run ``task``'s cells in order in this (worker) process; their records and artifacts."""
    runner = _worker_runner(task)
    quiet = Progress(quiet=True)
    return [runner.run_cell(cell, quiet) for cell in task.cells]


def groups(cells: list[Cell]) -> list[tuple[Cell, ...]]:
    """Cells grouped as the local runner runs them back to back: per dataset, seed, profile and model."""
    grouped: dict[tuple, list[Cell]] = defaultdict(list)
    for cell in cells:
        grouped[(cell.dataset, cell.seed, cell.profile.name, cell.model_label if cell.model != BASELINE else "")
                ].append(cell)
    return [tuple(g) for g in grouped.values()]


def _failed(cell: Cell, reason: str, device: str) -> dict[str, Any]:
    stamp = now()
    return {"cell": cell.describe(), "status": "failed", "reason": reason, "metrics": [], "wall_s": 0.0,
            "provenance": {**environment(device), "started": stamp, "ended": stamp}}


def run_parallel(spec: ExecutorSpec, cells: list[Cell], store: Store, *, rerun: str | None, run_id: int | None,
                 progress: Progress, device: str, threads: int) -> RunSummary:
    """Compute the cells of ``cells`` the store lacks through the executor of ``spec``; store each group's
    records as it comes back."""
    from .data import data_root

    summary = RunSummary()
    statuses = store.statuses([c.key for c in cells])
    todo = [c for c in cells if needs_computing(statuses.get(c.key), rerun)]
    summary.reused = len(cells) - len(todo)
    labels = {c.key: c.label for c in todo}
    pending = dict(enumerate(groups(todo)))
    attempts: dict[int, int] = defaultdict(int)
    checkpoints = str(store.path.parent / "checkpoints")

    def keep(records: list[tuple[dict[str, Any], dict[str, bytes]]]) -> None:
        for record, artifacts in records:
            store.add(record, artifacts, run_id=run_id)
            summary.computed += 1
            if record["status"] == "failed":
                summary.failed += 1
                summary.failures.append(f"{labels[record['cell']['key']]}: {record['reason']}")
            summary.skipped += record["status"] == "skipped"
            progress.end_cell(labels[record["cell"]["key"]], record["status"], record.get("wall_s") or 0.0)

    progress.begin(len(todo))
    try:
        while pending:
            with open_executor(spec) as executor:
                futures = {executor.submit(run_group, GroupTask(group, checkpoints, str(data_root()), device, threads)): i
                           for i, group in pending.items()}
                broken = False
                while futures and not broken:
                    done, _ = wait(futures, return_when=FIRST_COMPLETED)
                    for future in done:
                        i = futures.pop(future)
                        try:
                            records = future.result()
                        except BrokenExecutor:  # a worker process died: this group and the unfinished ones
                            broken = True
                            attempts[i] += 1
                            continue
                        except Exception as exc:  # the task itself failed on the worker (or Dask gave up)
                            records = [(_failed(c, f"worker failed: {type(exc).__name__}: {exc}", device), {})
                                       for c in pending[i]]
                        keep(records)
                        del pending[i]
                if broken:
                    for future, i in futures.items():
                        future.cancel()
                        attempts[i] += 1
                    for i in [i for i in pending if attempts[i] > RETRIES]:
                        keep([(_failed(c, f"its worker process died {attempts[i]} times", device), {})
                              for c in pending.pop(i)])
    finally:
        progress.close()
    return summary
