"""What a run did, counted cell by cell (light to import: the CLI uses it when nothing is computed)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .result import CellResult


@dataclass
class RunSummary:
    computed: int = 0
    failed: int = 0
    skipped: int = 0
    reused: int = 0  # cells already in the store, not computed again
    failures: list[str] = field(default_factory=list)
    families: set[str] = field(default_factory=set)  # the metric families computed, on some cell at least

    def count(self, result: CellResult, label: str) -> None:
        """Count a computed cell's result."""
        self.computed += 1
        self.families.update(result.families)
        failed = result.failed_families()
        if result.status == "failed" and len(failed) in (0, len(result.families)):  # the cell itself (its model)
            self.failed += 1
            self.failures.append(f"{label}: {result.reason} (key {result.key[:8]})")
        elif failed:  # some families of a cell whose others ended
            self.failed += 1
            self.failures += [f"{label} [{name} family]: {run.reason} (key {result.key[:8]})" for name, run in failed.items()]
        self.skipped += result.status == "skipped"
