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

    def count(self, result: CellResult, label: str, stored: list[CellResult] | None = None) -> None:
        """Count a computed cell's result; its failures are named by the keys of the records they are stored in
        (``stored``: :meth:`bench.store.Store.add`'s; a cell that failed whole, by the first)."""
        self.computed += 1
        self.families.update(result.families)
        if result.outcome == "failed":  # the cell whole (its model), or some families of it
            self.failed += 1
            found: dict[tuple, str] = {}
            for part in [r for r in stored or () if r.outcome == "failed"] or [result]:
                for f in part.failures():
                    found.setdefault((f.family, f.reason), f.key)
            self.failures += [f"{label}{'' if family is None else f' [{family} family]'}: {reason} (key {key[:8]})"
                              for (family, reason), key in found.items()]
        self.skipped += result.status == "skipped"
