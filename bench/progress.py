"""Progress over cells and epochs: bars on a terminal, one plain line per cell otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from tqdm import tqdm


class Progress:
    """Call :meth:`begin` with the number of cells to compute, then the per-cell and per-epoch hooks."""

    def __init__(self, *, quiet: bool = False, stream: TextIO | None = None):
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.interactive = not quiet and self.stream.isatty()
        self.total = self.done = 0
        self._cells: tqdm | None = None
        self._epochs: tqdm | None = None
        self._started = time.perf_counter()

    def begin(self, total: int) -> None:
        self.total, self.done, self._started = total, 0, time.perf_counter()
        if self.interactive:
            self._cells = tqdm(total=total, unit="cell", file=self.stream, dynamic_ncols=True)

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

    def end_cell(self, label: str, status: str, seconds: float) -> None:
        self.done += 1
        if self._cells is not None:
            self._cells.update(1)
        elif not self.quiet:
            elapsed = time.perf_counter() - self._started
            eta = elapsed / self.done * (self.total - self.done)
            print(f"[{self.done}/{self.total}] {label}: {status} in {seconds:.1f}s (eta {eta:.0f}s)",
                  file=self.stream, flush=True)

    def close(self) -> None:
        self.end_training()
        if self._cells is not None:
            self._cells.close()
