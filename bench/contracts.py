"""The contract checks of ``bench plugins check NAME``: what the harness relies on from a model, a noise
or a dataset spec, tried on small inputs so that a plugin author sees what breaks before publishing.

- models: the factory takes the declared parameters (and only those); ``encode`` gives ``[N, latent]``,
  ``decode`` and ``forward`` give the input's shape with values in [0, 1], ``loss`` a finite scalar;
  the same seed builds the same weights; the loss decreases on a tiny batch;
- noises: the function takes the declared parameters; every severity's parameters are declared; the
  output keeps shape and dtype with values in [0, 1]; the same seed gives the same corruption;
- datasets: the loader takes the declared parameters and returns float32 inputs in [0, 1] of the
  declared kind with int64 labels; two loads give the same tensors.
"""

from __future__ import annotations

import inspect
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from registry import Dataset, DatasetSpec, ModelSpec, NoiseSpec

IMAGE_SHAPE, VECTOR_SHAPE, BATCH = (1, 28, 28), (20,), 16


@dataclass
class Check:
    kind: str  # "model", "noise", "dataset"
    name: str
    check: str
    ok: bool
    detail: str = ""


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


def _range(t: torch.Tensor) -> str | None:
    if not torch.is_floating_point(t):
        return f"dtype {t.dtype}, expected floating point"
    if not torch.isfinite(t).all():
        return "non-finite values"
    if t.min() < 0 or t.max() > 1:
        return f"values in [{t.min():.3g}, {t.max():.3g}], expected [0, 1]"
    return None


class _Checker:
    def __init__(self, kind: str, name: str):
        self.kind, self.name, self.results = kind, name, []

    def run(self, check: str, probe: Callable[[], str | None]) -> bool:
        """Record ``check``: ``probe`` returns None when it holds, else what is wrong (or raises)."""
        try:
            problem = probe()
        except Exception as exc:
            problem = f"raised {type(exc).__name__}: {exc}"
        self.results.append(Check(self.kind, self.name, check, problem is None, problem or ""))
        return problem is None


