"""Datasets as the runner sees them: loaded once per process, checked, fingerprinted, subset by seed."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from registry import Dataset, DatasetSpec, DatasetUnavailable


def data_root() -> Path:
    """Where datasets are cached or downloaded: ``$BENCH_DATA``, default ``~/.cache/bench``."""
    return Path(os.environ.get("BENCH_DATA") or Path.home() / ".cache" / "bench").expanduser()


@dataclass(frozen=True)
class LoadedDataset:
    name: str
    data: Dataset
    fingerprint: str  # changes whenever the tensors do; part of every cell key


_CACHE: dict[tuple[str, Path], LoadedDataset] = {}


def _fingerprint(data: Dataset) -> str:
    h = hashlib.blake2b(digest_size=12)
    for t in (data.train_x, data.train_y, data.test_x, data.test_y):
        h.update(str((tuple(t.shape), t.dtype)).encode())
        h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()


def _check(name: str, data: Dataset) -> None:
    for split, x, y in (("train", data.train_x, data.train_y), ("test", data.test_x, data.test_y)):
        problem = None
        if x.dtype != torch.float32:
            problem = f"{split} inputs are {x.dtype}, expected float32"
        elif len(x) != len(y) or len(x) == 0:
            problem = f"{split} has {len(x)} inputs and {len(y)} labels"
        elif x.min() < 0 or x.max() > 1:
            problem = f"{split} values span [{x.min():.3g}, {x.max():.3g}], expected [0, 1]"
        if problem:
            raise DatasetUnavailable(f"dataset '{name}' is malformed: {problem}")


def load(spec: DatasetSpec, params: dict | None = None) -> LoadedDataset:
    """Load ``spec`` from the data root (cached in memory for the life of the process)."""
    root = data_root()
    key = (spec.name + repr(sorted((params or {}).items())), root)
    if key not in _CACHE:
        data = spec.loader(root, **(params or {}))
        _check(spec.name, data)
        _CACHE[key] = LoadedDataset(spec.name, data, _fingerprint(data))
    return _CACHE[key]


def subset(n: int, size: int | None, seed: int) -> torch.Tensor:
    """Indices of ``size`` items out of ``n`` drawn with ``seed`` (all of them, shuffled, if fewer)."""
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=g)
    return perm if size is None else perm[: min(size, n)]
