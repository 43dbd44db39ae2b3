"""``bench export`` and ``bench time``: the trained models of a grid as ONNX graphs, and their inference
latency on torch and onnxruntime. Both take the models from the checkpoints ``bench run`` kept in the
store's directory and train the ones that are missing."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from .options import FAILED, OK, add_datasets_profile, add_out_store, add_quiet, open_store_of, parse_formats, parse_ints

DEFAULT_NOISE = "gaussian"
DEFAULT_SEVERITY = 3


def _targets(args: argparse.Namespace) -> tuple[Any, Any, dict, list]:
    """The registry, store, loaded datasets and export targets the options select (all checked first)."""
    from bench.data import dataset_variants, load_variants
    from bench.profiles import get_profile
    from bench.trained import targets
    from registry import BenchError, load_registry, select_variants

    registry = load_registry()
    models = select_variants(args.models, registry.names("models"), "model")
    noises = select_variants(args.noise, registry.names("noises"), "noise")
    datasets = dataset_variants(registry, args.datasets)
    profile = get_profile(args.profile)
    for noise, overrides in noises:
        registry.spec("noises", noise).resolve(args.severity, overrides)
    for model, overrides in models:
        registry.spec("models", model).resolve(overrides)
    if args.seed < 0:
        raise BenchError(f"--seed takes an integer >= 0. Got {args.seed} instead.")
    store = open_store_of(args, Path(args.out))
    loaded = load_variants(registry, datasets)
    chosen = targets(registry, datasets=list(loaded), models=models, noises=noises, severity=args.severity,
                     seed=args.seed, profile=profile, loaded=loaded)
    return registry, store, loaded, chosen


def _note(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        print(text, file=sys.stderr, flush=True)


def _exports(args: argparse.Namespace, *, reuse: bool, export: bool = True):
    """Yield ``(target, trained model or None, export or None, reason)`` per target, exporting as needed
    (reusing an earlier export of the same checkpoint with ``reuse``; not at all without ``export``)."""
    from bench.export import export_dir, export_model, previous, require
    from bench.progress import Progress
    from bench.trained import trained_models

    if export:
        require("onnxruntime")
        require("onnxscript")
    registry, store, loaded, chosen = _targets(args)
    progress = Progress(quiet=args.quiet)
    for item in trained_models(registry, chosen, store, loaded, progress=progress):
        if isinstance(item, tuple):
            target, reason = item
            yield target, None, None, reason
            continue
        cell = item.target.cell
        if not export:
            yield item.target, item, None, None
            continue
        directory = export_dir(Path(args.out), cell)
        found = previous(directory, item.target.variant, item.checkpoint) if reuse else None
        if found is None:
            _note(args, f"exporting {cell.dataset} {item.target.variant} ({item.source} weights)")
            found = export_model(item.model, item.test_images, directory, dataset=cell.dataset, model_name=cell.model,
                                 variant_name=item.target.variant, checkpoint=item.checkpoint)
        yield item.target, item, found, found.reason


def cmd_export(args: argparse.Namespace) -> int:
    failed = 0
    for target, _, exported, reason in _exports(args, reuse=False):
        name = f"{target.cell.dataset} {target.variant}"
        if exported is not None and exported.ok:
            worst = max(exported.max_abs_diff.values())
            print(f"exported {name}: {exported.encoder}, {exported.decoder} (opset {exported.opset}, "
                  f"max |onnxruntime - torch| {worst:.2g})")
        elif target.skip:
            print(f"skipped {name}: {reason}", file=sys.stderr)
        else:
            failed += 1
            print(f"failed {name}: {reason}", file=sys.stderr)
    return FAILED if failed else OK


def cmd_time(args: argparse.Namespace) -> int:
    import torch

    from bench.timing import BACKENDS
    from registry import BenchError, select

    backends = select(args.backends, list(BACKENDS), "backend")
    batch_sizes = parse_ints(args.batch_sizes, "--batch-sizes", low=1)
    threads = args.threads if args.threads is not None else torch.get_num_threads()
    if threads < 1:
        raise BenchError(f"--threads takes an integer >= 1. Got {threads} instead.")
    if args.repeats < 1 or args.warmup < 0:
        raise BenchError(f"--repeats takes an integer >= 1 and --warmup one >= 0. Got {args.repeats} and "
                         f"{args.warmup}.")
    formats = tuple(f for f in parse_formats(args.format) if f in ("md", "csv")) or ("md", "csv")
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _time(args, backends, batch_sizes, threads, formats)
    finally:
        torch.set_num_threads(before)  # the caller's threads (and so its numerics) are left as they were


def _time(args: argparse.Namespace, backends: list[str], batch_sizes: list[int], threads: int,
          formats: tuple[str, ...]) -> int:
    from bench.export import session, versions
    from bench.provenance import cpu_name, environment, now
    from bench.timing import batch_of, latencies, onnxruntime_call, summarise, torch_call
    from reports import write_reports
    from reports.outputs import written_formats
    from reports.timing import write_timing

    out = Path(args.out)
    machine = f"{cpu_name()}, {os.cpu_count()} logical CPUs"
    store = open_store_of(args, out)
    provenance = {**environment("cpu"), **versions()}
    run_id, measured, failed = None, 0, 0
    for target, item, exported, reason in _exports(args, reuse=True, export="onnxruntime" in backends):
        name = f"{target.cell.dataset} {target.variant}"
        if item is None:
            print(f"{'skipped' if target.skip else 'failed'} {name}: {reason}", file=sys.stderr)
            failed += not target.skip
            continue
        sessions = None
        if exported is not None and exported.ok:
            sessions = (session(exported.encoder, threads), session(exported.decoder, threads))
        elif exported is not None:
            failed += 1
            print(f"failed {name} on onnxruntime: {reason}", file=sys.stderr)
        rows = []
        for batch_size in batch_sizes:
            x = batch_of(item.test_images, batch_size)
            for backend in backends:
                if backend == "onnxruntime" and sessions is None:
                    continue
                call = torch_call(item.model, x) if backend == "torch" else onnxruntime_call(*sessions, x)
                stats = summarise(latencies(call, warmup=args.warmup, repeats=args.repeats), batch_size)
                _note(args, f"{name} {backend} batch {batch_size}: {stats['median_ms']:.3f} ms median, "
                            f"{stats['images_per_s']:,.0f} images/s")
                rows.append({"dataset": target.cell.dataset, "model": target.cell.model, "variant": target.variant,
                             "checkpoint": item.checkpoint, "backend": backend, "batch_size": batch_size,
                             "threads": threads, "machine": machine, "measured": now(), **stats})
        if rows:  # stored model by model: an interrupted timing keeps what it measured
            run_id = run_id or store.begin_run(args.argv, provenance, rows[0]["measured"])
            store.add_timings(rows, provenance, run_id=run_id)
            measured += len(rows)
    if run_id is not None:
        store.end_run(run_id, now(), computed=measured, reused=0, failed=failed)
        out.mkdir(parents=True, exist_ok=True)
        paths = write_timing(store, out, formats)
        present = written_formats(out)  # every report already there that shows timings: the cost table, the page
        if present:
            paths += [p for p in write_reports(store, out, present) if p not in paths]
        for path in paths:
            print(path)
    return FAILED if failed else OK


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", default="all", metavar="SEL", help="models, as for 'bench run' (default: all)")
    parser.add_argument("--noise", default=DEFAULT_NOISE, metavar="SEL",
                        help=f"the noise denoising models are trained on (default: {DEFAULT_NOISE})")
    parser.add_argument("--severity", type=int, default=DEFAULT_SEVERITY, metavar="N",
                        help=f"its severity (default: {DEFAULT_SEVERITY})")
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="the training seed (default: 0)")
    add_datasets_profile(parser)
    add_out_store(parser, out_help="run directory: checkpoints are read from (and written to) DIR, graphs go to "
                                   "DIR/onnx (default: ./bench-out)",
                  store_help="results store whose checkpoints to use (default: DIR/results.db)")
    add_quiet(parser)


def add_parsers(verbs: Any) -> None:
    export = verbs.add_parser(
        "export", help="export trained models' encoders and decoders as ONNX graphs",
        description="Export each selected model's encoder (the deterministic code; a VAE's mean) and decoder as "
                    "ONNX graphs with a dynamic batch axis, from the checkpoints a 'bench run' kept (training "
                    "the missing ones), each checked against torch with onnxruntime.")
    _common(export)
    export.add_argument("--format", default="onnx", choices=("onnx",), help="(default: onnx)")
    export.set_defaults(func=cmd_export)

    time = verbs.add_parser(
        "time", help="inference latency of encode+decode on torch and onnxruntime",
        description="Time encode+decode per batch on each backend with fixed threads; results go into the store "
                    "and into timing.md / timing.csv, and refresh every report already in --out (leaderboard.md, "
                    "report.html, ...).")
    _common(time)
    time.add_argument("--batch-sizes", default="1,64,256", metavar="LIST", help="(default: 1,64,256)")
    time.add_argument("--backends", default="torch,onnxruntime", metavar="LIST",
                      help="torch, onnxruntime or both (default: both)")
    time.add_argument("--threads", type=int, metavar="N",
                      help="intra-op threads of both backends (default: torch's default here)")
    time.add_argument("--repeats", type=int, default=50, metavar="N",
                      help="timed calls at least, and at least 0.5 s of them (default: 50)")
    time.add_argument("--warmup", type=int, default=10, metavar="N", help="untimed calls first (default: 10)")
    time.add_argument("--format", default="md,csv", metavar="LIST", help="timing files to write (default: md,csv)")
    time.set_defaults(func=cmd_time)
