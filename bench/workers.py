"""What runs where cells are computed: :func:`run_cells` in this process (``local``) and :func:`run_group`
in a worker of ``processes:N`` or Dask, which builds its own evaluator from the task (everything but the
data, which it reads itself) and keeps it between tasks, so a split or a baseline CNN is reused.

Workers write checkpoints into the run's ``checkpoints/`` (the baseline CNN under a file lock, so workers
on one machine train it once; on Dask, workers on other machines need the directory on a shared file
system, else they retrain). Results do not depend on where a cell runs: every random draw of a cell is
seeded from the cell, a worker checks that its dataset has the fingerprint the cell was planned with, and
the threads per cell (torch's and the BLAS/OpenMP pools of numpy and scikit-learn) are the same everywhere
(see :mod:`bench.threads`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .executors import Channel
from .grid import Cell
from .progress import Progress

if TYPE_CHECKING:
    from .evaluator import Evaluator


@dataclass(frozen=True)
class GroupTask:
    """What a worker needs to run a group of cells."""

    cells: tuple[Cell, ...]
    checkpoints: str
    data_root: str
    device: str
    threads: int
    channel: Channel  # where each cell's CellResult goes as soon as it ends


def run_cells(evaluator: Evaluator, cells: tuple[Cell, ...], channel: Channel, progress: Progress) -> list[str]:
    """Evaluate ``cells`` in order, sending each one's :class:`~bench.result.CellResult` on ``channel`` as it
    ends; the keys sent."""
    for cell in cells:
        progress.start_cell(cell.label)
        channel.put(evaluator.evaluate(cell, progress))
    return [cell.key for cell in cells]


_WORKER: dict[str, Any] = {}


def _worker_evaluator(task: GroupTask) -> Evaluator:
    """The worker process's evaluator (kept between tasks)."""
    from registry import load_registry

    from .checkpoints import Checkpoints
    from .data import load
    from .evaluator import Evaluator
    from .said import say_warnings_in_bench_words
    from .threads import set_threads

    say_warnings_in_bench_words(plugin_loads=False)  # the run that started this worker said those
    set_threads(task.threads)
    os.environ["BENCH_DATA"] = task.data_root
    key = (task.checkpoints, task.device)
    if _WORKER.get("key") != key:
        registry = load_registry()
        _WORKER.update(key=key, evaluator=Evaluator(registry, {}, Checkpoints(task.checkpoints), device=task.device))
    evaluator: Evaluator = _WORKER["evaluator"]
    registry, datasets = evaluator.registry, evaluator.datasets
    for cell in task.cells:
        if cell.dataset not in datasets:
            datasets[cell.dataset] = load(registry.spec("datasets", cell.dataset_name), cell.dataset_params,
                                          version=registry.entry("datasets", cell.dataset_name).version)
        if datasets[cell.dataset].fingerprint != cell.dataset_fingerprint:
            raise RuntimeError(f"dataset '{cell.dataset}' on worker {os.uname().nodename} has fingerprint "
                               f"{datasets[cell.dataset].fingerprint}, the run planned {cell.dataset_fingerprint}: "
                               "give every worker the same data")
    return evaluator


def run_group(task: GroupTask) -> list[str]:
    """Run ``task``'s cells in this (worker) process; see :func:`run_cells`."""
    return run_cells(_worker_evaluator(task), task.cells, task.channel, Progress(quiet=True))
