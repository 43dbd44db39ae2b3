"""The built-in report formats, registered through the entry-point group ``bench`` as a third party's reporter
is (:class:`registry.ReporterSpec`). Light to import: each writer imports what it draws with."""

from __future__ import annotations

from pathlib import Path

from registry import ReporterSpec, hookimpl

from .report import Report


def write_md(report: Report) -> list[Path]:
    """``leaderboard.md``: notices, ranking, verdict and the family tables; ``timing.md`` when the store has
    timings."""
    from .glance import render_glance_markdown
    from .leaderboard import render_markdown, render_ranking_markdown
    from .ranking import RANKING_LEGEND
    from .timing import write_timing
    from .verdict import render_verdict_markdown

    report.figures  # noqa: B018  (the tables link them)
    preface = [*(f"> {n}\n" for n in report.notices), *render_glance_markdown(report.glance),
               *render_ranking_markdown(report.ranked, RANKING_LEGEND),
               *render_verdict_markdown(report.blocks, report.board)]
    text = render_markdown(report.tables, empty=report.board.empty, preface=preface)
    return [report.write("leaderboard.md", text), *write_timing(report.store, report.out_dir, ("md",))]


def write_csv(report: Report) -> list[Path]:
    """``results.csv`` (long), ``leaderboard.csv`` (wide, with costs), ``ranking.csv`` and
    ``learning_curves.csv`` where there is something in them, ``timing.csv``."""
    from .aggregate import write_csvs
    from .pareto import with_costs
    from .timing import write_timing

    written = [report.write("results.csv", report.results.to_csv(index=False)),
               report.write("leaderboard.csv", with_costs(report.board, report.found.costs).to_csv(index=False))]
    return written + write_csvs(report.found, report.out_dir) + write_timing(report.store, report.out_dir, ("csv",))


def write_html(report: Report) -> list[Path]:
    """``report.html``: one self-contained page, every figure inlined."""
    from .html import Figure, render_html
    from .outputs import report_data
    from .timing import timing_frame, timing_tables
    from .verdict import verdict_preamble

    report.figures  # noqa: B018
    found = report.found
    data = report_data(report)
    for (dataset, profile, budget, precision, noise), path in found.curve_figures.items():
        data.per_noise.setdefault((dataset, noise), []).insert(0, Figure(
            f"{dataset} · {noise}: learning curves of each family's headline metric, 95% intervals "
            f"({profile} profile, CNN {budget})", path.read_bytes()))
    data.timing = timing_tables(timing_frame(report.store.timings()))
    data.verdict, data.notices, data.ranking, data.glance = report.blocks, report.notices, report.ranked, report.glance
    data.ranking_figures = [Figure(p.stem.replace("_", " "), p.read_bytes()) for p in found.cd_figures]
    data.pareto = [Figure(f"{dataset} · {family}: quality against cost, Pareto front named", path.read_bytes())
                   for dataset, family, path in found.pareto_figures]
    data.verdict_preamble = verdict_preamble(report.board) if report.blocks else ""
    return [report.write("report.html", render_html(data))]


def write_json(report: Report) -> list[Path]:
    """``results.json``: every cell with its metrics, the leaderboard's means, intervals and p-values, and
    provenance (the schema ships with the package: ``bench/schema/results.schema.json``)."""
    from bench.document import write_document

    from .outputs import annotator

    return [write_document(report.store, report.out_dir / "results.json", annotate=annotator(report.board, report.stored))]


def _mlflow(report: Report) -> list[Path]:
    from .mlflow_runs import log_report

    return log_report(report)


def _check_mlflow(options) -> None:
    from .mlflow_runs import check_tracking

    check_tracking(options)


MD = ReporterSpec("md", "leaderboard.md: ranking, verdict and a table per family with marks and intervals (and "
                  "timing.md)", write_md, files=("leaderboard.md",), default=True)
CSV = ReporterSpec("csv", "results.csv (a row per cell × metric), leaderboard.csv (a row per leaderboard row), "
                   "ranking.csv, learning_curves.csv, timing.csv", write_csv, files=("results.csv", "leaderboard.csv"),
                   default=True)
HTML = ReporterSpec("html", "report.html: one self-contained page with every table and figure", write_html,
                    files=("report.html",), default=True)
JSON = ReporterSpec("json", "results.json: every cell with metrics, intervals, p-values and provenance; what "
                    "'bench import' reads", write_json, files=("results.json",))
MLFLOW = ReporterSpec("mlflow", "an MLflow run per cell (params, metrics with interval bounds, tags, figures and "
                      "the cell's record), nested under a run per bench run; --tracking-uri", _mlflow,
                      requires=("mlflow",), extra="mlflow", check=_check_mlflow, options=("tracking_uri", "experiment"))


@hookimpl
def bench_reporters() -> list[ReporterSpec]:
    return [MD, CSV, HTML, JSON, MLFLOW]
