"""The ``bench`` command line: one function per verb.

Exit codes: ``OK = 0``; ``FAILED = 1`` (some cells failed; their reasons are in the leaderboard);
``USAGE_ERROR = 2`` (bad input: one line on stderr, nothing computed is lost); ``INTERRUPTED = 130``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path
from typing import NoReturn, Sequence

OK, FAILED, USAGE_ERROR, INTERRUPTED = 0, 1, 2, 130
KINDS = ("models", "noises", "datasets")
DEFAULT_MODELS = "ae,dae,vae,dvae"


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``bench: error: ... (see 'bench run --help')``."""

    def error(self, message: str) -> NoReturn:
        print(f"bench: error: {message} (see '{self.prog} --help')", file=sys.stderr)
        raise SystemExit(USAGE_ERROR)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"bench: warning: {message}", file=sys.stderr)


def _parse_ints(text: str, option: str, *, low: int, high: int | None = None) -> list[int]:
    from registry import ParameterError

    allowed = f"integers >= {low}" if high is None else f"integers from {low} to {high}"
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        raise ParameterError(f"{option} takes {allowed} separated by commas. Got {text!r} instead.") from None
    bad = [v for v in values if v < low or (high is not None and v > high)]
    if bad:
        raise ParameterError(f"{option} takes {allowed}. Got {bad[0]} in {text!r}.")
    return list(dict.fromkeys(values))


def _param_rows(params) -> list[dict]:
    return [{"name": p.name, "type": p.type.__name__, "default": p.default, "allowed": p.allowed(), "help": p.help}
            for p in params]


