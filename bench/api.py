"""The Python API: what ``bench run`` does, for a script or a notebook. The command line is built on it.

    import bench

    results = bench.run(models="ae,vae", noises="gaussian", datasets="digits", seeds=2, store="runs/demo")
    results.frame()        # one row per cell x metric
    results.leaderboard()  # per model x noise x severity: means, intervals, ranks, paired tests, ties

Selections take what the command line takes (``"all"``, ``"*vae"``, ``"beta_vae:beta=4"``) or a list of
such strings. Cells already in the store are read back, not computed again.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from .summary import RunSummary

if TYPE_CHECKING:
    import pandas as pd

    from registry import Registry

    from .data import LoadedDataset
    from .executors import ExecutorSpec
    from .grid import Cell
    from .progress import Progress
    from .result import CellResult
    from .store import Store

DEFAULT_MODELS = "ae,dae,vae,dvae"
DEFAULT_NOISES = "gaussian,erasing"
DEFAULT_DATASETS = "fashion_mnist"


@dataclass
class Results:
    """The cells one run asked for, computed or read back from its store."""

    store: Store
    cells: list[Cell]
    summary: RunSummary = field(default_factory=RunSummary)

    @property
    def keys(self) -> list[str]:
        """The keys of the records that keep the cells' results (:mod:`bench.keys`: up to one per scope of the
        cell's families; cells that differ only in a CNN budget share the records of the other families)."""
        return list(dict.fromkeys(k for c in self.cells for k in c.record_keys))

    def results(self) -> list[CellResult]:
        """The stored results of this run's cells (status, metrics, figures, provenance, timings)."""
        keys = set(self.keys)
        return [r for r in self.store.results() if r.key in keys]

    def records(self) -> list[dict[str, Any]]:
        """:meth:`results` in their stored form: one JSON-able dict per cell."""
        return [r.record() for r in self.results()]

    def frame(self) -> pd.DataFrame:
        """One row per cell x metric: the cell's columns, ``metric``, ``value``, ``ci95``, ``n``, status."""
        from reports import results_frame

        return results_frame(self.results(), self.store.catalogue())

    def leaderboard(self, metrics: str | Sequence[str] | None = None) -> pd.DataFrame:
        """One row per dataset x protocol x noise x severity x model: per metric the mean over seeds, its
        interval, rank, the paired test against the best row (Holm-corrected) and whether it is tied with
        the best; ``metrics`` keeps only those metrics' columns, and the rows that have one of them."""
        from reports import leaderboard_frame

        board = leaderboard_frame(self.frame(), self.store.items(self.keys))
        if metrics is None:
            return board
        wanted = {metrics} if isinstance(metrics, str) else set(metrics)
        present = [m for m in wanted if m in board.columns]
        rows = board[present].notna().any(axis=1) if present else board.index == board.index
        return board.loc[rows, [c for c in board.columns if _metric_of(c, board) in wanted | {None}]].reset_index(drop=True)

    def report(self, formats: str | Sequence[str] = "md,csv,html", out: str | Path | None = None, *,
               tracking_uri: str | None = None, experiment: str | None = None) -> list[Path]:
        """Write the reports of this run's store (:func:`report`); ``out`` defaults to the store's directory."""
        return report(self.store.path, formats, out, tracking_uri=tracking_uri, experiment=experiment)


def report(store: str | Path = "bench-out/results.db", formats: str | Sequence[str] = "md,csv,html",
           out: str | Path | None = None, *, tracking_uri: str | None = None,
           experiment: str | None = None) -> list[Path]:
    """Write the reports ``formats`` names from every result in ``store`` (``bench report``): installed
    reporters (``bench list reporters``): ``md``, ``csv``, ``html``, ``json``, ``mlflow`` (with the extra
    ``aebench[mlflow]``: an MLflow run per cell at ``tracking_uri``, default ``$MLFLOW_TRACKING_URI``, in
    ``experiment``, default ``"bench"``), third parties'. ``out``: where files go (default: the store's
    directory). Returns the files written. An unknown format, a missing extra or an unreachable server
    raises :class:`registry.BenchError` (one line) before anything is written."""
    from reports import check_reporters, write_reports

    from .store import open_store

    opened = open_store(Path(store), must_exist=True)
    chosen = tuple(_format_list(formats))
    options = report_options(tracking_uri, experiment)
    check_reporters(chosen, options)
    return write_reports(opened, Path(out) if out is not None else opened.path.parent, chosen, options=options)


