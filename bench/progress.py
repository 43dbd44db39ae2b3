"""Progress over cells and epochs: bars on a terminal, one plain line per cell otherwise.

The remaining time is estimated from the cells' expected costs (:mod:`bench.cost`), not their count: a
grid's first cells train the baseline CNN and the models, its last ones may reuse them. With several
workers the rate is what a finished cell's cost took its worker: dividing the time since the start by the
cost finished would count the other workers' half-done cells as idle time. Where the driver says what is
left on each worker (:class:`Left`), the time left is when the last worker ends: the cells running have
already run a while, and a grid's last cell runs alone however many workers there are."""

from __future__ import annotations

import heapq
import sys
import time
from dataclasses import dataclass
from typing import TextIO

from tqdm import tqdm


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


@dataclass(frozen=True)
class Left:
    """The work left when a cell ends, in expected cost (:mod:`bench.cost`): for each task on a worker, its
    current cell's cost, the seconds that cell has run and the cost of the task's cells after it; the queued
    tasks' costs, in the order they start."""

    running: tuple[tuple[float, float, float], ...] = ()
    queued: tuple[float, ...] = ()


def finish(left: Left, rate: float, workers: int) -> float:
    """Seconds until the last of ``workers`` is done at ``rate`` seconds a unit of cost: each running task
    ends after its current cell's expected time less what it has run (none below zero) and its later cells;
    each queued task goes, in turn, to the worker free first, as the driver hands them out."""
    free = [max(0.0, cost * rate - ran) + rest * rate for cost, ran, rest in left.running]
    free += [0.0] * max(0, workers - len(free))
    heapq.heapify(free)
    for cost in left.queued:
        heapq.heappush(free, heapq.heappop(free) + cost * rate)
    return max(free, default=0.0)


class Progress:
    """Call :meth:`begin` with the number of cells to compute (and their summed expected cost), then the
    per-cell and per-epoch hooks."""

    def __init__(self, *, quiet: bool = False, stream: TextIO | None = None):
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.interactive = not quiet and self.stream.isatty()
        self.total = self.done = 0
        self.total_cost = self.done_cost = self.busy = 0.0
        self.workers = 1
        self._cells: tqdm | None = None
        self._epochs: tqdm | None = None
        self._started = time.perf_counter()
        self._waiting: int | None = None
        self._left: Left | None = None

    def begin(self, total: int, cost: float | None = None, workers: int = 1) -> None:
        self.total, self.done, self._started = total, 0, time.perf_counter()
        self.total_cost, self.done_cost, self.busy = (float(total) if cost is None else cost), 0.0, 0.0
        self.workers, self._left = max(1, workers), None
        if not self.quiet and not self.interactive:  # the first line comes at once, not after the first cell
            print(f"computing {total} cell{'s' * (total != 1)} on {self.workers} worker{'s' * (self.workers != 1)}; "
                  "each line below is a cell that ended, with the time left", file=self.stream, flush=True)
        if self.interactive:
            self._cells = tqdm(total=total, unit="cell", file=self.stream, dynamic_ncols=True,
                               bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]")

    def eta(self) -> str:
        """Time left, from the time the cost done so far took; "?" before any cost is done."""
        if self.done_cost <= 0:
            return "?"
        if self.workers > 1 and self.busy > 0:  # seconds of one worker a unit of cost
            rate, workers = self.busy / self.done_cost, self.workers
        else:  # one worker's, or while only cells of other runs have ended: the run's time so far
            rate, workers = (time.perf_counter() - self._started) / self.done_cost, 1
        if self._left is not None:
            return _duration(finish(self._left, rate, workers))
        return _duration(max(0.0, self.total_cost - self.done_cost) * rate / workers)

    def start_cell(self, label: str) -> None:
        if self._cells is not None:
            self._cells.set_description(label)

    def start_training(self, label: str, epochs: int) -> None:
        if self.interactive:
            self._epochs = tqdm(total=epochs, unit="epoch", desc=f"  train {label}", leave=False,
                                file=self.stream, dynamic_ncols=True)

    def epoch(self, epoch: int, loss: float) -> None:
        if self._epochs is not None:
            self._epochs.update(1)
            self._epochs.set_postfix(loss=f"{loss:.4g}")

    def end_training(self) -> None:
        if self._epochs is not None:
            self._epochs.close()
            self._epochs = None

    def end_cell(self, label: str, status: str, seconds: float, cost: float = 1.0, total: float | None = None,
                 left: Left | None = None) -> None:
        """One line per cell: ``status`` is "done", or a word and why ("failed: reconstruction
        (...)", :meth:`bench.result.CellResult.status_line`). ``total``: the run's expected cost, where what
        the cells did changed it (:meth:`bench.cost.Work.recharge`); ``left``: what is left on each worker."""
        self.done += 1
        self.done_cost += cost
        if total is not None:
            self.total_cost = total
        self._left = left
        self.busy += seconds
        if self._cells is not None:
            self._cells.set_postfix_str(f"eta {self.eta()}")
            self._cells.update(1)
            if status.startswith("failed"):  # named at once, above the bar
                self._cells.write(f"{label}: {status}", file=self.stream)
        elif not self.quiet:
            word, _, why = status.partition(": ")  # "failed: why" -> "failed in 2.5s (eta 20s): why"
            print(f"[{self.done}/{self.total}] {label}: {word} in {seconds:.1f}s (eta {self.eta()})"
                  + (f": {why}" if why else ""), file=self.stream, flush=True)

    def waiting(self, cells: int) -> None:
        """Only cells that other runs on the store are computing are left: say so once per count."""
        if self.quiet or self._waiting == cells:
            return
        self._waiting = cells
        message = f"waiting for {cells} cell{'s' * (cells != 1)} that another run on this store is computing"
        if self._cells is not None:
            self._cells.set_postfix_str(message)
        else:
            print(message, file=self.stream, flush=True)

    def close(self) -> None:
        self.end_training()
        if self._cells is not None:
            self._cells.close()