def check_model(spec: ModelSpec) -> list[Check]:
    c = _Checker("model", spec.name)
    shape = IMAGE_SHAPE if "image" in spec.inputs else VECTOR_SHAPE
    params = spec.resolve({})
    c.run("parameters declared", lambda: _declared(spec.factory, set(params), 1))
    torch.manual_seed(0)
    x = torch.rand(BATCH, *shape)
    built: dict[str, Any] = {}

    def build() -> str | None:
        torch.manual_seed(0)
        built["model"] = spec.factory(shape, **params)
        return None if isinstance(built["model"], torch.nn.Module) else "the factory did not return a torch.nn.Module"

    if not c.run(f"builds for inputs of shape {shape}", build):
        return c.results
    model = built["model"]

    def encode() -> str | None:
        z = model.encode(x)
        built["z"] = z
        return None if z.dim() == 2 and z.shape[0] == BATCH else f"encode gave {tuple(z.shape)}, expected [{BATCH}, latent]"

    def output(fn: Callable[[], torch.Tensor], what: str) -> str | None:
        y = fn()
        if tuple(y.shape) != (BATCH, *shape):
            return f"{what} gave shape {tuple(y.shape)}, expected {(BATCH, *shape)}"
        return _range(y)

    with torch.no_grad():
        c.run("encode gives [N, latent]", encode)
        if "z" in built:
            c.run("decode gives the input shape in [0, 1]", lambda: output(lambda: model.decode(built["z"]), "decode"))
        c.run("forward gives the input shape in [0, 1]", lambda: output(lambda: model(x), "forward"))

    def scalar() -> str | None:
        loss = model.loss(x, x)
        if loss.dim() != 0:
            return f"loss has shape {tuple(loss.shape)}, expected a scalar"
        return None if math.isfinite(loss.item()) else f"loss is {loss.item()}"

    c.run("loss is a finite scalar", scalar)

    def deterministic() -> str | None:
        torch.manual_seed(0)
        again = spec.factory(shape, **params)
        same = all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
        return None if same else "two builds under the same seed have different weights"

    c.run("same seed, same weights", deterministic)

    def learns() -> str | None:
        torch.manual_seed(0)
        fresh = spec.factory(shape, **params)
        optimizer = torch.optim.Adam(fresh.parameters(), lr=spec.lr)
        batch = x[:8]
        losses = []
        for _ in range(30):
            loss = fresh.loss(batch, batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        return None if losses[-1] < losses[0] else f"loss went from {losses[0]:.4g} to {losses[-1]:.4g} in 30 steps"

    c.run("loss decreases on a tiny batch", learns)
    return c.results


def check_noise(spec: NoiseSpec) -> list[Check]:
    c = _Checker("noise", spec.name)
    declared = {p.name for p in spec.params}
    c.run("parameters declared", lambda: _declared(spec.function, declared, 1))

    def severities() -> str | None:
        if not spec.severities:
            return "no severities"
        extra = sorted({k for level in spec.severities.values() for k in level} - declared)
        if extra:
            return f"severities use undeclared {', '.join(extra)}"
        if spec.calibrate is not None and spec.calibrate not in declared:
            return f"calibrates '{spec.calibrate}', which is not declared"
        return None

    c.run("severities use declared parameters", severities)
    shape = IMAGE_SHAPE if "image" in spec.inputs else VECTOR_SHAPE
    torch.manual_seed(1)
    x = torch.rand(BATCH, *shape)
    for severity in sorted(spec.severities):
        def corrupt(severity: int = severity) -> str | None:
            y = spec.function(x.clone(), **spec.resolve(severity))
            if tuple(y.shape) != tuple(x.shape) or y.dtype != x.dtype:
                return f"gave {tuple(y.shape)} {y.dtype} for {tuple(x.shape)} {x.dtype}"
            return _range(y)

        c.run(f"severity {severity}: same shape and dtype, values in [0, 1]", corrupt)

    def deterministic() -> str | None:
        params = spec.resolve(max(spec.severities))
        torch.manual_seed(3)
        a = spec.function(x.clone(), **params)
        torch.manual_seed(3)
        b = spec.function(x.clone(), **params)
        return None if torch.equal(a, b) else "two calls under the same seed differ (draw from torch's generator)"

    c.run("same seed, same corruption", deterministic)
    return c.results


def check_dataset(spec: DatasetSpec, root: Path | None = None) -> list[Check]:
    c = _Checker("dataset", spec.name)
    params = spec.resolve({})
    c.run("parameters declared", lambda: _declared(spec.loader, set(params), 1))
    loaded: dict[str, Dataset] = {}
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(root) if root is not None else Path(tmp)

        def load() -> str | None:
            loaded["a"] = spec.loader(where, **params)
            return None if isinstance(loaded["a"], Dataset) else "the loader did not return a registry.Dataset"

        if not c.run("loads", load):
            return c.results
        data = loaded["a"]

        def splits() -> str | None:
            for split, x, y in (("train", data.train_x, data.train_y), ("test", data.test_x, data.test_y)):
                if x.dtype != torch.float32:
                    return f"{split} inputs are {x.dtype}, expected float32"
                if y.dtype != torch.int64 or y.dim() != 1 or len(y) != len(x) or len(x) == 0:
                    return f"{split} has {len(x)} inputs and labels {tuple(y.shape)} {y.dtype}, expected int64 [N]"
                problem = _range(x)
                if problem:
                    return f"{split} {problem}"
            return None

        c.run("float32 inputs in [0, 1], int64 labels", splits)
        expected_dims = 3 if spec.kind == "image" else 1
        c.run(f"items are {spec.kind}s", lambda: None if data.train_x.dim() - 1 == expected_dims else
              f"items have shape {tuple(data.train_x.shape[1:])}; kind '{spec.kind}' means "
              f"{'[C, H, W]' if spec.kind == 'image' else '[D]'}")
        c.run("classes name every label", lambda: None if len(data.classes) > int(max(data.train_y.max(), data.test_y.max()))
              else f"{len(data.classes)} class names for labels up to {int(data.train_y.max())}")

        def deterministic() -> str | None:
            again = spec.loader(where, **params)
            same = all(torch.equal(a, b) for a, b in zip((data.train_x, data.train_y, data.test_x, data.test_y),
                                                          (again.train_x, again.train_y, again.test_x, again.test_y)))
            return None if same else "two loads give different tensors"

        c.run("two loads give the same tensors", deterministic)
    return c.results


def check_entries(entries: list[Any], root: Path | None = None) -> list[Check]:
    """Every check of every entry (a :class:`registry.manager.Entry`); datasets load from ``root`` (the
    data root, so that what a loader downloads stays for later runs; a temporary directory without it)."""
    checks: list[Check] = []
    for entry in entries:
        if entry.kind == "dataset":
            checks += check_dataset(entry.spec, root)
        else:
            checks += {"model": check_model, "noise": check_noise}[entry.kind](entry.spec)
    return checks
