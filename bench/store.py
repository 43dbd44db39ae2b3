"""The results store of a run directory: one JSON record per finished cell, appended and flushed as
soon as the cell ends, so a run killed at any moment keeps every cell it finished.

A later record for the same key supersedes an earlier one (``--rerun``). Reports read only this file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator

STORE_NAME = "cells.jsonl"


class Store:
    def __init__(self, out_dir: Path):
        self.path = Path(out_dir) / STORE_NAME

    def add(self, record: dict[str, Any]) -> None:
        """Append one cell's record durably (a torn last line from a kill is ignored on read)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(record, sort_keys=True, allow_nan=True) + "\n"
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    def _lines(self) -> Iterator[dict[str, Any]]:
        if not self.path.exists():
            return
        with open(self.path, encoding="utf-8") as f:
            for line in f:
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    continue  # the line a killed writer left half-written

    def records(self) -> list[dict[str, Any]]:
        """The latest record of every cell, oldest first."""
        latest: dict[str, dict[str, Any]] = {}
        for record in self._lines():
            latest.pop(record["cell"]["key"], None)
            latest[record["cell"]["key"]] = record
        return list(latest.values())

    def statuses(self) -> dict[str, str]:
        return {r["cell"]["key"]: r["status"] for r in self.records()}
