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

    def count(self, result: CellResult, label: str) -> None:
        """Count a computed cell's result."""
        self.computed += 1
        if result.status == "failed":
            self.failed += 1
            self.failures.append(f"{label}: {result.reason} (key {result.key[:8]})")
        self.skipped += result.status == "skipped"
