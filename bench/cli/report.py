"""``bench report`` and ``bench compare``: reports from what stores hold, never training."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from .options import FAILED, OK, add_out_store, add_report_options, open_store_of, parse_formats, report_options_of


def cmd_report(args: argparse.Namespace) -> int:
    from registry import BenchError
    from reports import write_reports

    formats = parse_formats(args.format)
    options = report_options_of(args, formats)
    store = open_store_of(args, Path(args.out), must_exist=True)
    if not store.statuses():
        raise BenchError(f"no results in {store.path}: run 'bench run --out {args.out}' first")
    for path in write_reports(store, Path(args.out), formats, options=options):
        print(path)
    name_failed([r for r in store.results() if r.outcome == "failed"], sys.stderr)
    return OK


def name_failed(results: list, stream) -> None:
    """One line per failure (a cell whole, or a family of a cell whose other families ended) on ``stream``:
    its key, what it was and why, and how to see the traceback."""
    from bench.keys import distinct_failures

    failures = distinct_failures(results)
    budget = {r.key: r.cell.get("cnn_budget") or "no CNN budget" for r in results}
    for f in failures:
        what = "cell" if f.family is None else f"{f.family} family of cell"
        print(f"bench: failed {what} {f.key} ({f.label}, {budget[f.key]}): {f.reason}", file=stream)
    if failures:
        print(f"bench: 'bench show KEY' prints a failed cell's traceback (e.g. bench show {failures[0].key[:8]})",
              file=stream)


def _protocol(result: Any, catalogue: dict[str, dict[str, Any]]) -> str:
    """The CNN protocol where a family of the cell trains CNNs under it, the reference classifier's precision
    where one uses that classifier, else nothing: a protocol is named by the families it is a coordinate of."""
    entries = [catalogue.get(name, {}) for name in set(result.families) or set(result.cell.get("families") or ())]
    cell = result.cell
    if any(e.get("trains_cnn", e.get("baseline", False)) for e in entries):
        return f", CNN {cell.get('cnn_budget')}, {cell.get('precision')}"
    if any(e.get("reference") for e in entries):
        return f", reference classifier {cell.get('precision')}"
    return ""


def cmd_show(args: argparse.Namespace) -> int:
    """One stored cell: what it is, its status and reason, its metrics, and a failed cell's traceback."""
    from registry import BenchError

    store = open_store_of(args, Path(args.out), must_exist=True)
    results = store.results()
    found = [r for r in results if r.key.startswith(args.key)]
    if len(found) != 1:
        failed = [r.key for r in results if r.outcome == "failed"]
        hint = (f"failed cells: {', '.join(k[:8] for k in failed[:5])}{' ...' if len(failed) > 5 else ''}" if failed
                else "the keys are the 'key' column of results.csv; a key or its first characters name one")
        what = "no cell" if not found else f"{len(found)} cells"
        raise BenchError(f"{what} of {store.path} has a key starting with {args.key!r}; {hint}")
    r = found[0]
    c = r.cell
    used = r.training.train_size if r.training is not None and r.training.train_size else c.get("train_size")
    print(f"cell {r.key}: {r.label} (profile {c['profile']}, {used} training images{_protocol(r, store.catalogue())})")
    print(f"status: {r.status_line(width=10_000)}")
    prov = r.provenance
    print(f"ran: {prov.get('started', '-')} to {prov.get('ended', '-')}, {r.timings.wall_s:.1f} s, host "
          f"{prov.get('host', '-')}, bench {prov.get('bench', '-')}")
    shown = [m for m in r.metrics if not m.get("detail")]
    for m in shown:
        value = m.get("value")
        text = (m.get("note") or "-") if value is None else f"{value:.4g}" + (
            f" ± {m['ci95']:.2g}" if m.get("ci95") is not None and math.isfinite(m["ci95"]) else "")
        print(f"  {m['metric']:<16} {text}")
    for name, run in sorted(r.families.items()):
        print(f"family {name} (version {run.version}): {run.status}" + (f": {run.reason}" if run.reason else "")
              + (f", {run.wall_s:.1f} s" if run.status == "done" else "") + (f", run {run.run_id}" if run.run_id else ""))
    if r.traceback:
        print("traceback:")
        print(r.traceback.rstrip())
    elif r.status == "failed":
        print("traceback: not stored (the cell failed under a bench that did not keep tracebacks)")
    for name, run in sorted(r.failed_families().items()):
        if run.traceback and run.traceback != r.traceback:
            print(f"traceback of the {name} family:")
            print(run.traceback.rstrip())
    return OK


