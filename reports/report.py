"""What every reporter reads: one store's results, with the tables, verdicts and figures built once, on first
use, whichever reporters ask (:class:`registry.ReporterSpec`)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any, Mapping

from bench.files import atomic_write
from bench.result import CellResult
from bench.store import Store


class Report:
    """A store's results as the reporters see them. ``options``: what the run or the command line gave the
    reporters (``tracking_uri``, ``experiment``); ``out_dir``: where file reporters write (figures under
    ``figures/``)."""

    def __init__(self, store: Store, out_dir: Path, options: Mapping[str, Any] | None = None):
        self.store = store
        self.out_dir = Path(out_dir)
        self.options = dict(options or {})

    def write(self, name: str, text: str | bytes) -> Path:
        """``name`` in the output directory, written atomically (a reader never sees half a report)."""
        return atomic_write(self.out_dir / name, text)

    @cached_property
    def stored(self) -> list[CellResult]:
        """The store's records, each once under its own key (:mod:`bench.keys`)."""
        return self.store.results()

    @cached_property
    def cells(self) -> list[CellResult]:
        """The records as the tables show them: each under the CNN protocols it holds for
        (:func:`reports.leaderboard.under_protocols`)."""
        from .leaderboard import under_protocols

        return under_protocols(self.stored)

    @cached_property
    def items(self) -> dict:
        return self.store.items()

    @cached_property
    def results(self):
        """One row per cell × metric (:func:`reports.leaderboard.results_frame`), with the store's catalogue."""
        from .leaderboard import results_frame

        return results_frame(self.cells, self.store.catalogue())

    @cached_property
    def catalogue(self) -> dict[str, dict[str, Any]]:
        """What each family declares (:func:`reports.leaderboard.declared`)."""
        from .leaderboard import declared

        return declared(self.results)

    @cached_property
    def evidence(self):
        """What every test of the report reads, built once (:class:`reports.leaderboard.Evidence`): per row
        and metric the seeds' values, the cells' per-item values, the metrics' metadata."""
        from .leaderboard import Evidence

        return Evidence.of(self.results, self.items)

    @cached_property
    def board(self):
        """One row per leaderboard row: means over seeds, intervals, paired tests against the best row."""
        from .leaderboard import leaderboard_frame

        return leaderboard_frame(self.results, self.items, evidence=self.evidence)

    @cached_property
    def found(self):
        """Learning curves, rankings, costs (:func:`reports.aggregate.aggregate`)."""
        from .aggregate import aggregate

        return aggregate(self.board, self.results, self.cells, self.items, self.store.timings(),
                         evidence=self.evidence)

    @cached_property
    def tables(self):
        from .leaderboard import leaderboard_tables

        return leaderboard_tables(self.board, self.results, self.cells, extra=self.found.tables)

    @cached_property
    def glance(self):
        """The answer on top: one "at a glance" table per dataset and protocol (:mod:`reports.glance`)."""
        from .glance import glance_tables
        from .leaderboard import protocols

        return glance_tables(self.board, self.results, protocols(self.cells))

    @cached_property
    def ranked(self):
        from .ranking import ranking_tables

        return ranking_tables(self.found.rankings)

    @cached_property
    def blocks(self):
        """The verdict's blocks (:func:`reports.verdict.verdict`)."""
        from .verdict import verdict

        return verdict(self.board, self.results, self.cells, self.items, self.found.thresholds,
                       evidence=self.evidence)

    @cached_property
    def notices(self) -> list[str]:
        from .notices import failed_notice, precision_notice, untested_notice

        return [n for n in (failed_notice(self.stored), untested_notice(self.cells), precision_notice(self.stored)) if n]

    @cached_property
    def figures(self) -> list[Path]:
        """Every figure file under ``out_dir``, drawn once: those the evaluator drew (kept in the store), the
        learning curves, ranking and Pareto figures, and what the families declare against severity."""
        from .aggregate import draw
        from .figures import write_severity_figures

        written = []
        for key, name in self.store.artifact_names():
            if name.endswith(".png"):
                written.append(atomic_write(self.out_dir / name, self.store.artifact(key, name) or b""))
        draw(self.found, self.out_dir)
        return written + write_severity_figures(self.board, self.cells, self.out_dir, self.catalogue)
