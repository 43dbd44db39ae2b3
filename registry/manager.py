"""The plugin manager: loads the entry-point group ``bench`` safely and collects specs into a registry.

Built-in plugins are declared as entry points of this project's own distribution, so they are found
the same way a third party's are. Environment switches:

- ``BENCH_DISABLE_PLUGIN_AUTOLOAD=1``: load only this project's own plugins;
- ``BENCH_STRICT_PLUGINS=1``: a plugin that fails to load is an error instead of a warning.
"""

from __future__ import annotations

import importlib
import inspect
import os
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from fnmatch import fnmatchcase
from importlib import metadata
from typing import Any, Mapping

import pluggy

from . import hookspecs
from .capabilities import family_problem, missing_capabilities, undeclared_capabilities, vocabulary_problem
from .errors import PluginError, SelectionError
from .specs import DatasetSpec, FamilySpec, ModelSpec, NoiseSpec, ReporterSpec

GROUP = "bench"
HOST_DISTRIBUTION = "aebench"  # the distribution that ships the harness and the built-in plugins
# Used only when the project runs from a source tree that was never installed (no entry points).
BUILTIN_MODULES = {"models": "plugins.models", "noises": "plugins.noises", "datasets": "plugins.datasets",
                   "families": "bench.families", "reporters": "reports.reporters"}

KINDS: dict[str, tuple[str, type]] = {
    "models": ("bench_models", ModelSpec),
    "noises": ("bench_noises", NoiseSpec),
    "datasets": ("bench_datasets", DatasetSpec),
    "families": ("bench_families", FamilySpec),
    "reporters": ("bench_reporters", ReporterSpec),
}
BASELINE = "baseline"  # the reference CNN's row in the augmentation leaderboard: no model may take the name
RESERVED = {"models": (BASELINE,)}  # the reference CNN's row in the augmentation leaderboard
SINGULAR = {"models": "model", "noises": "noise", "datasets": "dataset", "families": "metric family",
            "reporters": "report format"}


class PluginLoadWarning(UserWarning):
    """A plugin could not be loaded and was skipped; the rest still run."""


@dataclass(frozen=True)
class Entry:
    """A spec together with where it came from."""

    kind: str
    spec: Any
    distribution: str
    version: str

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def summary(self) -> str:
        return self.spec.summary


@dataclass(frozen=True)
class Registry:
    """Every installed spec by kind (``models``, ``noises``, ``datasets``) and name. Pure: listing does
    not import, train or download anything."""

    entries: Mapping[str, Mapping[str, Entry]]
    #: the plugins skipped because they failed to load: (distribution, its version, why), in load order
    skipped: tuple[tuple[str, str, str], ...] = ()

    def names(self, kind: str, pattern: str = "*") -> list[str]:
        """Sorted names of ``kind`` matching the shell-style ``pattern`` (e.g. ``'*vae'``)."""
        return sorted(n for n in self.entries[kind] if fnmatchcase(n, pattern))

    def list(self, kind: str, pattern: str = "*") -> list[Entry]:
        return [self.entries[kind][n] for n in self.names(kind, pattern)]

    def entry(self, kind: str, name: str) -> Entry:
        if name not in self.entries[kind]:
            from .selection import unknown_name_message

            raise SelectionError(unknown_name_message(SINGULAR[kind], name, self.names(kind)))
        return self.entries[kind][name]

    def spec(self, kind: str, name: str) -> Any:
        return self.entry(kind, name).spec


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in {"", "0", "false", "no"}


def _fail(message: str, strict: bool, skipped: list | None = None, dist: tuple[str, str] | None = None) -> None:
    if strict:
        raise PluginError(message + " (BENCH_STRICT_PLUGINS is set)")
    if skipped is not None and dist is not None:
        skipped.append((*dist, message))
    warnings.warn(message, PluginLoadWarning, stacklevel=3)


def _distribution(ep: metadata.EntryPoint) -> tuple[str, str]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return "unknown", "unknown"
    return dist.metadata["Name"] or dist.name, dist.version


def _same_dist(a: str, b: str) -> bool:
    norm = lambda s: s.lower().replace("_", "-").replace(".", "-")  # noqa: E731  (PEP 503)
    return norm(a) == norm(b)


class CapabilityWarning(UserWarning):
    """A model has a capability its spec does not declare: the harness will not use it."""


def _check_spec(kind: str, spec: Any, where: str) -> None:
    """The spec's vocabularies, and a model's declared capabilities against its factory's class (a factory
    that is a function is checked when it builds a model): an error naming the plugin when wrong."""
    problem = vocabulary_problem(spec) or (family_problem(spec) if kind == "families" else None)
    if problem:
        raise PluginError(f"{SINGULAR[kind]} '{spec.name}' of {where}: {problem}")
    if kind != "models" or not inspect.isclass(spec.factory):
        return
    missing = missing_capabilities(spec, spec.factory)
    if missing:
        raise PluginError(
            f"model '{spec.name}' of {where} declares the capabilities {', '.join(missing)} but its class "
            f"{spec.factory.__name__} lacks them (see registry.capabilities for the methods each one needs)"
        )
    undeclared = undeclared_capabilities(spec, spec.factory)
    if undeclared:
        warnings.warn(f"model '{spec.name}' of {where} has {', '.join(undeclared)} without declaring "
                      f"{'it' if len(undeclared) == 1 else 'them'} in capabilities: the harness will not use "
                      f"{'it' if len(undeclared) == 1 else 'them'}", CapabilityWarning, stacklevel=3)