def cmd_import(args: argparse.Namespace) -> int:
    from bench.document import import_document, read_document
    from bench.store import open_store

    document = read_document(Path(args.file))  # checked whole: a bad file imports nothing
    store = open_store(Path(args.store))
    summary = import_document(document, store, replace=args.replace, argv=args.argv)
    for result in summary.conflicts:
        c = result.cell
        print(f"bench: conflict: {c['key']} ({result.label}): "
              "the store holds a different result for this key; kept the stored one (--replace takes the imported)",
              file=sys.stderr)
    print(f"{len(summary.added)} records added, {len(summary.same)} already there, {len(summary.conflicts)} "
          f"conflicting{' (kept)' if summary.conflicts else ''}, {len(summary.replaced)} replaced; "
          f"{summary.timings} timings added; store {store.path}")
    return FAILED if summary.conflicts else OK


def cmd_compare(args: argparse.Namespace) -> int:
    from bench.store import open_store
    from reports.compare import compare, render

    stores = [open_store(Path(p), must_exist=True) for p in (args.run_a, args.run_b)]
    table = compare(stores[0].results(), stores[1].results(), metrics=args.metrics)
    print(render(table, args.format, names=(args.run_a, args.run_b)))
    return OK


def add_parsers(verbs: Any) -> None:
    report = verbs.add_parser("report", help="rebuild leaderboards and report.html from a results store",
                              description="Write results.csv, leaderboard.csv, leaderboard.md and report.html "
                                          "into DIR from every result in the store (any mix of runs).")
    add_out_store(report, store_help="results store to read (default: DIR/results.db)")
    report.add_argument("--format", default="md,csv,html", metavar="LIST",
                        help="installed reporters (bench list reporters): md, csv, html, json (results.json: every "
                             "cell with its metrics, intervals, p-values and provenance), mlflow (an MLflow run per "
                             "cell; the extra aebench[mlflow]), third parties' (default: md,csv,html)")
    add_report_options(report)
    report.set_defaults(func=cmd_report)

    show = verbs.add_parser("show", help="one stored cell: status, reason, metrics, a failed cell's traceback",
                            description="Print one cell of a store: what it is, its status and why, its metrics, "
                                        "and where a failed cell's exception came from (its traceback).")
    show.add_argument("key", metavar="KEY", help="the cell's key, or its first characters (bench report names "
                                                  "failed cells with their keys)")
    add_out_store(show, store_help="results store to read (default: DIR/results.db)")
    show.set_defaults(func=cmd_show)

    merge = verbs.add_parser("import", help="merge a results.json into a store",
                             description="Merge the results of FILE (written by 'bench report --format json', "
                                         "here or elsewhere) into a store. Keys decide what is already there; a "
                                         "different result for a stored key is reported and kept as stored "
                                         "unless --replace is given (exit 1 while conflicts are left).")
    merge.add_argument("file", metavar="FILE")
    merge.add_argument("--store", required=True, metavar="FILE", help="results store to merge into (created if new)")
    merge.add_argument("--replace", action="store_true", help="take the imported result where keys conflict")
    merge.set_defaults(func=cmd_import)

    compare = verbs.add_parser("compare", help="per-metric differences between two runs",
                               description="Compare the results of two stores (a run directory or a .db file) "
                                           "row by row: dataset, profile, noise, severity and model in common.")
    compare.add_argument("run_a", metavar="RUN_A")
    compare.add_argument("run_b", metavar="RUN_B")
    compare.add_argument("--metrics", metavar="LIST", help="only these metrics, e.g. psnr,acc_noisy (default: all)")
    compare.add_argument("--format", default="md", choices=("md", "csv"), help="(default: md)")
    compare.set_defaults(func=cmd_compare)
