"""The plugin layer of bench: hook specifications, the ``hookimpl`` marker, spec dataclasses and the
plugin manager, the capability Protocols; the model base classes in :mod:`registry.models` and the plugin
kit in :mod:`registry.testing`. Plugins import only from here. ``import registry`` does not import torch:
the names of ``registry.models`` are loaded on first use."""

import pluggy

from .capabilities import CAPABILITIES, Generates, HasPosterior, SamplesPrior
from .deferred import Deferred, deferred
from .errors import BenchError, DatasetUnavailable, ParameterError, PluginError, SelectionError
from .manager import BASELINE, Entry, Registry, load_registry
from .metrics import Metric, MetricResult
from .outcome import NotApplicable
from .selection import select, select_variants
from .specs import Contrast, Dataset, DatasetSpec, FamilySpec, ModelSpec, NoiseSpec, Param, ReporterSpec, resolve_params

#: The marker for hook implementations: ``@hookimpl def bench_models(): ...``
hookimpl = pluggy.HookimplMarker("bench")

_MODELS = ("Autoencoder", "GaussianVAE", "MLPAutoencoder", "MLPVAE")


def __getattr__(name: str):
    if name in _MODELS:  # torch is imported here, on first use, not by `import registry`
        from . import models

        return getattr(models, name)
    raise AttributeError(f"module 'registry' has no attribute {name!r}")


__all__ = [
    *_MODELS,
    "BASELINE",
    "CAPABILITIES",
    "Generates",
    "HasPosterior",
    "SamplesPrior",
    "BenchError",
    "Contrast",
    "Dataset",
    "Deferred",
    "deferred",
    "DatasetSpec",
    "DatasetUnavailable",
    "Entry",
    "FamilySpec",
    "Metric",
    "MetricResult",
    "NotApplicable",
    "ModelSpec",
    "NoiseSpec",
    "Param",
    "ParameterError",
    "ReporterSpec",
    "PluginError",
    "Registry",
    "SelectionError",
    "hookimpl",
    "load_registry",
    "resolve_params",
    "select",
    "select_variants",
]
