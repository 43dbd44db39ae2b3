"""Writing reports from the results store alone: the installed reporters ``--format`` names
(:mod:`reports.reporters`: md, csv, html, json, mlflow; third parties' through the entry-point group), what
the HTML page shows, and the notices every format carries."""

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
from registry import BenchError, PluginError

FORMATS = ("md", "csv", "html")  # the built-in reporters written when --format is not given
STATE = ".report-state.json"  # what the files in the directory were built from


def _timing_files(out_dir: Path, formats: tuple[str, ...]) -> list[Path]:
    return [out_dir / f"timing.{fmt}" for fmt in ("csv", "md") if fmt in formats and (out_dir / f"timing.{fmt}").exists()]


def written_formats(out_dir: Path) -> tuple[str, ...]:
    """The installed file reporters whose every file is in ``out_dir``: what a change to the store (a new
    timing) must refresh there."""
    from registry import load_registry

    installed = load_registry().entries["reporters"]
    return tuple(name for name, entry in installed.items()
                 if entry.spec.files and all((Path(out_dir) / f).exists() for f in entry.spec.files))


def reporters(formats: tuple[str, ...]) -> list[Any]:
    """The installed reporters named by ``formats`` (:class:`registry.ReporterSpec`), in that order; an
    unknown name, or one whose extra is not installed, is a :class:`registry.SelectionError`."""
    from registry import SelectionError, load_registry

    installed = load_registry().entries["reporters"]
    unknown = [f for f in formats if f not in installed]
    if unknown:
        raise SelectionError(f"--format: unknown report format {unknown[0]!r}; installed: {', '.join(installed)} "
                             "(bench list reporters)")
    specs = [installed[f].spec for f in formats]
    for spec in specs:
        if spec.missing():
            raise SelectionError(f"--format {spec.name}: needs {', '.join(spec.missing())}, which is not installed; "
                                 f"install the extra: pip install \"aebench[{spec.extra or spec.name}]\"")
    return specs


def check_reporters(formats: tuple[str, ...], options: dict[str, Any] | None = None) -> list[Any]:
    """:func:`reporters`, and each one's own check of ``options`` (a tracking server it cannot reach): called
    before any work, so that a run does not compute for a report it cannot write."""
    specs = reporters(formats)
    for spec in specs:
        if spec.check is not None:
            spec.check(dict(options or {}))
    return specs


def write_reports(store: Store, out_dir: Path, formats: tuple[str, ...] = FORMATS, *,
                  force: bool = True, options: dict[str, Any] | None = None) -> list[Path]:
    """Write the reports ``formats`` names (installed reporters, :class:`registry.ReporterSpec`) of every
    result in ``store`` into ``out_dir`` (``options``: ``tracking_uri``, ``experiment``); returns the files.
    With ``force=False`` the files are not rebuilt when the store has not changed since they were; a reporter
    that writes no files (MLflow) runs whatever the state, and adds nothing already logged."""
    from .report import Report

    specs = reporters(tuple(formats))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = Report(store, out_dir, options)
    state = {"store": str(store.path.resolve()), "fingerprint": store.fingerprint(),
             "formats": sorted(s.name for s in specs if s.files)}
    state_file = out_dir / STATE
    current = False
    if not force and state_file.exists() and all((out_dir / f).exists() for s in specs for f in s.files):
        try:
            current = json.loads(state_file.read_text()) == state
        except (OSError, ValueError):
            pass
    written: list[Path] = []
    failed: list[str] = []
    for spec in specs:
        if current and spec.files:
            written += [out_dir / f for f in spec.files] + _timing_files(out_dir, (spec.name,))
            continue
        try:
            written += spec.write(report)
        except BenchError:
            raise
        except Exception as exc:  # a third party's reporter: named in one line, the others still write
            distribution = _distribution(spec.name)
            if distribution is None:  # bench's own reporters: a bug, with its traceback
                raise
            failed.append(f"{spec.name} ({distribution}) raised {type(exc).__name__}: {exc}")
    if not current and not failed:
        report.write(STATE, json.dumps(state))
    if failed:
        raise PluginError(f"reporter {'; '.join(failed)}. The other reports were written to {str(out_dir)!r} and "
                          f"every result is kept in {str(store.path)!r}; leave the format out of --format or fix "
                          "the plugin")
    return written


def _distribution(name: str) -> str | None:
    """The third-party distribution that installed reporter ``name``, with its version; None for bench's own."""
    from registry import load_registry
    from registry.manager import HOST_DISTRIBUTION

    entry = load_registry().entries["reporters"][name]
    return None if entry.distribution == HOST_DISTRIBUTION else f"{entry.distribution} {entry.version}"


def annotator(board, stored: list[CellResult]):
    """For ``results.json``: per cell and metric, its leaderboard row's rank, mean over seeds with interval,
    and the paired test against the best row with its raw and Holm-corrected p-values (a record of families
    that read no CNN protocol: its row under the first protocol it is shown under; ``stored``: the records)."""
    import pandas as pd

    from .leaderboard import ROW, cell_size, protocols_of

    rows = {tuple(r[c] for c in ROW): r for _, r in board.iterrows()} if not board.empty else {}
    protocols = protocols_of(stored)

    def annotate(result: CellResult, metric: dict[str, Any]) -> dict[str, Any] | None:
        c = result.cell
        budget, precision = protocols(result)[0]
        row = rows.get((c["dataset"], c["profile"], cell_size(c), budget, precision, c["noise"], c["severity"],
                        c["model"]))
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


def _first_seed(cells: list[CellResult]) -> dict[tuple, int]:
    seeds: dict[tuple, int] = {}
    for r in cells:
        c = r.cell
        group = (c["dataset"], c["model"], c["noise"])
        seeds[group] = min(seeds.get(group, c["seed"]), c["seed"])
    return seeds


def report_data(report: Any) -> Any:
    """The figures of the HTML page of ``report`` (:class:`reports.report.Report`): per dataset × noise each
    family's headline against severity, one line per model with its seed interval as a band, then the
    families' figures against severity (what the catalogue declares) and a reconstruction grid per model; per
    dataset the training curves; per dataset × model the suite's figures of the first seed and its prior
    samples (each distinct image once: a model trained once is drawn once, whatever the noise)."""
    import numpy as np

    from .figures import (
        headline_figures_pngs,
        noise_figure_path,
        prior_grid_png,
        reconstruction_grid_png,
        severity_families,
        severity_plots_pngs,
        training_curves_png,
    )
    from .html import Figure, ReportData
    from .leaderboard import cell_size, default_sized, size_text

    store, out_dir, cells, board, catalogue = report.store, report.out_dir, report.cells, report.board, report.catalogue
    tables = report.tables
    done = [r for r in cells if r.status == "done"]
    first = _first_seed(done)
    data = ReportData(title="bench report", store=str(store.path), tables=tables, results=report.stored, runs=store.runs(),
                      generated=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    for dataset, noise, title, png in headline_figures_pngs(board, catalogue):  # first: the headline per family
        data.per_noise.setdefault((dataset, noise), []).append(Figure(title, png))
    plain = default_sized(cells)
    for dataset, noise, profile, size, budget, precision in sorted(
            {(c["dataset"], c["noise"], c["profile"], cell_size(c), c.get("cnn_budget", "epochs"),
              c.get("precision", "fp32"))
             for c in (r.cell for r in done)}):
        for family in severity_families(catalogue):
            path = noise_figure_path(out_dir, dataset, noise, profile, budget, precision,
                                     None if (dataset, profile, size) in plain else size, family["severity_figure"])
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
