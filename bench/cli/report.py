"""``bench report`` and ``bench compare``: reports from what stores hold, never training."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .options import FAILED, OK, add_out_store, open_store_of, parse_formats


def cmd_report(args: argparse.Namespace) -> int:
    from registry import BenchError
    from reports import write_reports

    formats = parse_formats(args.format)
    store = open_store_of(args, Path(args.out), must_exist=True)
    if not store.statuses():
        raise BenchError(f"no results in {store.path}: run 'bench run --out {args.out}' first")
    for path in write_reports(store, Path(args.out), formats):
        print(path)
    return OK


def cmd_import(args: argparse.Namespace) -> int:
    import sys

    from bench.document import import_document, read_document
    from bench.store import open_store

    document = read_document(Path(args.file))  # checked whole: a bad file imports nothing
    store = open_store(Path(args.store))
    summary = import_document(document, store, replace=args.replace, argv=args.argv)
    for result in summary.conflicts:
        c = result.cell
        print(f"bench: conflict: {c['key']} ({c['dataset']}/{c['model']}/{c['noise']}@{c['severity']}/seed{c['seed']}): "
              "the store holds a different result for this key; kept the stored one (--replace takes the imported)",
              file=sys.stderr)
    print(f"{len(summary.added)} cells added, {len(summary.same)} already there, {len(summary.conflicts)} "
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
                        help="md, csv, html, json (results.json: every cell with its metrics, intervals, "
                             "p-values and provenance; see the README) (default: md,csv,html)")
    report.set_defaults(func=cmd_report)

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
