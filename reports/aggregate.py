"""What a report says across cells, computed once from the leaderboard: learning curves
(:mod:`reports.curves`), the ranking across conditions (:mod:`reports.ranking`) and cost beside quality
(:mod:`reports.pareto`), with their figures and CSVs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from bench.result import CellResult

from . import curves as curves_
from . import pareto, ranking
from .leaderboard import Evidence, Table, headlines


@dataclass
class Aggregates:
    curves: pd.DataFrame  # learning-curve points
    aucs: pd.DataFrame  # area under each curve over log size
    thresholds: list[curves_.Threshold]  # where augmentation starts to beat the baseline
    rankings: list[ranking.Ranking]
    costs: pd.DataFrame  # per dataset × model × size
    quality: pd.DataFrame  # per dataset × family × model, for the Pareto figures
    curve_figures: dict[tuple, Path] = field(default_factory=dict)  # curve family -> PNG
    cd_figures: list[Path] = field(default_factory=list)
    pareto_figures: list[tuple[str, str, Path]] = field(default_factory=list)  # dataset, family, PNG

    @property
    def tables(self) -> list[Table]:
        """The learning-curve and cost tables (the ranking's go above the verdict)."""
        return (curves_.curve_tables(self.aucs, self.thresholds, self.board, self.curve_metrics)
                + pareto.cost_tables(self.costs))

    board: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)  # the leaderboard they come from
    curve_metrics: list[str] = field(default_factory=list)  # what the learning curves follow


def aggregate(board: pd.DataFrame, results: pd.DataFrame, cells: list[CellResult], items: dict,
              timings: list[dict[str, Any]], *, evidence: Evidence | None = None) -> Aggregates:
    evidence = evidence or Evidence.of(results, items)
    meta = evidence.metrics
    followed, gain = curves_.curve_metrics(meta)
    points = curves_.curve_frame(board, followed)
    costs = pareto.cost_frame(cells, timings)
    higher = dict(zip(meta["metric"], meta["higher_is_better"].astype(bool)))
    return Aggregates(points, curves_.auc_frame(points, evidence), curves_.thresholds(board, evidence, gain),
                      ranking.rankings(board, results, items, evidence=evidence), costs,
                      pareto.quality_frame(board, headlines(meta), higher), board=board, curve_metrics=followed)


def _write(path: Path, png: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)
    return path


def draw(found: Aggregates, out_dir: Path) -> None:
    """Learning curves per curve family, critical-difference diagrams, Pareto figures, under ``figures/``."""
    figures = out_dir / "figures"
    for family in sorted({tuple(k) for k in found.curves[curves_.FAMILY].itertuples(index=False)}):
        png = curves_.learning_curve_png(found.curves, family)
        if png is not None:
            found.curve_figures[family] = _write(figures / curves_.figure_name(family), png)
    for r in found.rankings:
        png = ranking.cd_diagram_png(r)
        if png is not None:
            found.cd_figures.append(_write(figures / ranking.figure_name(r), png))
    for dataset, family in found.quality[["dataset", "family"]].drop_duplicates().itertuples(index=False):
        png = pareto.pareto_png(found.quality, found.costs, dataset, family)
        if png is not None:
            found.pareto_figures.append((dataset, family, _write(figures / f"{dataset}_{family}_pareto.png", png)))


def write_csvs(found: Aggregates, out_dir: Path) -> list[Path]:
    """``ranking.csv`` and ``learning_curves.csv`` where there is something to put in them."""
    written = []
    if found.rankings:
        ranking.ranking_frame(found.rankings).to_csv(out_dir / "ranking.csv", index=False)
        written.append(out_dir / "ranking.csv")
    if not found.aucs.empty:
        curves_.curve_csv(found.aucs, found.thresholds).to_csv(out_dir / "learning_curves.csv", index=False)
        written.append(out_dir / "learning_curves.csv")
    return written
