"""Everything ``bench report`` writes, from the results store alone: ``results.csv``,
``leaderboard.csv``, ``leaderboard.md``, ``report.html`` and the figures under ``figures/``."""

from __future__ import annotations

import io
import json
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench.outcome import NotApplicable
from bench.result import CellResult
from bench.store import PRIOR_SAMPLES, SAMPLES, Store

FORMATS = ("md", "csv", "html")  # the default; "json" writes results.json too
STATE = ".report-state.json"  # what the files in the directory were built from


def _files(out_dir: Path, formats: tuple[str, ...]) -> list[Path]:
    names = {"csv": ["results.csv", "leaderboard.csv"], "md": ["leaderboard.md"], "html": ["report.html"],
             "json": ["results.json"]}
    return [out_dir / name for fmt in ("csv", "md", "html", "json") if fmt in formats for name in names[fmt]]


def _timing_files(out_dir: Path, formats: tuple[str, ...]) -> list[Path]:
    return [out_dir / f"timing.{fmt}" for fmt in ("csv", "md") if fmt in formats and (out_dir / f"timing.{fmt}").exists()]


def write_reports(store: Store, out_dir: Path, formats: tuple[str, ...] = FORMATS, *,
                  force: bool = True) -> list[Path]:
    """Write the reports of every result in ``store`` into ``out_dir``; returns the files. With
    ``force=False`` nothing is redrawn when the store has not changed since these files were built."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = _files(out_dir, formats)
    state = {"store": str(store.path.resolve()), "fingerprint": store.fingerprint(), "formats": sorted(formats)}
    state_file = out_dir / STATE
    if not force and all(p.exists() for p in paths) and state_file.exists():
        try:
            if json.loads(state_file.read_text()) == state:
                return paths + _timing_files(out_dir, formats)
        except (OSError, ValueError):
            pass
    from .aggregate import aggregate, draw, write_csvs
    from .figures import write_severity_figures  # pandas and matplotlib load only when there is drawing to do
    from .html import Figure, render_html
    from .leaderboard import (
        declared,
        leaderboard_frame,
        leaderboard_tables,
        render_markdown,
        render_ranking_markdown,
        results_frame,
    )
    from .pareto import with_costs
    from .ranking import RANKING_LEGEND, ranking_tables
    from .timing import timing_frame, timing_tables, write_timing
    from .verdict import render_verdict_markdown, verdict, verdict_preamble

    cells = store.results()
    for key, name in store.artifact_names():  # figures the evaluator drew, kept in the store
        if name.endswith(".png"):
            target = out_dir / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(store.artifact(key, name) or b"")
    results = results_frame(cells, store.catalogue())
    items = store.items()
    board = leaderboard_frame(results, items)
    found = aggregate(board, results, cells, items, store.timings())
    draw(found, out_dir)
    tables = leaderboard_tables(board, results, cells, extra=found.tables)
    ranked = ranking_tables(found.rankings)
    blocks = verdict(board, results, cells, items, found.thresholds)
    notices = [n for n in (untested_notice(cells), precision_notice(cells)) if n]
    write_severity_figures(board, cells, out_dir, declared(results))
    extra_paths: list[Path] = []
    if "csv" in formats:
        results.to_csv(out_dir / "results.csv", index=False)
        with_costs(board, found.costs).to_csv(out_dir / "leaderboard.csv", index=False)
        extra_paths += write_csvs(found, out_dir)
    if "md" in formats:
        preface = [*(f"> {n}\n" for n in notices), *render_ranking_markdown(ranked, RANKING_LEGEND),
                   *render_verdict_markdown(blocks, board)]
        (out_dir / "leaderboard.md").write_text(render_markdown(tables, empty=board.empty, preface=preface),
                                                encoding="utf-8")
    if "json" in formats:
        from bench.document import write_document

        write_document(store, out_dir / "results.json", annotate=_annotator(board))
    timing_paths = write_timing(store, out_dir, formats)
    if "html" in formats:
        data = _report_data(store, out_dir, cells, tables, board, declared(results))
        for (dataset, profile, budget, precision, noise), path in found.curve_figures.items():
            data.per_noise.setdefault((dataset, noise), []).insert(0, Figure(
                f"{dataset} · {noise}: learning curves of each family's headline metric, 95% intervals "
                f"({profile} profile, CNN {budget})", path.read_bytes()))
        data.timing = timing_tables(timing_frame(store.timings()))
        data.verdict, data.notices, data.ranking = blocks, notices, ranked
        data.ranking_figures = [Figure(p.stem.replace("_", " "), p.read_bytes()) for p in found.cd_figures]
        data.pareto = [Figure(f"{dataset} · {family}: quality against cost, Pareto front named", path.read_bytes())
                       for dataset, family, path in found.pareto_figures]
        data.verdict_preamble = verdict_preamble(board) if blocks else ""
        (out_dir / "report.html").write_text(render_html(data), encoding="utf-8")
    state_file.write_text(json.dumps(state))
    return paths + extra_paths + timing_paths


def _annotator(board):
    """For ``results.json``: per cell and metric, its leaderboard row's rank, mean over seeds with interval,
    and the paired test against the best row with its raw and Holm-corrected p-values."""
    import pandas as pd

    from .leaderboard import ROW, cell_size

    rows = {tuple(r[c] for c in ROW): r for _, r in board.iterrows()} if not board.empty else {}

    def annotate(result: CellResult, metric: dict[str, Any]) -> dict[str, Any] | None:
        c = result.cell
        row = rows.get((c["dataset"], c["profile"], cell_size(c), c.get("cnn_budget", "epochs"),
                        c.get("precision", "fp32"), c["noise"], c["severity"], c["model"]))
        name = metric["metric"]
        if row is None or name not in row.index:
            return None

        def get(column: str) -> Any:
            value = row.get(column)
            if value is None or pd.isna(value):
                return None
            return value.item() if hasattr(value, "item") else value

        return {"mean": get(name), "ci_low": get(f"{name}_ci_low"), "ci_high": get(f"{name}_ci_high"),
                "seeds": get("seeds"), "rank": get(f"{name}_rank"), "test_against_best": get(f"{name}_test") or None,
                "p_best": get(f"{name}_p_best"), "p_adj": get(f"{name}_p_adj"), "tied": get(f"{name}_tied"),
                "mark": get(f"{name}_mark")}
    return annotate


def untested_notice(cells: list[CellResult]) -> str | None:
    """One line when the store holds cells from before per-image values were kept: their rows' marks can
    only come from a test over seeds."""
    old = [r for r in cells if r.status == "done" and r.metrics
           and all(m.get("test") is None and m.get("items") is None for m in r.metrics)]
    if not old:
        return None
    return (f"{len(old)} of the stored cells were computed by a bench that did not keep per-image values: their "
            "rows are compared only over seeds (a paired t-test, no mark with one seed) and their CNNs ran "
            "the equal-epochs protocol. Run their grid again to get the per-image tests and the "
            "compute-matched protocol.")


def precision_notice(cells: list[CellResult]) -> str | None:
    """One line when the store's cells ran their CNNs at more than one precision: their rows are in separate
    tables, never compared with one another."""
    found = sorted({r.cell.get("precision", "fp32") for r in cells if r.status == "done"})
    if len(found) < 2:
        return None
    counts = {p: sum(r.cell.get("precision", "fp32") == p for r in cells if r.status == "done") for p in found}
    return (f"This store mixes CNN precisions ({', '.join(f'{p}: {n} cells' for p, n in counts.items())}): each "
            "precision has its own tables, and no row is compared with a row of another precision.")


def _first_seed(cells: list[CellResult]) -> dict[tuple, int]:
    seeds: dict[tuple, int] = {}
    for r in cells:
        c = r.cell
        group = (c["dataset"], c["model"], c["noise"])
        seeds[group] = min(seeds.get(group, c["seed"]), c["seed"])
    return seeds


def _report_data(store: Store, out_dir: Path, cells: list[CellResult], tables, board, catalogue: dict):
    """The figures of the HTML page: per dataset × noise the families' figures against severity (``catalogue``:
    what they declare) and a reconstruction grid per model; per dataset the training curves; per dataset × model the
    suite's figures of the first seed and its prior samples (each distinct image once: a model trained once
    is drawn once, whatever the noise)."""
    import numpy as np

    from .figures import (
        noise_figure_path,
        prior_grid_png,
        reconstruction_grid_png,
        severity_families,
        severity_plots_pngs,
        training_curves_png,
    )
    from .html import Figure, ReportData
    from .leaderboard import cell_size, size_text

    done = [r for r in cells if r.status == "done"]
    first = _first_seed(done)
    data = ReportData(title="bench report", store=str(store.path), tables=tables, results=cells, runs=store.runs(),
                      generated=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    for dataset, noise, profile, size, budget, precision in sorted(
            {(c["dataset"], c["noise"], c["profile"], cell_size(c), c.get("cnn_budget", "epochs"),
              c.get("precision", "fp32"))
             for c in (r.cell for r in done)}):
        for family in severity_families(catalogue):
            path = noise_figure_path(out_dir, dataset, noise, profile, budget, precision, size, family["severity_figure"])
            if path.is_file():
                data.per_noise.setdefault((dataset, noise), []).append(
                    Figure(f"{dataset} · {noise}: {family.get('title') or family['name']} at matched severity ({profile} "
                           f"profile, {size_text(size)}, CNN budget {budget}{', ' + precision if precision != 'fp32' else ''})",
                           path.read_bytes()))
    for dataset, noise, title, png in severity_plots_pngs(board, catalogue):
        data.per_noise.setdefault((dataset, noise), []).append(Figure(title, png))
    samples: dict[tuple[str, str, str], dict[int, Any]] = defaultdict(dict)
    for r in done:
        c = r.cell
        if c["seed"] != first[(c["dataset"], c["model"], c["noise"])]:
            continue
        blob = store.artifact(c["key"], SAMPLES)
        if blob is not None:
            samples[(c["dataset"], c["noise"], c["model"])][c["severity"]] = np.load(io.BytesIO(blob),
                                                                                     allow_pickle=False)
    for (dataset, noise, model), by_severity in sorted(samples.items()):
        title = f"{dataset} · {noise} · {model}: clean / noisy / reconstructed (seed "
        title += f"{first[(dataset, model, noise)]})"
        data.per_noise.setdefault((dataset, noise), []).append(
            Figure(title, reconstruction_grid_png(by_severity, title)))
    priors: dict[tuple[str, str], dict[int, Any]] = defaultdict(dict)
    for r in done:
        c = r.cell
        blob = store.artifact(c["key"], PRIOR_SAMPLES) if c["seed"] == first[(c["dataset"], c["model"], c["noise"])] else None
        if blob is not None:
            priors[(c["dataset"], c["model"], c["noise"])][c["severity"]] = np.load(io.BytesIO(blob), allow_pickle=False)
    for (dataset, model, noise), by_severity in sorted(priors.items()):
        title = f"{dataset} · {model}: samples from the prior, z ~ N(0, I) (seed {first[(dataset, model, noise)]}"
        first_images = by_severity[min(by_severity)]
        trained_on_noise = any(not np.array_equal(images, first_images) for images in by_severity.values())
        title += f", trained on {noise})" if trained_on_noise else ")"
        png = prior_grid_png(by_severity, title)
        if all(f.png != png for f in data.per_model.get((dataset, model), [])):
            data.per_model.setdefault((dataset, model), []).append(Figure(title, png))
    for dataset in sorted({r.cell["dataset"] for r in done}):
        png = training_curves_png(done, dataset)
        if png is not None:
            data.per_dataset[dataset] = [Figure(f"{dataset}: training loss per epoch", png)]
    seen: set[bytes] = set()
    for r in done:
        c = r.cell
        if c["seed"] != first[(c["dataset"], c["model"], c["noise"])]:
            continue
        for kind, rel in sorted(r.figures.items()):
            path = out_dir / str(rel)
            if NotApplicable.parse(rel) is not None or not path.is_file():
                continue
            png = path.read_bytes()
            if png in seen:
                continue
            seen.add(png)
            caption = f"{kind}: {c['model']} · {c['noise']} s{c['severity']} · seed {c['seed']}"
            data.per_model.setdefault((c["dataset"], c["model"]), []).append(Figure(caption, png))
    return data
