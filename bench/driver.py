"""The driver: one loop for every executor. It decides which cells to compute (those the store lacks, or
more under ``--rerun``), claims them in the store before computing them, hands them to the executor,
stores each record as it arrives, and keeps the run's summary and progress.

- **Tasks.** On ``local`` each cell is a task, in the plan's order, run in this process with the caller's
  registry and data. On ``processes:N`` and Dask a task is a group of cells that share work (one trained
  model: a plain model's cells together, a denoising model's per noise and severity; the baseline CNN's
  cells together), the dearest groups first so that fewer workers idle at the end; a worker sends each
  cell's record back as soon as the cell ends, and this process alone writes the store.
- **Claims.** A task's cells are claimed (:meth:`bench.store.Store.claim`) just before the task starts, so
  two runs sharing one store split the work instead of computing it twice. A cell another live run holds
  is deferred: when nothing else is left, this run waits for it, counts it as reused once that run stores
  it, and computes it itself if that run died (its claim expires). A cell stored by another run after this
  run planned is not computed again.
- **Failures.** A plugin's failure fails its cell (the evaluator records why). A worker process that dies
  takes its task's unfinished cells back to the queue, up to :data:`RETRIES` times.
"""

from __future__ import annotations

import time
import traceback
from collections import defaultdict, deque
from concurrent.futures import BrokenExecutor, Future
from typing import Any

from registry import Registry

from .cost import Work, expected_costs, plan_work, sources
from .data import LoadedDataset, data_root
from .executors import ExecutorSpec, open_executor
from .grid import Cell, groups
from .progress import Left, Progress
from .provenance import environment, now
from .result import CellResult, FamilyRun, Timings
from .store import Owner, Store, pending
from .summary import RunSummary

#: Times a task is started again after its worker process died (``processes:N``; Dask reschedules by itself).
RETRIES = 2
#: Seconds between looks at the store while only cells that other runs hold are left.
WAIT_S = 2.0


def _failed(cell: Cell, reason: str, device: str, versions: dict[str, str],
            exc: BaseException | None = None) -> CellResult:
    """A cell its worker could not finish: each family it was to compute failed (``versions``: each family's),
    so the families it has stored are kept."""
    stamp = now()
    trace = None if exc is None else "".join(traceback.format_exception(exc))
    return CellResult(cell.describe(), "failed", reason, {**environment(device), "started": stamp, "ended": stamp},
                      Timings(0.0), traceback=trace,
                      families={f: FamilyRun(versions[f], "failed", reason, trace) for f in cell.families})


def _feature_steps(cells: list[Cell], families: dict[str, Any], datasets: dict[str, LoadedDataset]) -> dict[str, int]:
    """By dataset, the optimizer steps its feature network still needs, where a cell to compute uses it."""
    wanted = {c.dataset for c in cells if any(families[f].features for f in c.families)}
    if not wanted:
        return {}
    from .features import steps_left  # torch: only when a cell to compute uses the feature network

    return {d: steps_left(d, datasets[d]) for d in sorted(wanted)}


def _tasks(cells: list[Cell], spec: ExecutorSpec, families: dict[str, Any],
           feature_steps: dict[str, int]) -> list[tuple[Cell, ...]]:
    if spec.kind == "local":
        return [(cell,) for cell in cells]
    costs = expected_costs(cells, families, feature_steps)
    return sorted(groups(cells), key=lambda g: -sum(costs[c.key] for c in g))  # longest first: less idle at the end


def _next(queue: deque, work: Work, busy: set[str]) -> tuple[int, tuple[Cell, ...]]:
    """Take the first task of ``queue`` whose shared work (the reference classifier of its split, the feature
    network) is not being done by a cell of ``busy`` (running or waiting on a worker), so that a free worker
    computes cells that can start instead of waiting on a lock; the first task if every one waits."""
    for at, (_, task) in enumerate(queue):
        if not any(work.waits_on(c.key) & busy for c in task):
            queue.rotate(-at)
            found = queue.popleft()
            queue.rotate(at)
            return found
    return queue.popleft()


