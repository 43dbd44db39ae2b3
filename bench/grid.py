"""Grid planning: the cells of a run, each one (dataset, model, noise, severity, seed) under a profile."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any

from registry import BASELINE, Registry  # BASELINE: the reference CNN alone, a pseudo-model
from registry.manager import HOST_DISTRIBUTION
from registry.selection import variant_label

from .calibration import severity_params
from .data import LoadedDataset
from .keys import CNN, PLAIN, SCOPES, key_of, scope_of, scoped
from .profiles import PROFILES, Profile
from .version import __version__


@dataclass(frozen=True)
class Cell:
    """One unit of work. Its :attr:`key` hashes everything that changes its result."""

    dataset: str  # the dataset as selected, with parameters that differ from the defaults: "stripes:noise=0.1"
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
    model_label: str = ""  # the name as the user selected it, with parameters: "beta_vae:beta=4"
    noise_label: str = ""
    noise_overrides: dict[str, Any] = field(default_factory=dict, hash=False)  # given by the user
    train_noise: bool = False  # the training set itself is corrupted (the noisy-training-set scenario)
    #: the model is trained on this cell's noise (a denoising model, or --train-noise): one model per noise
    #: and severity instead of one per (dataset, seed). Follows from the model's spec, so not in the key.
    model_sees_noise: bool = field(default=False, compare=False)
    #: the model draws its augmentation samples by itself (its spec declares "generate"): one set of samples,
    #: and the CNNs trained on them, for every noise of the model. Follows from the spec, so not in the key.
    model_generates: bool = field(default=False, compare=False)
    dataset_name: str = ""  # the registry's name of the dataset: "stripes"
    dataset_params: dict[str, Any] = field(default_factory=dict, hash=False)  # resolved, passed to the loader
    #: the metric families to compute for the cell (not in the key: results are kept per cell and family)
    families: tuple[str, ...] = field(default=(), compare=False)
    #: the scope of each family the run knows (:mod:`bench.keys`): which of the profile's fields decide its
    #: results, so which record keeps them. Follows from the families' specs, so not in the key.
    scopes: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "dataset_name", self.dataset_name or self.dataset)
        object.__setattr__(self, "model_label", self.model_label or self.model)
        object.__setattr__(self, "noise_label", self.noise_label or self.noise)

    @cached_property
    def key(self) -> str:
        """The cell's identity in a run (its claim, its progress line): the key of its ``cnn`` record, which
        hashes every field of its profile."""
        return key_of(self._columns())

    def scope(self, family: str) -> str:
        """The scope of ``family`` (:mod:`bench.keys`): ``cnn`` for a family the run does not describe."""
        return dict(self.scopes).get(family, CNN)

    def key_of_family(self, family: str) -> str:
        """The key of the record that keeps ``family``'s results of this cell."""
        return self._scope_keys[self.scope(family)]

    @cached_property
    def _scope_keys(self) -> dict[str, str]:
        described = self.describe()
        return {scope: scoped(described, scope)["key"] for scope in SCOPES}

    @property
    def record_keys(self) -> list[str]:
        """The keys of the records that keep this cell's families' results."""
        return [self._scope_keys[s] for s in SCOPES if any(self.scope(f) == s for f in self.families)] or [self.key]

    @property
    def label(self) -> str:
        protocol = "".join(f"/{tag}" for tag in self.protocol_tags)
        return f"{self.dataset}/{self.model_label}/{self.noise_label}@{self.severity}/seed{self.seed}{protocol}"

    @property
    def protocol_tags(self) -> list[str]:
        """What sets the cell apart from the profile's defaults: a training-set size, a CNN budget, a precision."""
        return self.tags_read_by(CNN)

    def tags_read_by(self, scope: str) -> list[str]:
        """:attr:`protocol_tags` that families of ``scope`` read (:mod:`bench.keys`): the size always, the CNN
        budget where they train CNNs, the precision where they train or use one."""
        default_size = PROFILES[self.profile.name].train_size if self.profile.name in PROFILES else None
        read = {"size": True, "budget": scope == CNN, "precision": scope != PLAIN}
        return [tag for what, tag, default in (("size", f"n{self.profile.train_size}", f"n{default_size}"),
                                               ("budget", f"cnn-{self.profile.cnn_budget}", "cnn-converged"),
                                               ("precision", self.profile.precision, "fp32"))
                if read[what] and tag != default]

    def describe(self) -> dict[str, Any]:
        """The cell's identifying columns, as results and reports show them."""
        columns = self._columns()
        return {"key": self.key, **columns}

    def _columns(self) -> dict[str, Any]:
        return self._described

    @cached_property
    def _described(self) -> dict[str, Any]:  # computed once: a frozen cell's columns do not change
        return {
            "dataset": self.dataset,
            "dataset_name": self.dataset_name,
            "dataset_params": self.dataset_params,
            "model": self.model_label,
            "noise": self.noise_label,
            "model_name": self.model,
            "noise_name": self.noise,
            "severity": self.severity,
            "seed": self.seed,
            "train_noise": self.train_noise,
            "profile": self.profile.name,
            "train_size": self.profile.train_size,
            "cnn_budget": self.profile.cnn_budget,
            "precision": self.profile.precision,
            "profile_params": asdict(self.profile),
            "model_params": self.model_params,
            "noise_params": self.noise_params,
            "versions": self.versions,
            "dataset_fingerprint": self.dataset_fingerprint,
        }


