"""The plugin kit: what the harness relies on from a model, a noise or a dataset spec, one check function
per claim, tried on small inputs so that a plugin author sees what breaks before publishing.

In a plugin's own test suite, one decorator runs every check on every spec::

    from registry.testing import parametrize_with_checks
    from my_plugin import bench_datasets, bench_families, bench_models, bench_noises

    @parametrize_with_checks(bench_models() + bench_noises() + bench_datasets() + bench_families())
    def test_bench_contract(spec, check):
        check(spec)

Each check is a plain function ``check_...(spec)`` that returns None when the claim holds and raises
:class:`ContractError` (an ``AssertionError``) saying what is wrong otherwise. ``bench plugins check NAME``
runs the same functions through :func:`run_checks`.

- models: the factory takes the declared parameters (and only those) and builds a ``torch.nn.Module``;
  ``encode`` gives ``[N, latent]``, ``decode`` and ``forward`` give the input's shape with values in
  [0, 1], ``loss`` a finite scalar; the declared capabilities are there; the same seed builds the same
  weights; the loss decreases on a tiny batch;
- noises: the function takes the declared parameters; every severity's parameters are declared; the
  output keeps shape and dtype with values in [0, 1]; the same seed gives the same corruption;
- datasets: the loader takes the declared parameters and returns float32 inputs in [0, 1] of the
  declared kind with int64 labels and a class name per label; two loads give the same tensors;
- metric families: the declaration is complete (version, metrics of the family, headline among them);
  ``score`` on a small VAE's cell (:mod:`registry.kit_context`) returns each declared metric once (not
  applicable with a reason where it has no value) and the same values twice. A family that uses what only a
  grid provides (the reference CNN, the feature network) is not tried here, and the kit says so;
- reporters: the declaration is complete (``write`` callable, ``files`` names inside the output directory);
  the modules it requires import (skipped, naming the extra, where the extra is not installed); ``write``
  on a small real store returns what it wrote and writes every file it declares (``bench plugins check``
  runs it on the kit's store, :mod:`reports.kit`; skipped where no store is given).

A check that does not apply to a spec (a model without ``sample`` has no samples to check, a dataset whose
files are not here and cannot be fetched) raises :class:`CheckSkipped`: ``bench plugins check`` reports it as
skipped with the reason, and :func:`parametrize_with_checks` as a pytest skip; it never counts as passed.
"""

from __future__ import annotations

import inspect
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from .contracts import codes_problem, output_problem, values_problem
from .kit_context import NotInKit
from .metrics import MetricResult
from .specs import Dataset, DatasetSpec, FamilySpec, ModelSpec, NoiseSpec, ReporterSpec

IMAGE_SHAPE, VECTOR_SHAPE, BATCH = (1, 28, 28), (20,), 16

__all__ = ["Check", "CheckSkipped", "ContractError", "checks_for", "parametrize_with_checks", "run_checks",
           "MODEL_CHECKS", "NOISE_CHECKS", "DATASET_CHECKS", "FAMILY_CHECKS", "REPORTER_CHECKS"]


class ContractError(AssertionError):
    """A spec breaks a claim the harness relies on; the message says what is wrong."""


class CheckSkipped(Exception):
    """A check does not apply to this spec, or cannot be tried here (a dataset that cannot be obtained, a
    family that needs a grid); the message says why. Reported as skipped, never as passed."""


@dataclass(frozen=True)
class Check:
    """One check's outcome, as ``bench plugins check`` lists it."""

    kind: str  # "model", "noise", "dataset", "family"
    name: str
    check: str
    ok: bool  # passed, or skipped
    detail: str = ""
    skipped: bool = False  # did not apply, or could not be tried here: ``detail`` says why


def _claim(description: str) -> Callable[[Callable], Callable]:
    """Name a check function's claim, as ``bench plugins check`` prints it."""

    def mark(fn: Callable) -> Callable:
        fn.description = description
        return fn

    return mark


def _fail_if(problem: str | None) -> None:
    if problem is not None:
        raise ContractError(problem)


def _declared(fn: Callable, declared: set[str], skip: int) -> str | None:
    """What is wrong between ``fn``'s keyword parameters (after ``skip`` positional ones) and ``declared``."""
    try:
        params = list(inspect.signature(fn).parameters.values())[skip:]
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None  # **params: takes whatever is declared
    names = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    missing = sorted(declared - names)
    undeclared = sorted(p.name for p in params if p.name in names - declared and p.default is p.empty)
    if missing:
        return f"declares {', '.join(missing)} but the callable does not take {'it' if len(missing) == 1 else 'them'}"
    if undeclared:
        return f"the callable needs {', '.join(undeclared)} without declaring {'it' if len(undeclared) == 1 else 'them'}"
    return None


