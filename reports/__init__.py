"""Leaderboards and tables built from stored results. Reports never train: they only read the store."""

from .leaderboard import leaderboard_frame, render_markdown, results_frame, write_reports

__all__ = ["leaderboard_frame", "render_markdown", "results_frame", "write_reports"]