def report_options(tracking_uri: str | None, experiment: str | None) -> dict[str, Any]:
    """What the reporters read (:class:`registry.ReporterSpec` ``options``), the unset ones left out."""
    return {k: v for k, v in (("tracking_uri", tracking_uri), ("experiment", experiment)) if v is not None}


def _format_list(formats: str | Sequence[str]) -> list[str]:
    from registry import BenchError

    if isinstance(formats, str):
        formats = [f.strip() for f in formats.split(",") if f.strip()]
    if not formats or not all(isinstance(f, str) for f in formats):
        raise BenchError(f"formats takes report format names (bench list reporters). Got {formats!r} instead.")
    return list(dict.fromkeys(formats))


def _metric_of(column: str, board: pd.DataFrame) -> str | None:
    """The metric a leaderboard column belongs to (``psnr_gain_ci95`` -> ``psnr_gain``), None for the
    columns that identify a row."""
    names = [c for c in board.columns if f"{c}_rank" in board.columns]
    owners = [m for m in names if column == m or column.startswith(f"{m}_")]
    return max(owners, key=len) if owners else None


@dataclass
class RunPlan:
    """A checked run: every selection resolved and every parameter validated, nothing computed yet."""

    registry: Registry
    loaded: dict[str, LoadedDataset]
    cells: list[Cell]
    store: Store
    executor: ExecutorSpec | None  # None: chosen from the cells to compute
    threads: int
    device: str
    rerun: str | None


def _selection(value: str | Sequence[str]) -> str:
    return value if isinstance(value, str) else ",".join(value)


def _seed_list(seeds: int | Sequence[int], seed: int) -> list[int]:
    from registry import BenchError

    if isinstance(seeds, int):
        if seeds < 1 or seed < 0:
            raise BenchError(f"seeds takes a count >= 1 from a first seed >= 0. Got {seeds} from {seed} instead.")
        return list(range(seed, seed + seeds))
    chosen = list(dict.fromkeys(int(s) for s in seeds))
    if not chosen or min(chosen) < 0:
        raise BenchError(f"seeds takes integers >= 0. Got {list(seeds)!r} instead.")
    return chosen


def device_of(name: str) -> str:
    """``cpu``, ``cuda`` or ``auto`` (cuda where torch sees a device), checked."""
    from registry import BenchError

    if name == "cpu":
        return name
    import torch  # asked only when a GPU may be: a CPU run that finds every cell stored does not load torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name not in ("cpu", "cuda"):
        raise BenchError(f"device takes cpu, cuda or auto. Got {name!r} instead.")
    if name == "cuda" and not torch.cuda.is_available():
        raise BenchError("--device cuda was given but torch sees no CUDA device; use --device cpu or auto")
    return name


