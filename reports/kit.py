"""A small real store for the plugin kit: ``bench plugins check`` tries a reporter's ``write`` on what a real
``bench run`` stored (two models, two seeds, one noise, the reconstruction family, on digits: marks, intervals
and per-image values are all there), built once per bench version in the data cache (``$BENCH_DATA/kit``,
seconds the first time)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from bench.data import data_root
from bench.store import SCHEMA_VERSION
from bench.version import __version__

from .report import Report

#: The grid of the kit's store: what ``bench run`` stores for it is what every reporter reads.
GRID = {"models": "ae,dae", "noises": "gaussian", "datasets": "digits", "seeds": 2, "severities": [1],
        "families": "reconstruction"}


def kit_store() -> Path:
    """The kit's results store, run once per bench version and store schema (a later call reads it back)."""
    from bench.api import run

    path = data_root() / "kit" / f"bench-{__version__}-schema{SCHEMA_VERSION}" / "results.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    run(**GRID, store=path, executor="local", quiet=True)  # cells already stored are read back, not computed
    return path


def kit_reports() -> Callable[[Path], Report]:
    """A maker of reports on the kit's store, writing into the directory it is given."""
    from bench.store import open_store

    store = open_store(kit_store())
    return lambda out_dir: Report(store, out_dir)
