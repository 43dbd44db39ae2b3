"""``bench report`` and ``bench compare``: reports from what stores hold, never training."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .options import OK, add_out_store, open_store_of, parse_formats


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
    report.add_argument("--format", default="md,csv,html", metavar="LIST", help="(default: md,csv,html)")
    report.set_defaults(func=cmd_report)

    compare = verbs.add_parser("compare", help="per-metric differences between two runs",
                               description="Compare the results of two stores (a run directory or a .db file) "
                                           "row by row: dataset, profile, noise, severity and model in common.")
    compare.add_argument("run_a", metavar="RUN_A")
    compare.add_argument("run_b", metavar="RUN_B")
    compare.add_argument("--metrics", metavar="LIST", help="only these metrics, e.g. psnr,acc_noisy (default: all)")
    compare.add_argument("--format", default="md", choices=("md", "csv"), help="(default: md)")
    compare.set_defaults(func=cmd_compare)