def cmd_list(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from bench.calibration import TARGET_PSNR, calibrate
    from bench.data import load
    from registry import BenchError, load_registry, select

    registry = load_registry()
    kinds = [args.kind] if args.kind else list(KINDS)
    if args.dataset and kinds != ["noises"]:
        raise BenchError("--dataset goes with 'bench list noises': it shows the calibrated value per severity")
    ds_spec = registry.spec("datasets", select(args.dataset, registry.names("datasets"), "dataset")[0]) \
        if args.dataset else None
    dataset = load(ds_spec, version=registry.entry("datasets", ds_spec.name).version) if ds_spec else None
    rows = []
    for kind in kinds:
        for e in registry.list(kind):
            row = {"name": e.name, "kind": e.kind, "distribution": e.distribution, "version": e.version,
                   "summary": e.summary, "parameters": _param_rows(e.spec.params)}
            if dataset is not None:
                table = calibrate(e, dataset) if ds_spec.kind in e.spec.inputs else {}
                row["calibration"] = {str(s): v for s, v in table.items()}
            rows.append(row)
    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return OK
    text = []
    for row in rows:
        params = ", ".join(f"{p['name']}={p['default']} ({p['allowed']})" for p in row["parameters"])
        line = [row["name"], row["kind"], row["distribution"], row["version"], params or "-", row["summary"]]
        if "calibration" in row:
            line[4:4] = [f"{v['value']:.4g} ({v['psnr']:.1f} dB)" if (v := row["calibration"].get(str(s))) else "-"
                         for s in range(1, 6)]
        text.append(line)
    headers = ["name", "kind", "distribution", "version", "parameters", "summary"]
    if dataset is not None:
        headers[4:4] = [f"s{s} ({t:g} dB)" for s, t in sorted(TARGET_PSNR.items())]
    print(tabulate(text, headers=headers, tablefmt="simple"))
    return OK


def _seeds(args: argparse.Namespace) -> list[int]:
    """``--seeds 3``: three seeds from ``--seed`` on; ``--seeds 0,1,2``: exactly those."""
    from registry import BenchError

    if args.seed < 0:
        raise BenchError(f"--seed takes an integer >= 0. Got {args.seed} instead.")
    if args.seeds is None:
        return [args.seed]
    if "," not in args.seeds:
        count = _parse_ints(args.seeds, "--seeds", low=1)[0]
        return list(range(args.seed, args.seed + count))
    return _parse_ints(args.seeds, "--seeds", low=0)


def _store(args: argparse.Namespace, out: Path, *, must_exist: bool = False):
    from bench.store import open_store

    return open_store(Path(args.store) if args.store else out, must_exist=must_exist)


def _formats(text: str) -> tuple[str, ...]:
    from registry import SelectionError, select
    from reports import FORMATS

    try:
        return tuple(select(text, list(FORMATS), "report format"))
    except SelectionError as exc:
        raise SelectionError(f"--format: {exc}") from None


def cmd_run(args: argparse.Namespace) -> int:
    from bench.data import dataset_variants, load_variants
    from bench.executors import check_available, default_executor, parse_executor
    from bench.threads import DEFAULT_THREADS
    from bench.grid import plan
    from bench.precision import check_precision
    from bench.profiles import get_profile, parse_budgets
    from bench.progress import Progress
    from bench.provenance import environment, now
    from bench.store import needs_computing
    from bench.summary import RunSummary
    from registry import BenchError, load_registry, select_variants
    from reports import write_reports

    registry = load_registry()
    models = select_variants(args.models, registry.names("models"), "model")
    noises = select_variants(args.noise, registry.names("noises"), "noise")
    datasets = dataset_variants(registry, args.datasets)
    profile = get_profile(args.profile)
    budgets = parse_budgets(args.cnn_budget)
    severities = (_parse_ints(args.severities, "--severities", low=1) if args.severities
                  else list(profile.severities))
    for noise, overrides in noises:  # check severities and parameters before any work starts
        spec = registry.spec("noises", noise)
        for severity in severities:
            spec.resolve(severity, overrides)
    for model, overrides in models:
        registry.spec("models", model).resolve(overrides)
    seeds = _seeds(args)
    formats = _formats(args.format)
    device = _device(args.device)
    check_precision(args.precision, device)
    profile = profile.with_protocol(precision=args.precision)
    if args.threads is not None and args.threads < 1:
        raise BenchError(f"--threads takes an integer >= 1. Got {args.threads} instead.")
    threads = args.threads or DEFAULT_THREADS
    chosen = args.executor or os.environ.get("BENCH_EXECUTOR", "").strip()
    executor = parse_executor(chosen) if chosen else None
    if executor is not None:
        check_available(executor)
    out = Path(args.out)
    store = _store(args, out)
    for directory, option in ((out, "--out"), (store.path.parent, "--store")):
        try:
            directory.mkdir(parents=True, exist_ok=True)
            (directory / ".write-test").touch()
            (directory / ".write-test").unlink()
        except OSError as exc:
            raise BenchError(f"cannot write to {option} {str(directory)!r}: {exc.strerror}; choose another "
                             "directory") from None

    loaded = load_variants(registry, datasets)
    cells = plan(registry, datasets=list(loaded), models=models, noises=noises, severities=severities,
                 seeds=seeds, profile=profile, loaded=loaded, train_noise=args.train_noise, budgets=budgets)
    _check_free_space(out, store.path.parent, cells)
    statuses = store.statuses([c.key for c in cells])
    todo = [c for c in cells if needs_computing(statuses.get(c.key), args.rerun)]
    if executor is None:
        executor = default_executor(todo, threads, device)
    run_id = store.begin_run(args.argv, {**environment(device), "executor": executor.label, "threads": threads},
                             now())
    work = bool(todo)
    try:
        if work and executor.kind != "local":
            from bench.parallel import run_parallel

            summary = run_parallel(executor, cells, store, rerun=args.rerun, run_id=run_id, device=device,
                                   progress=Progress(quiet=args.quiet), threads=threads)
        elif work:
            from bench.runner import Runner  # the metric suite's libraries load only when there is work
            from bench.threads import threads as using_threads

            with using_threads(threads):
                runner = Runner(registry, loaded, store, device=device, progress=Progress(quiet=args.quiet),
                                run_id=run_id)
                summary = runner.run(cells, rerun=args.rerun)
        else:
            summary = RunSummary(reused=len(cells))
    except KeyboardInterrupt:
        write_reports(store, out, formats)
        print(f"bench: interrupted; every finished cell is kept in {store.path}. Run the same command again "
              "to compute only the missing cells.", file=sys.stderr)
        return INTERRUPTED
    store.end_run(run_id, now(), computed=summary.computed, reused=summary.reused, failed=summary.failed)
    paths = write_reports(store, out, formats, force=summary.computed > 0)
    if not args.quiet:
        print(f"{len(cells)} cells: {summary.computed} computed, {summary.reused} already in {store.path}, "
              f"{summary.failed} failed, {summary.skipped} skipped (impossible pairs, reasons in the report)",
              file=sys.stderr)
        for failure in summary.failures:
            print(f"  failed: {failure}", file=sys.stderr)
    for path in paths:
        print(path)
    return FAILED if summary.failed else OK


#: Disk a computed cell takes, about: its rows, per-image values and figures in the store, its share of the
#: checkpoints (models and baseline CNNs), reports. The default Fashion-MNIST grid wrote 37 MB for 30 cells.
MB_PER_CELL = 1.3
MB_MARGIN = 20


def _check_free_space(out: Path, store_dir: Path, cells) -> None:
    """Refuse to start, before any training, when the output's disk cannot hold what the run will write."""
    import shutil

    from registry import BenchError

    need = MB_MARGIN + MB_PER_CELL * sum(not c.skip for c in cells)
    for directory in dict.fromkeys((out, store_dir)):
        free = shutil.disk_usage(directory).free / 2**20
        if free < need:
            raise BenchError(f"only {free:.0f} MB free on the disk of {str(directory)!r}; this run needs about "
                             f"{need:.0f} MB for results, checkpoints and reports. Free some space or choose "
                             "another --out/--store")


def _device(name: str) -> str:
    import torch

    from registry import BenchError

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise BenchError("--device cuda was given but torch sees no CUDA device; use --device cpu or auto")
    return name


def cmd_report(args: argparse.Namespace) -> int:
    from registry import BenchError
    from reports import write_reports

    formats = _formats(args.format)
    store = _store(args, Path(args.out), must_exist=True)
    if not store.statuses():
        raise BenchError(f"no results in {store.path}: run 'bench run --out {args.out}' first")
    for path in write_reports(store, Path(args.out), formats):
        print(path)
    return OK


def cmd_compare(args: argparse.Namespace) -> int:
    from bench.store import open_store
    from reports.compare import compare, render

    stores = [open_store(Path(p), must_exist=True) for p in (args.run_a, args.run_b)]
    table = compare(stores[0].records(), stores[1].records(), metrics=args.metrics)
    print(render(table, args.format, names=(args.run_a, args.run_b)))
    return OK


def cmd_plugins_check(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from bench.data import data_root
    from registry import BenchError, load_registry
    from registry.manager import _same_dist
    from registry.testing import run_checks

    registry = load_registry()
    entries = []
    for name in args.names:
        found = [e for kind in KINDS for e in registry.list(kind) if e.name == name or _same_dist(e.distribution, name)]
        if not found:
            dists = sorted({e.distribution for kind in KINDS for e in registry.list(kind)})
            raise BenchError(f"no installed plugin distribution or spec named {name!r}; distributions: "
                             f"{', '.join(dists)} (or a model, noise or dataset name from 'bench list')")
        entries += [e for e in found if e not in entries]
    checks = [c for e in entries for c in run_checks(e.spec, data_root())]
    rows = [[c.kind, c.name, c.check, "ok" if c.ok else f"FAIL: {c.detail}"] for c in checks]
    print(tabulate(rows, headers=["kind", "name", "check", "result"], tablefmt="github", disable_numparse=True))
    failed = sum(not c.ok for c in checks)
    print(f"{len(checks)} checks on {len(entries)} specs: {len(checks) - failed} passed, {failed} failed",
          file=sys.stderr)
    return FAILED if failed else OK


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="bench", description="Benchmark autoencoders on limited, noisy data.")
    from bench import __version__

    parser.add_argument("--version", action="version", version=f"bench {__version__}")
    verbs = parser.add_subparsers(dest="verb", metavar="COMMAND", parser_class=_Parser)

    run = verbs.add_parser("run", help="train and score every model x noise x dataset cell of a grid",
                           description="Train and score every cell of a grid and write leaderboards.")
    run.add_argument("--models", default=DEFAULT_MODELS, metavar="SEL",
                     help="'all', names or wildcards separated by commas, each optionally with parameters: "
                          f"beta_vae:beta=4 (default: {DEFAULT_MODELS}, the comparison the tool was built for)")
    run.add_argument("--noise", default="gaussian,erasing", metavar="SEL",
                     help="noises to corrupt with, e.g. gaussian,erasing or gaussian:sigma=0.5 for a native "
                          "value instead of the calibrated severities (default: gaussian,erasing)")
    run.add_argument("--datasets", default="fashion_mnist", metavar="SEL", help="(default: fashion_mnist)")
    run.add_argument("--severities", metavar="1,3,5", help="severity levels (default: the profile's)")
    run.add_argument("--profile", default="quick", metavar="quick|paper",
                     help="quick (default): minutes on 2 CPU cores; paper: the protocol of the comparison")
    run.add_argument("--train-noise", action="store_true",
                     help="corrupt the models' training set too (the noisy-training-set scenario): plain models "
                          "learn x~ -> x~, denoising models noise(x~) -> x~; tests stay noisy -> clean")
    run.add_argument("--seed", type=int, default=0, metavar="N", help="seed of the cells, or the first of --seeds "
                                                                      "(default: 0)")
    run.add_argument("--seeds", metavar="K|LIST", help="repeat every cell: K seeds from --seed on (--seeds 3), or "
                                                     "these seeds (--seeds 0,1,2); leaderboards then show mean ± std "
                                                     "and a 95%% interval over seeds")
    run.add_argument("--out", default="bench-out", metavar="DIR", help="output directory (default: ./bench-out)")
    run.add_argument("--store", metavar="FILE", help="results store to use, e.g. one shared by several runs "
                                                    "(default: DIR/results.db)")
    run.add_argument("--format", default="md,csv,html", metavar="LIST", help="reports to write (default: md,csv,html)")
    run.add_argument("--rerun", choices=("failed", "all"),
                     help="recompute cells already in the store: only failed ones, or all (default: none; a cell "
                          "already stored is never computed again)")
    run.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"), help="(default: cpu)")
    run.add_argument("--executor", metavar="WHERE",
                     help="where cells run: local (this process), processes:N (N worker processes), "
                          "dask://HOST:PORT (a Dask scheduler) or dask-local:N (a local Dask cluster of N workers) "
                          "(default: $BENCH_EXECUTOR, else processes:N with one process per usable core, each cell "
                          "on --threads threads; local when that is one process)")
    run.add_argument("--cnn-budget", default="steps", metavar="steps|epochs",
                     help="the downstream family's protocol: steps gives the baseline and every augmented CNN the "
                          "same optimizer steps (compute-matched); epochs the same passes over their own training "
                          "sets, so an augmented CNN takes (1+k)x the steps; steps,epochs runs both (default: steps)")
    run.add_argument("--precision", default="fp32", metavar="fp32|bf16",
                     help="the reference CNN's arithmetic: fp32, or bf16 (bfloat16 autocast, channels-last) on "
                          "hardware with native bfloat16 (default: fp32)")
    run.add_argument("--threads", type=int, metavar="N",
                     help="threads per cell, torch's and BLAS's (default: 1, so that a cell gives the same numbers "
                          "on every executor and machine; use --executor processes:N to use more cores)")
    run.add_argument("--quiet", action="store_true", help="no progress output")
    run.set_defaults(func=cmd_run)

    lst = verbs.add_parser("list", help="list installed models, noises and datasets",
                           description="List installed plugins' specs, sorted, with their distributions.")
    lst.add_argument("kind", nargs="?", choices=KINDS, help="only this kind")
    lst.add_argument("--format", default="text", choices=("text", "json"), help="(default: text)")
    lst.add_argument("--dataset", metavar="NAME",
                     help="with 'noises': the calibrated native value of each severity on this dataset")
    lst.set_defaults(func=cmd_list)

    report = verbs.add_parser("report", help="rebuild leaderboards and report.html from a results store",
                              description="Write results.csv, leaderboard.csv, leaderboard.md and report.html "
                                          "into DIR from every result in the store (any mix of runs).")
    report.add_argument("--out", default="bench-out", metavar="DIR", help="output directory (default: ./bench-out)")
    report.add_argument("--store", metavar="FILE", help="results store to read (default: DIR/results.db)")
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

    plugins = verbs.add_parser("plugins", help="check installed plugins against the harness's contracts",
                               description="Plugin tools for authors.")
    plugin_verbs = plugins.add_subparsers(dest="plugin_verb", metavar="COMMAND", parser_class=_Parser, required=True)
    check = plugin_verbs.add_parser(
        "check", help="run a plugin's specs through the contract checks",
        description="Run every spec of a plugin distribution (or the specs named) through the contract checks: "
                    "shapes, value range, determinism under a seed, declared parameters, and for models a loss "
                    "that decreases on a tiny batch. Exit code 1 when a check fails.")
    check.add_argument("names", nargs="+", metavar="NAME",
                       help="a distribution (e.g. bench-plugin-example) or a model, noise or dataset name")
    check.set_defaults(func=cmd_plugins_check)

    from bench.inference_cli import add_commands

    add_commands(verbs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = ["bench", *(sys.argv[1:] if argv is None else argv)]
    if args.verb is None:
        parser.print_help()
        return USAGE_ERROR
    warnings.showwarning = _show_warning
    from registry import BenchError

    try:
        return args.func(args)
    except BenchError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:  # before any cell started (a running grid handles its own)
        print("bench: interrupted", file=sys.stderr)
        return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