def drive(spec: ExecutorSpec, cells: list[Cell], store: Store, *, registry: Registry,
          datasets: dict[str, LoadedDataset], rerun: str | None, run_id: int | None, progress: Progress,
          device: str, threads: int) -> RunSummary:
    """Compute the cells of ``cells`` that need computing through the executor of ``spec``; store and
    report each cell as its record arrives."""
    summary = RunSummary()
    families = {e.name: e.spec for e in registry.list("families")}
    versions = {name: f.version for name, f in families.items()}
    todo = pending(store, cells, versions, rerun)
    summary.reused = len(cells) - len(todo)
    feature_steps = _feature_steps(todo, families, datasets)
    tasks = _tasks(todo, spec, families, feature_steps)
    # shared work is charged to the tasks that start first
    work = plan_work([c for task in tasks for c in task], families, feature_steps)
    costs = work.costs
    by_key = {c.key: c for c in todo}
    records = {c.key: c.record_keys for c in todo}  # the records a cell's families are kept in (bench.keys)
    seen = store.ended(list(by_key), records)  # a change of a cell's end time: another run stored it
    queue = deque(enumerate(tasks))
    next_id = len(tasks)
    deferred: set[str] = set()
    attempts: dict[int, int] = defaultdict(int)
    stored: set[str] = set()
    active: dict[int, tuple[Cell, ...]] = {}  # the tasks on the workers, by id
    since: dict[int, float] = {}  # when each one's current cell started
    owner = Owner.this_process()
    checkpoints = str(store.path.parent / "checkpoints")
    local_evaluator = None

    def keep(result: CellResult) -> None:
        if result.key in stored:
            return
        cell = by_key[result.key]
        parts = store.add(result, run_id=run_id, owner=owner, scopes=dict(cell.scopes))  # renews our other claims
        work.recharge(result.key, sources(cell, result), stored)
        stored.add(result.key)
        for i, task in active.items():  # its task's next cell starts
            if any(c.key == result.key for c in task):
                since[i] = time.perf_counter()
        summary.count(result, cell.label, parts)
        progress.end_cell(cell.label, result.status_line(), result.timings.wall_s, costs[result.key],
                          total=sum(costs.values()), left=left())

    def left() -> Left:
        """What is left on each worker and in the queue, in expected cost (the ETA's end is the last worker's)."""
        clock, running = time.perf_counter(), []
        for i, task in active.items():
            if rest := unfinished(task):
                running.append((costs[rest[0].key], clock - since[i], sum(costs[c.key] for c in rest[1:])))
        return Left(tuple(running), tuple(sum(costs[c.key] for c in unfinished(task)) for _, task in queue))

    def stored_elsewhere(keys: list[str]) -> None:
        for key in keys:
            deferred.discard(key)
            stored.add(key)
            summary.reused += 1
            progress.end_cell(by_key[key].label, "stored by another run", 0.0, costs[key], left=left())

    def claim(task: tuple[Cell, ...]) -> tuple[Cell, ...]:
        """The cells of ``task`` this run computes now; those another live run holds are deferred."""
        wanted = [c.key for c in task if c.key not in stored]
        mine, elsewhere = store.claim({k: seen.get(k) for k in wanted}, owner, records)
        stored_elsewhere(elsewhere)
        deferred.update(k for k in wanted if k not in mine and k not in elsewhere)
        return tuple(c for c in task if c.key in mine)

    def submit(pool: Any, task: tuple[Cell, ...]) -> Future:
        nonlocal local_evaluator
        if spec.kind == "local":
            from .checkpoints import Checkpoints
            from .evaluator import Evaluator
            from .workers import run_cells

            if local_evaluator is None:
                local_evaluator = Evaluator(registry, datasets, Checkpoints(checkpoints), device=device)
            return pool.submit(run_cells, local_evaluator, task, pool.channel, progress)
        from .workers import GroupTask, run_group

        return pool.submit(run_group, GroupTask(task, checkpoints, str(data_root()), device, threads, pool.channel))

    def unfinished(task: tuple[Cell, ...]) -> tuple[Cell, ...]:
        return tuple(c for c in task if c.key not in stored)

    progress.begin(len(todo), sum(costs.values()), workers=min(spec.workers, len(tasks)))
    try:
        while queue or deferred:
            with open_executor(spec) as pool:
                running: dict[Future, tuple[int, tuple[Cell, ...]]] = {}
                broken: list[tuple[int, tuple[Cell, ...]]] = []
                refused = False  # a worker died since the last wait: this pool takes no more tasks
                while (queue or running or deferred) and not broken:
                    while queue and len(running) < spec.workers and not refused:
                        i, task = _next(queue, work, {c.key for _, t in running.values() for c in t} - stored)
                        mine = claim(task)
                        if mine:
                            try:
                                running[submit(pool, mine)] = (i, mine)
                                active[i], since[i] = mine, time.perf_counter()
                            except BrokenExecutor:  # sent again to a new pool, without counting an attempt
                                queue.appendleft((i, mine))
                                refused = True
                    if refused and not running:
                        break
                    if not running:
                        if not queue and deferred:  # only cells that other runs hold are left
                            progress.waiting(len(deferred))
                            time.sleep(WAIT_S)
                            for task in _tasks([by_key[k] for k in sorted(deferred)], spec, families, feature_steps):
                                queue.append((next_id, task))
                                next_id += 1
                            deferred.clear()  # claimed again (or deferred again) as they come out of the queue
                        continue
                    done = pool.wait(running)
                    for result in pool.channel.drain():
                        keep(result)
                    for future in done:
                        i, task = running.pop(future)
                        active.pop(i, None)
                        try:
                            future.result()
                        except BrokenExecutor:  # a worker process died: this task and the unfinished ones
                            broken.append((i, task))
                            continue
                        except Exception as exc:  # the task itself failed on the worker (or Dask gave up)
                            for cell in unfinished(task):
                                keep(_failed(cell, f"worker failed: {type(exc).__name__}: {exc}", device, versions, exc))
                        for result in pool.channel.drain():  # sent before the task returned
                            keep(result)
                        for cell in unfinished(task):
                            keep(_failed(cell, "its worker returned without sending the cell's result", device, versions))
                if broken:
                    active.clear()
                    for future, item in running.items():
                        future.cancel()
                        broken.append(item)
                    for result in pool.channel.drain():
                        keep(result)
                    for i, task in broken:
                        attempts[i] += 1
                        if attempts[i] > RETRIES:
                            for cell in unfinished(task):
                                keep(_failed(cell, f"its worker process died {attempts[i]} times", device, versions))
                        elif unfinished(task):
                            queue.appendleft((i, unfinished(task)))
    finally:
        store.release(owner)
        progress.close()
    return summary
