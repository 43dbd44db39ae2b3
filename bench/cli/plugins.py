"""``bench plugins check``: a plugin's specs through the contract checks of :mod:`registry.testing`."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .options import FAILED, KINDS, OK, Parser


def cmd_plugins_check(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from bench.data import data_root
    from registry import BenchError, ReporterSpec, load_registry
    from registry.manager import _same_dist
    from registry.testing import Check, run_checks

    registry = load_registry()
    entries, unloadable = [], []
    for name in args.names:
        found = [e for kind in KINDS for e in registry.list(kind) if e.name == name or _same_dist(e.distribution, name)]
        broken = [s for s in registry.skipped if _same_dist(s[0], name) and s not in unloadable]
        unloadable += broken
        if not found and not broken:
            dists = sorted({e.distribution for kind in KINDS for e in registry.list(kind)})
            raise BenchError(f"no installed plugin distribution or spec named {name!r}; distributions: "
                             f"{', '.join(dists)} (or a model, noise, dataset or family name from 'bench list')")
        entries += [e for e in found if e not in entries]
    report = None
    if any(isinstance(e.spec, ReporterSpec) for e in entries):  # a reporter writes from the kit's small real store
        from reports.kit import kit_reports

        report = kit_reports()
    checks = [Check("plugin", f"{dist} {version}", "loads", False, why) for dist, version, why in unloadable]
    checks += [c for e in entries for c in run_checks(e.spec, data_root(), report)]
    rows = [[c.kind, c.name, c.check, f"skipped: {c.detail}" if c.skipped else
             (f"ok ({c.detail})" if c.detail else "ok") if c.ok else f"FAIL: {c.detail}"] for c in checks]
    print(tabulate(rows, headers=["kind", "name", "check", "result"], tablefmt="github", disable_numparse=True))
    failed = sum(not c.ok for c in checks)
    skipped = sum(c.skipped for c in checks)
    print(f"{len(checks)} checks on {len(entries)} specs: {len(checks) - failed - skipped} passed, {skipped} skipped "
          f"(did not apply or could not be tried here), {failed} failed", file=sys.stderr)
    return FAILED if failed else OK


def add_parser(verbs: Any) -> None:
    plugins = verbs.add_parser("plugins", help="check installed plugins against the harness's contracts",
                               description="Plugin tools for authors.")
    plugin_verbs = plugins.add_subparsers(dest="plugin_verb", metavar="COMMAND", parser_class=Parser, required=True)
    check = plugin_verbs.add_parser(
        "check", help="run a plugin's specs through the contract checks",
        description="Run every spec of a plugin distribution (or the specs named) through the contract checks: "
                    "shapes, value range, determinism under a seed, declared parameters, and for models a loss "
                    "that decreases on a tiny batch; for a metric family its declaration and what it scores on a "
                    "small VAE's cell; for a reporter its write on a small real store (run once into the data "
                    "cache). Exit code 1 when a check fails.")
    check.add_argument("names", nargs="+", metavar="NAME",
                       help="a distribution (e.g. bench-plugin-example) or a model, noise, dataset or family name")
    check.set_defaults(func=cmd_plugins_check)
