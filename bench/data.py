"""Datasets as the evaluator sees them: loaded once per process, checked, fingerprinted, subset by seed.

Every cell key holds the dataset's fingerprint, a hash of its tensors. Hashing means reading the data,
so for a dataset whose spec names its ``sources`` (the files the tensors come from) the fingerprint is
remembered in ``<data root>/fingerprints.json`` against those files' sizes and modification times and
the plugin's version: a run that finds every cell stored then never reads the data at all.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from registry import Dataset, DatasetSpec, DatasetUnavailable, Registry, select_variants
from registry.selection import variant_label

from .files import atomic_write, locked, read_cache
from .hashing import content_hash

if TYPE_CHECKING:  # torch is imported where tensors are read: a run that finds every cell stored does not load it
    import torch

FINGERPRINTS = "fingerprints.json"


def data_root() -> Path:
    """Where datasets are cached or downloaded: ``$BENCH_DATA``, default ``~/.cache/bench``."""
    return Path(os.environ.get("BENCH_DATA") or Path.home() / ".cache" / "bench").expanduser()


class LoadedDataset:
    """A dataset's name, its fingerprint (part of every cell key) and its tensors, read on first use."""

    def __init__(self, name: str, fingerprint: str, read: Callable[[], Dataset], params: dict | None = None):
        self.name = name  # the registry's name
        self.params = dict(params or {})  # resolved, as the loader received them
        self.fingerprint = fingerprint
        self._read = read
        self._data: Dataset | None = None

    @classmethod
    def of(cls, name: str, data: Dataset, params: dict | None = None) -> LoadedDataset:
        """Wrap tensors already in memory."""
        return cls(name, _fingerprint(data), lambda: data, params)

    @property
    def data(self) -> Dataset:
        if self._data is None:
            self._data = self._read()
        return self._data


_CACHE: dict[tuple[str, Path], LoadedDataset] = {}


def _fingerprint(data: Dataset) -> str:
    tensors = (data.train_x, data.train_y, data.test_x, data.test_y)
    parts = (part for t in tensors for part in (str((tuple(t.shape), t.dtype)), t.contiguous().numpy()))
    return content_hash(parts, chars=24, algorithm="blake2b")


def _check(name: str, data: Dataset) -> None:
    import torch

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


def _source_key(spec: DatasetSpec, root: Path, params: dict, version: str) -> str | None:
    """What identifies the dataset's tensors without reading them, or None when the spec names no
    sources or one of them is missing (the loader then fetches or extracts it)."""
    if spec.sources is None:
        return None
    stats = []
    for path in spec.sources(root, **params):
        try:
            st = Path(path).stat()
        except OSError:
            return None
        stats.append([str(path), st.st_size, st.st_mtime_ns])
    return json.dumps([spec.name, sorted(params.items()), version, stats])


def _remembered(root: Path) -> dict[str, str]:
    return read_cache(root / FINGERPRINTS, "the dataset files are read again and the file replaced")


def _remember(root: Path, key: str, fingerprint: str) -> None:
    try:  # read, added to and replaced under the file's lock: what another process remembered meanwhile is kept
        with locked(root / f".{FINGERPRINTS}.lock"):
            remembered = _remembered(root)
            remembered[key] = fingerprint
            atomic_write(root / FINGERPRINTS, json.dumps(remembered, indent=1))
    except OSError:
        pass  # an unwritable data root costs a re-read next time, nothing else


def dataset_variants(registry: Registry, selection: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """``--datasets`` as ``{label: (name, resolved parameters)}``: ``'stripes:noise=0.1'`` passes
    ``noise=0.1`` to the loader. The label names only the parameters that differ from the defaults, so
    ``stripes`` and ``stripes:noise=0.05`` (the default) are one dataset, and one set of cells."""
    variants: dict[str, tuple[str, dict[str, Any]]] = {}
    for name, overrides in select_variants(selection, registry.names("datasets"), "dataset"):
        spec = registry.spec("datasets", name)
        params, defaults = spec.resolve(overrides), spec.resolve({})
        variants.setdefault(variant_label(name, {k: v for k, v in params.items() if v != defaults[k]}), (name, params))
    return variants


def load_variants(registry: Registry, variants: dict[str, tuple[str, dict[str, Any]]]) -> dict[str, LoadedDataset]:
    """Each of :func:`dataset_variants`'s datasets, loaded (or fingerprinted) by label."""
    return {label: load(registry.spec("datasets", name), params, version=registry.entry("datasets", name).version)
            for label, (name, params) in variants.items()}


def load(spec: DatasetSpec, params: dict | None = None, *, version: str = "") -> LoadedDataset:
    """Load ``spec`` with ``params`` (resolved against the spec) from the data root (cached in memory for the
    life of the process). ``version`` is the plugin distribution's version: a new version never reuses a
    remembered fingerprint."""
    root = data_root()
    params = spec.resolve(params or {})
    key = (spec.name + repr(sorted(params.items())), root)
    if key in _CACHE:
        return _CACHE[key]

    def read() -> Dataset:
        data = spec.loader(root, **params)
        _check(spec.name, data)
        return data

    source_key = _source_key(spec, root, params, version)
    fingerprint = _remembered(root).get(source_key) if source_key else None
    if fingerprint is not None:
        _CACHE[key] = LoadedDataset(spec.name, fingerprint, read, params)
    else:
        _CACHE[key] = LoadedDataset.of(spec.name, read(), params)
        source_key = _source_key(spec, root, params, version)  # the loader may have just written them
        if source_key:
            _remember(root, source_key, _CACHE[key].fingerprint)
    return _CACHE[key]


def subset(n: int, size: int | None, seed: int) -> torch.Tensor:
    """Indices of ``size`` items out of ``n`` drawn with ``seed`` (all of them, shuffled, if fewer). Subsets
    drawn with one seed are nested: a smaller one is the start of a larger one, so a learning curve over
    sizes measures the amount of data, not the draw."""
    import torch

    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=g)
    return perm if size is None else perm[: min(size, n)]