def load_registry(*, autoload: bool | None = None, strict: bool | None = None) -> Registry:
    """Load every plugin of the entry-point group ``bench`` and collect their specs.

    A plugin whose import or hook fails is skipped with a :class:`PluginLoadWarning` naming its
    distribution (an error when ``strict``). Two specs claiming one name raise :class:`PluginError`
    naming both distributions.
    """
    autoload = not _env_flag("BENCH_DISABLE_PLUGIN_AUTOLOAD") if autoload is None else autoload
    strict = _env_flag("BENCH_STRICT_PLUGINS") if strict is None else strict
    found = tuple(metadata.entry_points(group=GROUP))
    key = (autoload, strict, tuple((ep.name, ep.value, str(getattr(ep.dist, "_path", ""))) for ep in found))
    if key in _LOADED:  # the same plugins as a load of this process already found: its registry
        _LOADED.move_to_end(key)
        return _LOADED[key]
    registry = _load(found, autoload, strict)
    _LOADED[key] = registry
    while len(_LOADED) > 8:
        _LOADED.popitem(last=False)
    return registry


#: The registries this process loaded, by what decided them (the flags and every entry point with its
#: distribution's place): a command loads it in several layers (selection, planning, reporters) and parses the
#: installed distributions' metadata once.
_LOADED: OrderedDict[tuple, Registry] = OrderedDict()


def _load(found: tuple[metadata.EntryPoint, ...], autoload: bool, strict: bool) -> Registry:
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    origin: dict[str, tuple[str, str]] = {}

    eps = sorted(found, key=lambda e: (_distribution(e), e.name))
    own = [ep for ep in eps if _same_dist(_distribution(ep)[0], HOST_DISTRIBUTION)]
    candidates = eps if autoload else own
    loaded: list[tuple[str, Any, tuple[str, str]]] = []
    skipped: list[tuple[str, str, str]] = []
    for ep in candidates:
        dist = _distribution(ep)
        try:
            loaded.append((ep.name, ep.load(), dist))
        except Exception as exc:  # a broken third-party plugin must not take the host down
            _fail(
                f"plugin '{ep.name}' from distribution '{dist[0]} {dist[1]}' failed to import "
                f"and was skipped: {type(exc).__name__}: {exc}",
                strict, skipped, dist,
            )
    if not own:  # running from an uninstalled source tree: register the built-ins directly
        for ep_name, module in BUILTIN_MODULES.items():
            loaded.append((ep_name, importlib.import_module(module), (HOST_DISTRIBUTION, "source")))

    for ep_name, plugin, dist in loaded:
        plugin_name = f"{dist[0]}:{ep_name}"
        if pm.is_registered(plugin):
            continue
        try:
            pm.register(plugin, name=plugin_name)
            pm.check_pending()
        except Exception as exc:
            if pm.is_registered(plugin):
                pm.unregister(plugin)
            _fail(
                f"plugin '{ep_name}' from distribution '{dist[0]} {dist[1]}' is not a valid bench "
                f"plugin and was skipped: {exc}",
                strict, skipped, dist,
            )
            continue
        origin[plugin_name] = dist

    entries: dict[str, dict[str, Entry]] = {}
    for kind, (hook_name, spec_type) in KINDS.items():
        found: dict[str, Entry] = {}
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            dist_name, version = origin[impl.plugin_name]
            where = f"distribution '{dist_name} {version}'"
            try:
                specs = list(impl.function())
            except Exception as exc:
                _fail(f"hook {hook_name} of {where} raised and was skipped: {type(exc).__name__}: {exc}", strict,
                      skipped, (dist_name, version))
                continue
            for spec in specs:
                if not isinstance(spec, spec_type):
                    _fail(
                        f"hook {hook_name} of {where} returned {type(spec).__name__}, "
                        f"expected {spec_type.__name__}; skipped",
                        strict,
                    )
                    continue
                _check_spec(kind, spec, where)
                if spec.name in RESERVED.get(kind, ()):
                    raise PluginError(
                        f"{SINGULAR[kind]} name '{spec.name}' of {where} is reserved by the harness; "
                        "the plugin must rename it"
                    )
                if spec.name in found:
                    other = found[spec.name]
                    fix = (f"A built-in's name cannot be taken: rename the {SINGULAR[kind]} in '{dist_name}'"
                           if HOST_DISTRIBUTION in (other.distribution, dist_name) else "Uninstall one of them")
                    raise PluginError(
                        f"{SINGULAR[kind]} name '{spec.name}' is claimed twice: by distribution "
                        f"'{other.distribution} {other.version}' and by {where}. {fix}, "
                        "or set BENCH_DISABLE_PLUGIN_AUTOLOAD=1 to load only the built-ins."
                    )
                found[spec.name] = Entry(SINGULAR[kind], spec, dist_name, version)
        entries[kind] = found
    return Registry(entries, tuple(skipped))
