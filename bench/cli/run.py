"""``bench run``: plan a grid, compute the cells its store lacks, write the reports."""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from bench.api import DEFAULT_MODELS, DEFAULT_NOISES

from .options import (
    FAILED,
    INTERRUPTED,
    OK,
    add_datasets_profile,
    add_out_store,
    add_quiet,
    add_report_options,
    parse_formats,
    parse_ints,
    report_options_of,
)


def seeds_of(args: argparse.Namespace) -> list[int] | None:
    """``--seeds 3``: three seeds from ``--seed`` on; ``--seeds 0,1,2``: exactly those; neither: None (the
    profile's number of seeds from ``--seed`` on)."""
    from registry import BenchError

    if args.seed < 0:
        raise BenchError(f"--seed takes an integer >= 0. Got {args.seed} instead.")
    if args.seeds is None:
        return None
    if "," not in args.seeds:
        count = parse_ints(args.seeds, "--seeds", low=1)[0]
        return list(range(args.seed, args.seed + count))
    return parse_ints(args.seeds, "--seeds", low=0)


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (``kill``, a job scheduler ending a job) stops a run as Ctrl-C does: its worker processes are
    ended, every finished cell stays stored, the reports are written and the exit code is 130."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may take signals
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def cmd_run(args: argparse.Namespace) -> int:
    from bench.api import execute, prepare
    from bench.progress import Progress
    from registry import BenchError
    from reports import write_reports

    formats = parse_formats(args.format)
    options = report_options_of(args, formats)
    out = Path(args.out)
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / ".write-test").touch()
        (out / ".write-test").unlink()
    except OSError as exc:
        raise BenchError(f"cannot write to --out {str(out)!r}: {exc.strerror}; choose another directory") from None
    try:
        plan = prepare(args.models, args.noise, args.datasets, profile=args.profile, seeds=seeds_of(args),
                       seed=args.seed, store=Path(args.store) if args.store else out,
                       severities=parse_ints(args.severities, "--severities", low=1) if args.severities else None,
                       cnn_budget=args.cnn_budget, precision=args.precision, train_noise=args.train_noise,
                       train_sizes=parse_ints(args.train_sizes, "--train-sizes", low=1) if args.train_sizes else None,
                       rerun=args.rerun, executor=args.executor, threads=args.threads, device=args.device,
                       families=args.families)
        _check_free_space(out, plan.store.path.parent, plan.cells)
    except BenchError:
        if created:  # a refused run leaves nothing behind: the directory is the one this command made
            shutil.rmtree(out, ignore_errors=True)
        raise
    store = plan.store
    try:
        with _terminate_as_interrupt():
            results = execute(plan, argv=args.argv, progress=Progress(quiet=args.quiet))
    except KeyboardInterrupt:
        if store.statuses():  # the reports of what the store holds (nothing: no report to write)
            write_reports(store, out, formats, options=options)
        print(f"bench: interrupted; every finished cell is kept in {store.path}. Run the same command again "
              "to compute only the missing cells.", file=sys.stderr)
        return INTERRUPTED
    summary = results.summary
    try:
        paths = write_reports(store, out, formats, force=summary.computed > 0, options=options)
    except BenchError as exc:  # a reporter failed: the run's own account still comes first, then the error
        paths, report_error = [], exc
    else:
        report_error = None
    if not args.quiet:
        which = f" ({', '.join(sorted(summary.families))})" if summary.families else ""
        print(f"{len(plan.cells)} cells: {summary.computed} computed{which}, {summary.reused} already in {store.path}, "
              f"{summary.failed} failed, {summary.skipped} skipped (impossible pairs, reasons in the report)",
              file=sys.stderr)
    for failure in summary.failures:  # not progress: named even with --quiet
        print(f"  failed: {failure}", file=sys.stderr)
    if summary.failures:
        print("  'bench show KEY' prints a failed cell's traceback", file=sys.stderr)
    for path in paths:
        print(path)
    if report_error is not None:
        raise report_error
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