def prepare(models: str | Sequence[str] = DEFAULT_MODELS, noises: str | Sequence[str] = DEFAULT_NOISES,
            datasets: str | Sequence[str] = DEFAULT_DATASETS, *, profile: str = "quick",
            seeds: int | Sequence[int] | None = None, seed: int = 0, store: str | Path = "bench-out/results.db",
            severities: Sequence[int] | None = None, cnn_budget: str = "converged", precision: str = "fp32",
            train_noise: bool = False, train_sizes: Sequence[int] | None = None, rerun: str | None = None,
            executor: str | None = None,
            threads: int | None = None, device: str = "cpu",
            families: str | Sequence[str] | None = None) -> RunPlan:
    """Resolve and check everything a run needs before any work starts (bad input raises a
    :class:`registry.BenchError` whose message is one line)."""
    from registry import BenchError, load_registry, select_variants

    from .data import dataset_variants, load_variants
    from .executors import check_available, parse_executor
    from .families_selection import check_served, parse_families
    from .grid import plan
    from .precision import resolve_precision
    from .profiles import get_profile, parse_budgets
    from .store import open_store
    from .threads import DEFAULT_THREADS

    if rerun not in (None, "failed", "all"):
        raise BenchError(f"--rerun takes failed or all (None: no cell is recomputed). Got {rerun!r} instead.")
    if not isinstance(train_noise, bool):
        raise BenchError(f"train_noise takes True or False. Got {train_noise!r} instead.")
    registry = load_registry()
    model_variants = select_variants(_selection(models), registry.names("models"), "model")
    noise_variants = select_variants(_selection(noises), registry.names("noises"), "noise")
    variants = dataset_variants(registry, _selection(datasets))
    chosen_profile = get_profile(profile)
    budgets = parse_budgets(cnn_budget)
    levels = list(dict.fromkeys(severities)) if severities else list(chosen_profile.severities)
    if any(not isinstance(s, int) or s < 1 for s in levels):
        raise BenchError(f"severities take integers >= 1. Got {list(levels)!r} instead.")
    for noise, overrides in noise_variants:  # check severities and parameters before any work starts
        for severity in levels:
            registry.spec("noises", noise).resolve(severity, overrides)
    for model, overrides in model_variants:
        registry.spec("models", model).resolve(overrides)
    chosen_families, named_families = parse_families(families, registry, chosen_profile.families)
    seed_list = _seed_list(chosen_profile.seeds if seeds is None else seeds, seed)
    chosen_device = device_of(device)
    chosen_profile = chosen_profile.with_protocol(precision=resolve_precision(precision, chosen_device))
    if threads is not None and threads < 1:
        raise BenchError(f"--threads takes an integer >= 1. Got {threads} instead.")
    chosen = executor or os.environ.get("BENCH_EXECUTOR", "").strip()
    spec = parse_executor(chosen) if chosen else None
    if spec is not None:
        check_available(spec)
    store_path = Path(store)
    opened = open_store(store_path)
    try:
        opened.path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=opened.path.parent):  # a file of its own: runs sharing the store start together
            pass
    except OSError as exc:
        raise BenchError(f"cannot write the results store {str(opened.path)!r}: {exc.strerror}; choose another "
                         "place for it") from None
    sizes = _train_sizes(train_sizes)
    loaded = load_variants(registry, variants)
    check_served(named_families, registry, [m for m, _ in model_variants],
                 {registry.spec("datasets", d.name).kind for d in loaded.values()})
    for label, dataset in loaded.items() if sizes else ():
        available = len(dataset.data.train_x)
        if max(sizes) > available:
            raise BenchError(f"--train-sizes takes sizes up to the training split of each dataset; {label} has "
                             f"{available:,} training images. Got {max(sizes):,} instead.")
    cells = plan(registry, datasets=list(loaded), models=model_variants, noises=noise_variants, severities=levels,
                 seeds=seed_list, profile=chosen_profile, loaded=loaded, train_noise=train_noise, budgets=budgets,
                 train_sizes=sizes, families=chosen_families)
    return RunPlan(registry, loaded, cells, opened, spec, threads or DEFAULT_THREADS, chosen_device, rerun)


def _train_sizes(sizes: Sequence[int] | None) -> list[int] | None:
    """``train_sizes`` checked: integers >= 1, each once, smallest first (None: the profile's size)."""
    from registry import BenchError

    if sizes is None:
        return None
    sizes = list(sizes)
    if not sizes or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in sizes):
        raise BenchError(f"--train-sizes takes integers >= 1 separated by commas. Got {sizes!r} instead.")
    return sorted(set(sizes))