def plan(
    registry: Registry,
    *,
    datasets: list[str],  # labels: the keys of ``loaded``
    models: list[tuple[str, dict[str, Any]]],
    noises: list[tuple[str, dict[str, Any]]],
    severities: list[int],
    seeds: list[int],
    profile: Profile,
    loaded: dict[str, LoadedDataset],
    train_noise: bool = False,
    budgets: list[str] | None = None,
    train_sizes: list[int] | None = None,
    families: list[str] | None = None,
) -> list[Cell]:
    """Every combination of datasets, model variants, noise variants (``(name, parameters)``, as
    :func:`registry.select_variants` gives them), severities and seeds, ordered so that cells sharing a
    dataset, seed and model run back to back (a model that is not denoising is trained once and scored
    under every noise), after one :data:`BASELINE` cell per (dataset, seed, noise, severity) for the
    downstream family. Noise parameters are calibrated per dataset (see :mod:`bench.calibration`); a
    noise given its calibrated parameter explicitly (``gaussian:sigma=0.5``) runs once, at severity 0.
    Parameters are checked here, before any work starts. With ``train_noise`` the models' training set
    is itself corrupted by the cell's noise (their rows are labelled ``<model>@noisy-train``). With several
    CNN ``budgets`` (default: the profile's) each combination has one cell per budget, side by side: the
    model they share is trained once. With ``train_sizes`` (default: the profile's one size) each
    combination has one cell per size; the subsets are nested (see :func:`bench.data.subset`). Each cell
    names the metric ``families`` to compute (default: the profile's); the baseline cells exist only when one
    of them scores the baseline (``FamilySpec.baseline``), and name those."""
    chosen = tuple(families or profile.families)
    baseline_families = tuple(f for f in chosen if registry.spec("families", f).baseline)
    scopes = tuple((f, scope_of(registry.spec("families", f).describe())) for f in chosen)
    protocols = [profile.with_train_size(n).with_protocol(cnn_budget=b)
                 for n in (train_sizes or [None]) for b in (budgets or [profile.cnn_budget])]
    model_specs = [(name, over, registry.entry("models", name)) for name, over in models]
    model_params = {(name, tuple(sorted(over.items()))): entry.spec.resolve(over) for name, over, entry in model_specs}
    cells = []
    for dataset in datasets:
        ds_entry = registry.entry("datasets", loaded[dataset].name)
        kind = ds_entry.spec.kind
        for seed in seeds:
            def cells_of(model: tuple[str, dict, Any] | None, noise: tuple[str, dict], severity: int,
                         skip: str | None) -> list[Cell]:
                return [cell(model, noise, severity, skip, p) for p in protocols]

            def cell(model: tuple[str, dict, Any] | None, noise: tuple[str, dict], severity: int, skip: str | None,
                     profile: Profile) -> Cell:
                n_name, n_over = noise
                n_entry = registry.entry("noises", n_name)
                noise_params = (n_entry.spec.resolve(severity if severity else min(n_entry.spec.severities), n_over)
                                if _noise_skip(n_entry.spec, dataset, kind)
                                else noise_params_at(n_entry, loaded[dataset], severity, n_over))
                entries = [ds_entry, n_entry] + ([model[2]] if model else [])
                m_name, m_over = (model[0], model[1]) if model else (BASELINE, {})
                return Cell(dataset=dataset, dataset_name=ds_entry.name, dataset_params=loaded[dataset].params,
                            model=m_name, noise=n_name, severity=severity, seed=seed, profile=profile,
                            model_params=model_params.get((m_name, tuple(sorted(m_over.items()))), {}),
                            noise_params=noise_params,
                            versions={"bench": __version__, **{e.distribution: e.version for e in entries
                                                                 if e.distribution != HOST_DISTRIBUTION}},
                            dataset_fingerprint=loaded[dataset].fingerprint, skip=skip,
                            model_label=variant_label(m_name, m_over) + ("@noisy-train" if train_noise and model else ""),
                            noise_label=variant_label(n_name, n_over), noise_overrides=dict(n_over),
                            train_noise=train_noise and model is not None,
                            model_sees_noise=model is not None and (train_noise or model[2].spec.denoising),
                            model_generates=model is not None and "generate" in model[2].spec.capabilities,
                            families=chosen if model else baseline_families, scopes=scopes)

            def levels(noise: tuple[str, dict]) -> list[int]:
                spec = registry.spec("noises", noise[0])
                return [0] if spec.calibrate is not None and spec.calibrate in noise[1] else list(severities)

            for noise in noises if baseline_families else ():  # the baseline CNN's rows of the downstream leaderboard
                n_spec = registry.spec("noises", noise[0])
                skip = _noise_skip(n_spec, dataset, kind) or (
                    None if kind == "image" else f"the reference CNN takes images; dataset '{dataset}' has vectors")
                cells += [c for severity in levels(noise) for c in cells_of(None, noise, severity, skip)]
            for model in model_specs:
                name, _, m_entry = model
                model_skip = None if kind in m_entry.spec.inputs else (
                    f"model '{name}' takes {' or '.join(m_entry.spec.inputs)} inputs; dataset '{dataset}' has "
                    f"{kind}s")
                for noise in noises:
                    skip = model_skip or _noise_skip(registry.spec("noises", noise[0]), dataset, kind)
                    cells += [c for severity in levels(noise) for c in cells_of(model, noise, severity, skip)]
    # a size's cells back to back (stable: the order above within each), so its split and models are reused
    order = {(d, s): i for i, (d, s) in enumerate((d, s) for d in datasets for s in seeds)}
    cells.sort(key=lambda c: (order[(c.dataset, c.seed)], c.profile.train_size))
    return cells


