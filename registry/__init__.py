"""The plugin layer of bench: hook specifications, the ``hookimpl`` marker, spec dataclasses and the
plugin manager. Plugins import only from here."""

import pluggy

from .errors import BenchError, DatasetUnavailable, ParameterError, PluginError, SelectionError
from .manager import Entry, Registry, load_registry
from .selection import select, select_variants
from .specs import Dataset, DatasetSpec, ModelSpec, NoiseSpec, Param, resolve_params

#: The marker for hook implementations: ``@hookimpl def bench_models(): ...``
hookimpl = pluggy.HookimplMarker("bench")

__all__ = [
    "BenchError",
    "Dataset",
    "DatasetSpec",
    "DatasetUnavailable",
    "Entry",
    "ModelSpec",
    "NoiseSpec",
    "Param",
    "ParameterError",
    "PluginError",
    "Registry",
    "SelectionError",
    "hookimpl",
    "load_registry",
    "resolve_params",
    "select",
    "select_variants",
]
