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
        if result.outcome == "failed":  # the cell whole (its model), or some families of it
            self.failed += 1
            self.failures += [f"{label}{'' if f.family is None else f' [{f.family} family]'}: {f.reason} "
                              f"(key {result.key[:8]})" for f in result.failures()]
        self.skipped += result.status == "skipped"