def noise_params_at(entry: Any, dataset: LoadedDataset, severity: int, overrides: dict[str, Any]) -> dict[str, Any]:
    """The noise's parameters at ``severity`` on ``dataset`` with the user's ``overrides``: severity 0
    means the overrides name the calibrated parameter itself (native units)."""
    spec = entry.spec
    if severity == 0:
        return spec.resolve(min(spec.severities), overrides)
    return severity_params(entry, dataset, severity, overrides)


def _noise_skip(spec: Any, dataset: str, kind: str) -> str | None:
    if kind in spec.inputs:
        return None
    return f"noise '{spec.name}' applies to {' or '.join(spec.inputs)} inputs; dataset '{dataset}' has {kind}s"


def groups(cells: list[Cell]) -> list[tuple[Cell, ...]]:
    """Cells grouped by the trained model they share, in plan order: per dataset, seed, profile, training-set
    size and model,
    and for a model trained on its cell's noise also per noise and severity; the baseline CNN's cells of
    a dataset, seed, profile and training-set size form one group."""
    grouped: dict[tuple, list[Cell]] = defaultdict(list)
    for cell in cells:
        own = (cell.noise_label, cell.severity) if cell.model_sees_noise else ()
        grouped[(cell.dataset, cell.seed, cell.profile.name, cell.profile.train_size,
                 cell.model_label if cell.model != BASELINE else "",
                 *own)].append(cell)
    return [tuple(g) for g in grouped.values()]
