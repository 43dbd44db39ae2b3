"""The hooks a plugin implements. A plugin is a module (or object) registered under the entry-point
group ``bench``; it implements any subset of these hooks with the :data:`registry.hookimpl` marker.

Every hook takes no arguments and returns a list of specs. Spec names are the public names users type
(``bench run --models NAME``): they are unique across all installed plugins, and two specs claiming one
name stop the harness with an error naming both distributions.
"""

from __future__ import annotations

import pluggy

from .specs import DatasetSpec, FamilySpec, ModelSpec, NoiseSpec, ReporterSpec

hookspec = pluggy.HookspecMarker("bench")


@hookspec
def bench_models() -> list[ModelSpec]:
    """Return the models this plugin provides.

    Each :class:`ModelSpec` names a factory ``factory(shape, **params) -> torch.nn.Module`` whose module
    has ``encode``, ``decode``, ``forward`` and ``loss`` (see :class:`ModelSpec`). Called once per
    process; must not train or download anything.
    """


@hookspec
def bench_noises() -> list[NoiseSpec]:
    """Return the noises this plugin provides.

    Each :class:`NoiseSpec` names ``function(x, **params)`` mapping a batch in [0, 1] to a corrupted
    batch of the same shape in [0, 1], using torch's global generator, and declares severities 1..5.
    """


@hookspec
def bench_datasets() -> list[DatasetSpec]:
    """Return the datasets this plugin provides.

    Each :class:`DatasetSpec` names ``loader(root, **params) -> Dataset``. Loading happens only when a
    run selects the dataset, so listing stays fast and offline.
    """


@hookspec
def bench_families() -> list[FamilySpec]:
    """Return the metric families this plugin provides.

    Each :class:`FamilySpec` declares its name, version, metrics and needs, and names
    ``score(context) -> list[MetricResult]``. Called once per process; must not compute anything.
    """


@hookspec
def bench_reporters() -> list[ReporterSpec]:
    """Return the report formats this plugin provides.

    Each :class:`ReporterSpec` names ``write(report) -> list[Path]``. Called once per process; must not
    write, connect or import anything heavy (import inside ``write``).
    """