# -- models -------------------------------------------------------------------------------------------------

def _model_shape(spec: ModelSpec) -> tuple[int, ...]:
    return IMAGE_SHAPE if "image" in spec.inputs else VECTOR_SHAPE


def _model_input(spec: ModelSpec) -> torch.Tensor:
    torch.manual_seed(0)
    return torch.rand(BATCH, *_model_shape(spec))


def _build(spec: ModelSpec) -> torch.nn.Module:
    torch.manual_seed(0)
    model = spec.factory(_model_shape(spec), **spec.resolve({}))
    if not isinstance(model, torch.nn.Module):
        raise ContractError("the factory did not return a torch.nn.Module")
    return model


def _output(y: torch.Tensor, what: str, shape: tuple[int, ...]) -> str | None:
    return output_problem(y, what, (BATCH, *shape))


@_claim("parameters declared")
def check_model_parameters_declared(spec: ModelSpec) -> None:
    _fail_if(_declared(spec.factory, set(spec.resolve({})), 1))


@_claim("builds a torch.nn.Module")
def check_model_builds(spec: ModelSpec) -> None:
    _build(spec)


@_claim("encode gives [N, latent]")
def check_model_encode_shape(spec: ModelSpec) -> None:
    model, x = _build(spec), _model_input(spec)
    with torch.no_grad():
        z = model.encode(x)
    _fail_if(codes_problem(z, BATCH))


@_claim("decode gives the input shape in [0, 1]")
def check_model_decode_output(spec: ModelSpec) -> None:
    model, x = _build(spec), _model_input(spec)
    with torch.no_grad():
        _fail_if(_output(model.decode(model.encode(x)), "decode", _model_shape(spec)))


@_claim("forward gives the input shape in [0, 1]")
def check_model_forward_output(spec: ModelSpec) -> None:
    model, x = _build(spec), _model_input(spec)
    with torch.no_grad():
        _fail_if(_output(model(x), "forward", _model_shape(spec)))


@_claim("loss is a finite scalar")
def check_model_loss_scalar(spec: ModelSpec) -> None:
    model, x = _build(spec), _model_input(spec)
    loss = model.loss(x, x)
    if loss.dim() != 0:
        raise ContractError(f"loss has shape {tuple(loss.shape)}, expected a scalar")
    _fail_if(None if math.isfinite(loss.item()) else f"loss is {loss.item()}")


@_claim("declared capabilities are there")
def check_model_capabilities(spec: ModelSpec) -> None:
    from .capabilities import missing_capabilities

    missing = missing_capabilities(spec, _build(spec))
    _fail_if(f"declares {', '.join(missing)} but the module lacks it" if missing else None)


@_claim("declared prior samples have the input shape in [0, 1]")
def check_model_samples(spec: ModelSpec) -> None:
    if "sample" not in spec.capabilities:
        raise CheckSkipped("the model declares no 'sample' capability")
    model = _build(spec)
    with torch.no_grad():
        _fail_if(_output(model.sample(BATCH), "sample", _model_shape(spec)))


@_claim("same seed, same weights")
def check_model_deterministic(spec: ModelSpec) -> None:
    a, b = _build(spec), _build(spec)
    same = all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    _fail_if(None if same else "two builds under the same seed have different weights")