def add_parser(verbs: Any) -> None:
    run = verbs.add_parser("run", help="train and score every model x noise x dataset cell of a grid",
                           description="Train and score every cell of a grid and write leaderboards.")
    run.add_argument("--models", default=DEFAULT_MODELS, metavar="SEL",
                     help="'all', names or wildcards separated by commas, each optionally with parameters: "
                          f"beta_vae:beta=4 (default: {DEFAULT_MODELS}, the comparison the tool was built for)")
    run.add_argument("--noise", default=DEFAULT_NOISES, metavar="SEL",
                     help="noises to corrupt with, e.g. gaussian,erasing or gaussian:sigma=0.5 for a native "
                          "value instead of the calibrated severities (default: gaussian,erasing)")
    add_datasets_profile(run, profile_help="quick (default): minutes on 2 CPU cores; paper: the protocol of the "
                                           "comparison")
    run.add_argument("--families", metavar="LIST",
                     help="metric families to compute: names separated by commas, 'all', +NAME to add to the "
                          "profile's (quick: reconstruction, latent, downstream, likelihood; paper: all), -NAME to "
                          "leave one of them out (--families=-downstream). A family added on a store that has the "
                          "others computes only that family (bench list families)")
    run.add_argument("--severities", metavar="1,3,5", help="severity levels (default: the profile's)")
    run.add_argument("--train-noise", action="store_true",
                     help="corrupt the models' training set too (the noisy-training-set scenario): plain models "
                          "learn x~ -> x~, denoising models noise(x~) -> x~; tests stay noisy -> clean")
    run.add_argument("--seed", type=int, default=0, metavar="N", help="seed of the cells, or the first of --seeds "
                                                                      "(default: 0)")
    run.add_argument("--seeds", metavar="K|LIST", help="repeat every cell: K seeds from --seed on (--seeds 3), or "
                                                     "these seeds (--seeds 0,1,2); leaderboards show mean ± std and a "
                                                     "95%% interval over seeds (default: the profile's, quick 3, paper 1)")
    add_out_store(run, store_help="results store to use, e.g. one shared by several runs (default: DIR/results.db)")
    run.add_argument("--format", default="md,csv,html", metavar="LIST",
                     help="reports to write: installed reporters (bench list reporters): md, csv, html, json, mlflow, "
                          "third parties' (default: md,csv,html)")
    add_report_options(run)
    run.add_argument("--rerun", choices=("failed", "all"),
                     help="recompute cells already in the store: only failed ones, or all (default: none; a cell "
                          "already stored is never computed again)")
    run.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"), help="(default: cpu)")
    run.add_argument("--executor", metavar="WHERE",
                     help="where cells run: local (this process), processes:N (N worker processes), "
                          "dask://HOST:PORT (a Dask scheduler) or dask-local:N (a local Dask cluster of N workers) "
                          "(default: $BENCH_EXECUTOR, else processes:N with one process per usable core, each cell "
                          "on --threads threads; local when that is one process)")
    run.add_argument("--train-sizes", metavar="N,N,...",
                     help="training-set sizes to sweep, e.g. 250,1000,5000: every cell once per size, the smaller "
                          "subsets drawn inside the larger ones (default: the profile's size)")
    run.add_argument("--cnn-budget", default="converged", metavar="converged|steps|epochs",
                     help="the downstream family's protocol, named by the question it answers: converged trains "
                          "every CNN to convergence on its own training set (do the samples help?); steps gives "
                          "the baseline and every augmented CNN the same optimizer steps (given this compute, are "
                          "samples worth more than repeating real images?); epochs the same passes at a constant "
                          "rate, as usually published; several separated by commas run each (default: converged)")
    run.add_argument("--precision", default="fp32", metavar="fp32|bf16|auto",
                     help="the reference CNN's arithmetic: fp32, bf16 (bfloat16 autocast, channels-last) on "
                          "hardware with native bfloat16, or auto: bf16 where the device has it, else fp32 "
                          "(default: fp32)")
    run.add_argument("--threads", type=int, metavar="N",
                     help="threads per cell, torch's and BLAS's (default: 1, so that a cell gives the same numbers "
                          "on every executor and machine; use --executor processes:N to use more cores)")
    add_quiet(run)
    run.set_defaults(func=cmd_run)
