"""Progress over cells and epochs: bars on a terminal, one plain line per cell otherwise.

The remaining time is estimated from the cells' expected costs (:mod:`bench.cost`), not their count: a
grid's first cells train the baseline CNN and the models, its last ones may reuse them. With several
workers the rate is what a finished cell's cost took its worker, shared by the workers: dividing the time
since the start by the cost finished would count the other workers' half-done cells as idle time."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from tqdm import tqdm


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


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

    def begin(self, total: int, cost: float | None = None, workers: int = 1) -> None:
        self.total, self.done, self._started = total, 0, time.perf_counter()
        self.total_cost, self.done_cost, self.busy = (float(total) if cost is None else cost), 0.0, 0.0
        self.workers = max(1, workers)
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
        left = max(0.0, self.total_cost - self.done_cost)
        if self.workers > 1 and self.busy > 0:
            return _duration(left * self.busy / self.done_cost / self.workers)
        return _duration(left * (time.perf_counter() - self._started) / self.done_cost)

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

    def end_cell(self, label: str, status: str, seconds: float, cost: float = 1.0, total: float | None = None
                 ) -> None:
        """One line per cell: ``status`` is "done", or a word and why ("failed: reconstruction
        (...)", :meth:`bench.result.CellResult.status_line`). ``total``: the run's expected cost, where what
        the cells did changed it (:meth:`bench.cost.Work.recharge`)."""
        self.done += 1
        self.done_cost += cost
        if total is not None:
            self.total_cost = total
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