def execute(plan: RunPlan, *, argv: list[str] | None = None, progress: Progress | None = None) -> Results:
    """Compute the plan's cells that its store lacks (all of them again with ``rerun="all"``) on its
    executor; the run and its provenance are recorded in the store. KeyboardInterrupt propagates, with
    every finished cell already stored."""
    from .executors import default_executor
    from .progress import Progress
    from .provenance import environment, now
    from .store import pending

    progress = progress or Progress(quiet=True)
    store, cells = plan.store, plan.cells
    todo = pending(store, cells, {f.name: f.spec.version for f in plan.registry.list("families")}, plan.rerun)
    executor = plan.executor or default_executor(todo, plan.threads, plan.device)
    used = {f for c in cells for f in c.families}  # the reports read what they declare, in the registry's order
    store.describe_families([e.spec.describe() for name, e in plan.registry.entries["families"].items() if name in used])
    run_id = store.begin_run(argv or ["bench.run"], {**environment(plan.device), "executor": executor.label,
                                                     "threads": plan.threads}, now())
    if todo:
        from .driver import drive  # the metric suite's libraries load only when there is work
        from .threads import threads as using_threads

        with using_threads(plan.threads):
            summary = drive(executor, cells, store, registry=plan.registry, datasets=plan.loaded, rerun=plan.rerun,
                            run_id=run_id, progress=progress, device=plan.device, threads=plan.threads)
    else:
        summary = RunSummary(reused=len(cells))
    store.end_run(run_id, now(), computed=summary.computed, reused=summary.reused, failed=summary.failed)
    return Results(store, cells, summary)


def run(models: str | Sequence[str] = DEFAULT_MODELS, noises: str | Sequence[str] = DEFAULT_NOISES,
        datasets: str | Sequence[str] = DEFAULT_DATASETS, *, profile: str = "quick",
        seeds: int | Sequence[int] | None = None, seed: int = 0, store: str | Path = "bench-out/results.db",
        severities: Sequence[int] | None = None, cnn_budget: str = "converged", precision: str = "fp32",
        train_noise: bool = False, train_sizes: Sequence[int] | None = None, rerun: str | None = None,
        executor: str | None = None, threads: int | None = None, device: str = "cpu",
        families: str | Sequence[str] | None = None, quiet: bool = True) -> Results:
    """Plan, check and compute a grid; returns its :class:`Results`. Cells already in ``store`` are read
    back, not computed again. Bad input raises :class:`registry.BenchError` (one line) before any work.

    models, noises, datasets: what ``--models``/``--noise``/``--datasets`` take (``"all"``, ``"*vae"``,
        ``"beta_vae:beta=4"``, names separated by commas) or a list of such strings.
    profile: ``"quick"`` or ``"paper"``.
    seeds: a count (seeds ``seed`` .. ``seed + K - 1``) or a list of seeds; seed: the first seed of a count.
    store: the results store, a ``results.db`` file or a directory that holds one.
    severities: severity levels (default: the profile's).
    cnn_budget: the downstream protocol, ``"converged"`` (every CNN to convergence: do the samples help?),
        ``"steps"`` (compute-matched), ``"epochs"`` (equal epochs, as usually published), or several
        separated by commas.
    precision: the reference CNN's arithmetic, ``"fp32"``, ``"bf16"`` (native bfloat16 hardware only) or
        ``"auto"`` (bf16 where the device has native bfloat16, else fp32; cells record which they ran at).
    train_noise: corrupt the models' training set too (the noisy-training-set scenario).
    train_sizes: training-set sizes to sweep (default: the profile's one size).
    rerun: ``"failed"`` or ``"all"`` to recompute stored cells (default: none).
    executor: ``"local"``, ``"processes:N"``, ``"dask://HOST:PORT"`` or ``"dask-local:N"`` (default:
        ``$BENCH_EXECUTOR``, else this process). Worker processes start by re-importing the caller's main
        module, which a script must guard with ``if __name__ == "__main__":``.
    threads: threads per cell (default 1, so that a cell gives the same numbers everywhere).
    device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
    families: the metric families to compute: names separated by commas (or a list), ``"all"``, or
        ``"+generative"`` to add to the profile's defaults (default: the profile's; quick leaves out the
        ones that train CNNs). A family added later to the same store computes only that family.
    quiet: no progress output.
    """
    from registry import BenchError

    from .progress import Progress

    if not isinstance(quiet, bool):
        raise BenchError(f"quiet takes True or False. Got {quiet!r} instead.")
    executor = executor or os.environ.get("BENCH_EXECUTOR", "").strip() or "local"
    plan = prepare(models, noises, datasets, profile=profile, seeds=seeds, seed=seed, store=store,
                   severities=severities, cnn_budget=cnn_budget, precision=precision, train_noise=train_noise,
                   train_sizes=train_sizes, rerun=rerun, executor=executor, threads=threads, device=device,
                   families=families)
    return execute(plan, progress=Progress(quiet=quiet))
