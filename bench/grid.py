"""Grid planning: the cells of a run, each one (dataset, model, noise, severity, seed) under a profile."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from registry import Registry

from . import __version__
from .calibration import severity_params
from .data import LoadedDataset
from .profiles import Profile

#: The pseudo-model of the downstream family: the reference CNN trained on the limited subset alone.
BASELINE = "baseline"


@dataclass(frozen=True)
class Cell:
    """One unit of work. Its :attr:`key` hashes everything that changes its result."""

    dataset: str
    model: str
    noise: str
    severity: int
    seed: int
    profile: Profile
    model_params: dict[str, Any] = field(default_factory=dict, hash=False)
    noise_params: dict[str, Any] = field(default_factory=dict, hash=False)
    versions: dict[str, str] = field(default_factory=dict, hash=False)  # harness and each plugin dist
    dataset_fingerprint: str = ""
    skip: str | None = field(default=None, compare=False)  # why the cell cannot run, if it cannot

    @property
    def key(self) -> str:
        blob = json.dumps(
            {
                "dataset": [self.dataset, self.dataset_fingerprint],
                "model": [self.model, self.model_params],
                "noise": [self.noise, self.noise_params, self.severity],
                "seed": self.seed,
                "profile": asdict(self.profile),
                "versions": self.versions,
            },
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:20]

    @property
    def label(self) -> str:
        return f"{self.dataset}/{self.model}/{self.noise}@{self.severity}/seed{self.seed}"

    def describe(self) -> dict[str, Any]:
        """The cell's identifying columns, as results and reports show them."""
        return {
            "key": self.key,
            "dataset": self.dataset,
            "model": self.model,
            "noise": self.noise,
            "severity": self.severity,
            "seed": self.seed,
            "profile": self.profile.name,
            "model_params": self.model_params,
            "noise_params": self.noise_params,
            "versions": self.versions,
            "dataset_fingerprint": self.dataset_fingerprint,
        }


def plan(
    registry: Registry,
    *,
    datasets: list[str],
    models: list[str],
    noises: list[str],
    severities: list[int],
    seeds: list[int],
    profile: Profile,
    loaded: dict[str, LoadedDataset],
) -> list[Cell]:
    """Every combination, ordered so that cells sharing a dataset, seed and model run back to back
    (a model that is not denoising is trained once and scored under every noise), after one
    :data:`BASELINE` cell per (dataset, seed, noise, severity) for the downstream family. Noise
    parameters are calibrated per dataset (see :mod:`bench.calibration`)."""
    cells = []
    for dataset in datasets:
        ds_entry = registry.entry("datasets", dataset)
        kind = ds_entry.spec.kind
        for seed in seeds:
            def cell(model: str, noise: str, severity: int, entries: list, skip: str | None, params: dict) -> Cell:
                n_entry = registry.entry("noises", noise)
                noise_params = (n_entry.spec.resolve(severity) if _noise_skip(n_entry.spec, dataset, kind)
                                else severity_params(n_entry, loaded[dataset], severity))
                return Cell(dataset=dataset, model=model, noise=noise, severity=severity, seed=seed, profile=profile,
                            model_params=params, noise_params=noise_params,
                            versions={"bench": __version__, **{e.distribution: e.version for e in entries}},
                            dataset_fingerprint=loaded[dataset].fingerprint, skip=skip)

            for noise in noises:  # the baseline CNN's rows of the downstream leaderboard
                n_entry = registry.entry("noises", noise)
                skip = _noise_skip(n_entry.spec, dataset, kind) or (
                    None if kind == "image" else f"the reference CNN takes images; dataset '{dataset}' has vectors")
                for severity in severities:
                    cells.append(cell(BASELINE, noise, severity, [ds_entry, n_entry], skip, {}))
            for model in models:
                m_entry = registry.entry("models", model)
                model_skip = None if kind in m_entry.spec.inputs else (
                    f"model '{model}' takes {' or '.join(m_entry.spec.inputs)} inputs; dataset '{dataset}' has "
                    f"{kind}s")
                for noise in noises:
                    n_entry = registry.entry("noises", noise)
                    skip = model_skip or _noise_skip(n_entry.spec, dataset, kind)
                    for severity in severities:
                        cells.append(cell(model, noise, severity, [ds_entry, m_entry, n_entry], skip,
                                          m_entry.spec.resolve()))
    return cells


def _noise_skip(spec: Any, dataset: str, kind: str) -> str | None:
    if kind in spec.inputs:
        return None
    return f"noise '{spec.name}' applies to {' or '.join(spec.inputs)} inputs; dataset '{dataset}' has {kind}s"
