"""Leaderboards, tables and figures built from stored results. Reports never train: they only read the store.

Names load on first use, so that a command with nothing to draw does not pay for pandas and matplotlib."""

from importlib import import_module

from .outputs import FORMATS, check_reporters, write_reports

_LAZY = {name: ".leaderboard" for name in ("leaderboard_frame", "leaderboard_tables", "render_markdown",
                                           "results_frame")}
__all__ = ["FORMATS", "check_reporters", "write_reports", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'reports' has no attribute {name!r}")