@_claim("loss decreases on a tiny batch")
def check_model_learns(spec: ModelSpec) -> None:
    model, batch = _build(spec), _model_input(spec)[:8]
    optimizer = torch.optim.Adam(model.parameters(), lr=spec.lr)
    losses = []
    for _ in range(30):
        loss = model.loss(batch, batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    _fail_if(None if losses[-1] < losses[0] else f"loss went from {losses[0]:.4g} to {losses[-1]:.4g} in 30 steps")


# -- noises -------------------------------------------------------------------------------------------------

def _noise_input(spec: NoiseSpec) -> torch.Tensor:
    torch.manual_seed(1)
    return torch.rand(BATCH, *(IMAGE_SHAPE if "image" in spec.inputs else VECTOR_SHAPE))


@_claim("parameters declared")
def check_noise_parameters_declared(spec: NoiseSpec) -> None:
    _fail_if(_declared(spec.function, {p.name for p in spec.params}, 1))


@_claim("severities use declared parameters")
def check_noise_severities_declared(spec: NoiseSpec) -> None:
    declared = {p.name for p in spec.params}
    if not spec.severities:
        raise ContractError("no severities")
    extra = sorted({k for level in spec.severities.values() for k in level} - declared)
    if extra:
        raise ContractError(f"severities use undeclared {', '.join(extra)}")
    if spec.calibrate is not None and spec.calibrate not in declared:
        raise ContractError(f"calibrates '{spec.calibrate}', which is not declared")


@_claim("every severity: same shape and dtype, values in [0, 1]")
def check_noise_output(spec: NoiseSpec) -> None:
    x = _noise_input(spec)
    for severity in sorted(spec.severities):
        y = spec.function(x.clone(), **spec.resolve(severity))
        if tuple(y.shape) != tuple(x.shape) or y.dtype != x.dtype:
            raise ContractError(f"severity {severity} gave {tuple(y.shape)} {y.dtype} for {tuple(x.shape)} {x.dtype}")
        problem = values_problem(y)
        if problem:
            raise ContractError(f"severity {severity}: {problem}")


@_claim("same seed, same corruption")
def check_noise_deterministic(spec: NoiseSpec) -> None:
    x, params = _noise_input(spec), spec.resolve(max(spec.severities))
    torch.manual_seed(3)
    a = spec.function(x.clone(), **params)
    torch.manual_seed(3)
    b = spec.function(x.clone(), **params)
    _fail_if(None if torch.equal(a, b) else "two calls under the same seed differ (draw from torch's generator)")


# -- datasets -----------------------------------------------------------------------------------------------

_LAST_LOAD: dict[tuple, Dataset] = {}  # the last dataset loaded: the dataset checks share one load


def _load(spec: DatasetSpec, root: Path | None, *, again: bool = False) -> Dataset:
    key = (spec.name, id(spec.loader), str(root))
    if not again and key in _LAST_LOAD:
        return _LAST_LOAD[key]
    from .errors import DatasetUnavailable

    with tempfile.TemporaryDirectory() as tmp:
        try:
            data = spec.loader(Path(root) if root is not None else Path(tmp), **spec.resolve({}))
        except DatasetUnavailable as exc:  # not the plugin's fault: its files are not here and cannot be fetched
            raise CheckSkipped(f"the dataset cannot be loaded here: {exc}") from None
    if not isinstance(data, Dataset):
        raise ContractError("the loader did not return a registry.Dataset")
    if not again:
        _LAST_LOAD.clear()
        _LAST_LOAD[key] = data
    return data


@_claim("parameters declared")
def check_dataset_parameters_declared(spec: DatasetSpec, root: Path | None = None) -> None:
    _fail_if(_declared(spec.loader, set(spec.resolve({})), 1))


@_claim("loads")
def check_dataset_loads(spec: DatasetSpec, root: Path | None = None) -> None:
    _load(spec, root, again=True)


@_claim("float32 inputs in [0, 1], int64 labels")
def check_dataset_splits(spec: DatasetSpec, root: Path | None = None) -> None:
    data = _load(spec, root)
    for split, x, y in (("train", data.train_x, data.train_y), ("test", data.test_x, data.test_y)):
        if x.dtype != torch.float32:
            raise ContractError(f"{split} inputs are {x.dtype}, expected float32")
        if y.dtype != torch.int64 or y.dim() != 1 or len(y) != len(x) or len(x) == 0:
            raise ContractError(f"{split} has {len(x)} inputs and labels {tuple(y.shape)} {y.dtype}, expected int64 [N]")
        problem = values_problem(x)
        if problem:
            raise ContractError(f"{split} {problem}")


@_claim("items are of the declared kind")
def check_dataset_kind(spec: DatasetSpec, root: Path | None = None) -> None:
    data = _load(spec, root)
    expected_dims = 3 if spec.kind == "image" else 1
    _fail_if(None if data.train_x.dim() - 1 == expected_dims else
             f"items have shape {tuple(data.train_x.shape[1:])}; kind '{spec.kind}' means "
             f"{'[C, H, W]' if spec.kind == 'image' else '[D]'}")


@_claim("classes name every label")
def check_dataset_classes(spec: DatasetSpec, root: Path | None = None) -> None:
    data = _load(spec, root)
    top = int(max(data.train_y.max(), data.test_y.max()))
    _fail_if(None if len(data.classes) > top else f"{len(data.classes)} class names for labels up to {top}")


@_claim("two loads give the same tensors")
def check_dataset_deterministic(spec: DatasetSpec, root: Path | None = None) -> None:
    data, again = _load(spec, root), _load(spec, root, again=True)
    same = all(torch.equal(a, b) for a, b in zip((data.train_x, data.train_y, data.test_x, data.test_y),
                                                  (again.train_x, again.train_y, again.test_x, again.test_y)))
    _fail_if(None if same else "two loads give different tensors")


# The first check of each tuple is the one the others need: when it fails, run_checks stops there.
# -- metric families ----------------------------------------------------------------------------------------

def _score(spec: FamilySpec) -> list[MetricResult]:
    from .kit_context import KitContext

    return spec.score(KitContext().for_family(spec.name))


@_claim("declaration is complete")
def check_family_declared(spec: FamilySpec) -> None:
    from .capabilities import family_problem, vocabulary_problem

    _fail_if(vocabulary_problem(spec) or family_problem(spec))


@_claim("scores every declared metric once, and only those")
def check_family_scores(spec: FamilySpec) -> None:
    results = _score(spec)
    if not isinstance(results, list) or not all(isinstance(r, MetricResult) for r in results):
        raise ContractError(f"score returned {type(results).__name__}, expected a list of MetricResult")
    declared = {m.name: m for m in spec.metrics}
    names = [r.metric.name for r in results]
    foreign = [n for n in names if n not in declared]
    _fail_if(f"returned {foreign[0]!r}, which it does not declare" if foreign else None)
    twice = sorted({n for n in names if names.count(n) > 1})
    _fail_if(f"returned {twice[0]!r} twice" if twice else None)
    missing = [m.name for m in spec.metrics if not m.detail and m.name not in names]
    _fail_if(f"did not return {', '.join(missing)} (return not_applicable(why) where there is no value)"
             if missing else None)
    for r in results:
        if r.note is None and not math.isfinite(r.value) and not math.isinf(r.value):
            raise ContractError(f"{r.metric.name} is NaN without saying why (return not_applicable(why))")


@_claim("same cell, same values")
def check_family_deterministic(spec: FamilySpec) -> None:
    first, second = ({r.metric.name: r.value for r in _score(spec)} for _ in range(2))
    differ = [n for n in first if not (first[n] == second.get(n) or (math.isnan(first[n]) and math.isnan(second[n])))]
    _fail_if(f"{differ[0]} gave {first[differ[0]]!r}, then {second[differ[0]]!r}: draw randomness through "
             "context.seeded(...)" if differ else None)


# -- reporters ----------------------------------------------------------------------------------------------

@_claim("declaration is complete")
def check_reporter_declared(spec: ReporterSpec, report: Any = None) -> None:
    _fail_if(None if callable(spec.write) else "write is not callable")
    _fail_if(None if spec.check is None or callable(spec.check) else "check is neither None nor callable")
    for field_name in ("files", "requires", "options"):
        value = getattr(spec, field_name)
        _fail_if(None if isinstance(value, tuple) and all(isinstance(v, str) for v in value)
                 else f"{field_name} must be a tuple of strings, not {value!r}")
    absolute = [f for f in spec.files if Path(f).is_absolute() or ".." in Path(f).parts]
    _fail_if(f"files must be names inside the output directory, not {absolute[0]!r}" if absolute else None)


@_claim("writes its files from a small real store")
def check_reporter_writes(spec: ReporterSpec, report: Callable[[Path], Any] | None = None) -> None:
    """``write`` on a report of a real store (``report(out_dir)`` makes one: ``bench plugins check`` passes the
    kit's, :mod:`reports.kit`) returns the paths it wrote, and every file it declares is there."""
    if report is None:
        raise CheckSkipped("needs a results store: 'bench plugins check' runs it on a small real one")
    missing = spec.missing()
    if missing:
        raise CheckSkipped(f"needs {', '.join(missing)}, not installed here")
    if spec.options:  # it sends results somewhere the options name: the kit cannot choose that for the user
        raise CheckSkipped(f"it reads the options {', '.join(spec.options)}, which the kit cannot choose; try it "
                           f"with 'bench report --format {spec.name}' and your options")
    with tempfile.TemporaryDirectory(prefix="bench-kit-report-") as tmp:
        made = report(Path(tmp))
        written = spec.write(made)
        _fail_if(None if isinstance(written, list) else f"write returned {type(written).__name__}, expected the "
                                                        "list of paths it wrote")
        absent = [f for f in spec.files if not (Path(tmp) / f).is_file()]
        _fail_if(f"declares '{absent[0]}' in files but did not write it" if absent else None)
        gone = [p for p in written if not Path(p).is_file()]
        _fail_if(f"returned {str(gone[0])!r}, which is not a file" if gone else None)


@_claim("the modules it requires import")
def check_reporter_requires(spec: ReporterSpec, report: Any = None) -> None:
    missing = spec.missing()
    if missing and spec.extra:
        raise CheckSkipped(f"needs {', '.join(missing)}: its extra '{spec.extra}' is not installed here")
    _fail_if(f"needs {', '.join(missing)}, and names no extra that installs it" if missing else None)


MODEL_CHECKS = (check_model_builds, check_model_parameters_declared, check_model_encode_shape,
                check_model_decode_output, check_model_forward_output, check_model_loss_scalar,
                check_model_capabilities, check_model_samples, check_model_deterministic, check_model_learns)
NOISE_CHECKS = (check_noise_severities_declared, check_noise_parameters_declared, check_noise_output,
                check_noise_deterministic)
DATASET_CHECKS = (check_dataset_loads, check_dataset_parameters_declared, check_dataset_splits, check_dataset_kind,
                  check_dataset_classes, check_dataset_deterministic)
FAMILY_CHECKS = (check_family_declared, check_family_scores, check_family_deterministic)
REPORTER_CHECKS = (check_reporter_declared, check_reporter_requires, check_reporter_writes)
_BY_TYPE = {ModelSpec: ("model", MODEL_CHECKS), NoiseSpec: ("noise", NOISE_CHECKS), DatasetSpec: ("dataset", DATASET_CHECKS),
            FamilySpec: ("family", FAMILY_CHECKS), ReporterSpec: ("reporter", REPORTER_CHECKS)}


def checks_for(spec: Any) -> tuple[Callable, ...]:
    """Every check that applies to ``spec`` (a ModelSpec, NoiseSpec, DatasetSpec or FamilySpec)."""
    for cls, (_, checks) in _BY_TYPE.items():
        if isinstance(spec, cls):
            return checks
    raise TypeError(f"not a bench spec: {spec!r} (expected a ModelSpec, NoiseSpec, DatasetSpec, FamilySpec or "
                    "ReporterSpec)")


def run_checks(spec: Any, root: Path | None = None, report: Callable[[Path], Any] | None = None) -> list[Check]:
    """Every check of ``spec``, as outcomes; datasets load from ``root`` (a temporary directory without it);
    a reporter writes from ``report(out_dir)`` (:func:`check_reporter_writes`; skipped without it).
    When the first check (the model builds, the dataset loads, the severities are declared) fails, the
    others are not tried."""
    kind = next(k for cls, (k, _) in _BY_TYPE.items() if isinstance(spec, cls)) if checks_for(spec) else ""
    results = []
    for i, check in enumerate(checks_for(spec)):
        try:
            check(spec, *{"dataset": (root,), "reporter": (report,)}.get(kind, ()))
            problem = None
        except ContractError as exc:
            problem = str(exc)
        except (CheckSkipped, NotInKit) as exc:  # does not apply, or needs what only a grid has: not a failure
            results.append(Check(kind, spec.name, check.description, True, str(exc), skipped=True))
            if i == 0:
                break
            continue
        except Exception as exc:
            problem = f"raised {type(exc).__name__}: {exc}"
        results.append(Check(kind, spec.name, check.description, problem is None, problem or ""))
        if i == 0 and problem is not None:
            break
    _LAST_LOAD.clear()
    return results


def parametrize_with_checks(specs: list[Any]):
    """A ``pytest.mark.parametrize`` over every (spec, check) pair: ``check(spec)`` raises
    :class:`ContractError` where the spec breaks a claim. Test ids read ``<spec name>-<check name>``."""
    import functools

    import pytest

    def skipping(check: Callable) -> Callable:  # a check that does not apply is skipped, saying why
        @functools.wraps(check)
        def run(spec: Any, *args: Any) -> None:
            try:
                check(spec, *args)
            except (CheckSkipped, NotInKit) as exc:
                pytest.skip(str(exc))

        return run

    cases = [pytest.param(spec, skipping(check), id=f"{spec.name}-{check.__name__.removeprefix('check_')}")
             for spec in specs for check in checks_for(spec)]
    return pytest.mark.parametrize("spec, check", cases)
