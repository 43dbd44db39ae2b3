"""Severity calibration: the native parameter of each noise that gives the same PSNR of the corrupted
input against the clean one at each level, for every noise type, measured per dataset.

The search is a bisection (in log space) on a fixed-seed sample of the training images; results are
cached in memory and in ``<data root>/calibration/`` keyed by the dataset's fingerprint and the noise
plugin's version, so a dataset is calibrated once per machine.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from registry import Entry, NoiseSpec

from .data import LoadedDataset, data_root
from .files import atomic_write, locked, read_cache
from .metrics.reconstruction import psnr_of, squared_error
from .seeding import seeded

if TYPE_CHECKING:  # torch is imported when a noise is calibrated: a cached calibration does not load it
    import torch

#: Target PSNR (dB) of the corrupted input at severity 1..5 (mild to strong).
TARGET_PSNR = {1: 24.0, 2: 20.0, 3: 16.0, 4: 13.0, 5: 10.0}
SAMPLE = 1000
STEPS = 30
SEED = 0

_MEMORY: dict[str, dict[str, Any]] = {}


def measure(spec: NoiseSpec, x: torch.Tensor, params: dict[str, Any]) -> float:
    """PSNR (dB) of ``spec`` applied to ``x`` with ``params``, under a fixed seed."""
    with seeded(SEED):
        return psnr_of(squared_error(spec.function(x, **params), x))


def search(spec: NoiseSpec, x: torch.Tensor, target: float, fixed: dict[str, Any] | None = None) -> tuple[float, float]:
    """The native value of ``spec.calibrate`` whose PSNR on ``x`` is closest to ``target``, and that
    PSNR, with the other parameters at their defaults or as ``fixed``. The PSNR may rise or fall with
    the parameter; a target outside the reachable range gives the nearer end of the range."""
    name, (low, high) = spec.calibrate, spec.calibrate_range
    base = {**spec.severities[min(spec.severities)], **(fixed or {})}
    psnr = lambda v: measure(spec, x, {**base, name: v})  # noqa: E731
    lo, hi = math.log(low), math.log(high)
    p_lo, p_hi = psnr(low), psnr(high)
    falling = p_lo > p_hi  # stronger noise as the parameter grows
    for _ in range(STEPS):
        mid = (lo + hi) / 2
        too_clean = psnr(math.exp(mid)) > target
        if too_clean == falling:
            lo = mid
        else:
            hi = mid
    best = math.exp((lo + hi) / 2)
    candidates = [(best, psnr(best)), (low, p_lo), (high, p_hi)]
    value, reached = min(candidates, key=lambda c: abs(c[1] - target))
    return float(f"{value:.6g}"), reached


def _cache_file(dataset: LoadedDataset) -> Path:
    return data_root() / "calibration" / f"{dataset.name}-{dataset.fingerprint}.json"


def calibrate(entry: Entry, dataset: LoadedDataset, fixed: dict[str, Any] | None = None) -> dict[int, dict[str, float]]:
    """``{severity: {"value": native value, "psnr": measured PSNR, "target": target PSNR}}`` of the noise
    of ``entry`` on ``dataset``, its other parameters at ``fixed`` (e.g. ``erasing``'s fill value);
    empty when the noise declares no calibrated parameter."""
    spec: NoiseSpec = entry.spec
    if spec.calibrate is None:
        return {}
    path = _cache_file(dataset)
    fixed = {k: v for k, v in (fixed or {}).items() if k != spec.calibrate}
    key = f"{spec.name}@{entry.distribution}-{entry.version}" + (json.dumps(fixed, sort_keys=True) if fixed else "")
    if str(path) not in _MEMORY:
        _MEMORY[str(path)] = _read(path)
    cache = _MEMORY[str(path)]
    if key not in cache:
        import torch

        g = torch.Generator().manual_seed(SEED)
        x = dataset.data.train_x
        x = x[torch.randperm(len(x), generator=g)[:SAMPLE]]
        table = {}
        for severity, target in TARGET_PSNR.items():
            value, reached = search(spec, x, target, fixed)
            table[str(severity)] = {"value": value, "psnr": round(reached, 3), "target": target}
        cache[key] = table
        try:  # read, merged and replaced under the file's lock: a noise another process wrote meanwhile is kept
            with locked(path.with_name(f".{path.name}.lock")):
                cache.update({k: v for k, v in _read(path).items() if k not in cache})
                atomic_write(path, json.dumps(cache, indent=1, sort_keys=True))
        except OSError:
            pass  # an unwritable data root costs a recalibration next time, nothing else
    return {int(s): v for s, v in cache[key].items()}


def _read(path: Path) -> dict[str, Any]:
    """The calibration cache; an unreadable one is said (once, as a warning) and taken as empty."""
    return read_cache(path, "the noises are calibrated again and the file replaced")


def severity_params(entry: Entry, dataset: LoadedDataset, severity: int,
                    fixed: dict[str, Any] | None = None) -> dict[str, Any]:
    """The noise's parameters at ``severity`` on ``dataset``: its declared ones with ``fixed`` applied,
    and the calibrated native value (found with ``fixed`` in place) where the noise declares one."""
    spec: NoiseSpec = entry.spec
    given = fixed or {}
    typed = {k: v for k, v in spec.resolve(min(spec.severities), given).items() if k in given}
    table = calibrate(entry, dataset, typed)
    if severity in table:
        return spec.resolve(severity, {**typed, spec.calibrate: table[severity]["value"]})
    return spec.resolve(severity, typed)
