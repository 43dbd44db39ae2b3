"""The frozen spec dataclasses that plugins return from their hooks.

A spec is a name, a callable and metadata the harness reads (parameters, training defaults). Behaviour
lives in the callables; specs only describe.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

if TYPE_CHECKING:  # torch only for annotations: `import registry` stays light (no torch import)
    import torch

from .errors import ParameterError

_TYPE_NAMES = {int: "an int", float: "a float", str: "a str", bool: "a bool"}


@dataclass(frozen=True)
class Param:
    """One declared parameter of a spec.

    ``low``/``high`` bound numeric values (inclusive, ``None`` for unbounded); ``choices`` closes the set
    of allowed values. ``help`` is a one-line description that ``bench list`` shows.
    """

    name: str
    type: type
    default: Any
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] | None = None
    help: str = ""

    def allowed(self) -> str:
        """Human-readable description of the allowed values, as used in error messages."""
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        kind = _TYPE_NAMES.get(self.type, self.type.__name__)
        if self.low is None and self.high is None:
            return kind
        low = "-inf" if self.low is None else f"{self.low:g}"
        high = "inf" if self.high is None else f"{self.high:g}"
        return f"{kind} in [{low}, {high}]"

    def check(self, value: Any, owner: str) -> Any:
        """Return ``value`` converted to the parameter's type, or raise :class:`ParameterError`."""
        try:
            if self.type is bool and isinstance(value, str):
                if value.lower() not in {"true", "false", "1", "0"}:
                    raise ValueError(value)
                converted = value.lower() in {"true", "1"}
            elif self.type is int and isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            else:
                converted = self.type(value)
        except (TypeError, ValueError):
            converted = None
        ok = converted is not None
        if ok and self.choices is not None:
            ok = converted in self.choices
        if ok and self.low is not None:
            ok = converted >= self.low
        if ok and self.high is not None:
            ok = converted <= self.high
        if not ok:
            raise ParameterError(
                f"The '{self.name}' parameter of {owner} must be {self.allowed()}. Got {value!r} instead."
            )
        return converted


def resolve_params(params: tuple[Param, ...], given: Mapping[str, Any], owner: str) -> dict[str, Any]:
    """Defaults of ``params`` overridden by ``given``, each checked; unknown keys are an error."""
    declared = {p.name: p for p in params}
    unknown = sorted(set(given) - set(declared))
    if unknown:
        allowed = ", ".join(declared) or "none"
        raise ParameterError(f"{owner} has no parameter '{unknown[0]}'. Allowed: {allowed}.")
    return {p.name: p.check(given.get(p.name, p.default), owner) for p in params}


@dataclass(frozen=True)
class ModelSpec:
    """A representation learner the harness can train and score.

    ``factory(shape, **params)`` builds a fresh ``torch.nn.Module`` for inputs of ``shape`` (without the
    batch axis, e.g. ``(1, 28, 28)``). The module must provide:

    - ``encode(x) -> Tensor[N, latent]``: the deterministic code (a VAE returns its mean μ);
    - ``decode(z) -> Tensor[N, *shape]`` with values in [0, 1];
    - ``forward(x) -> Tensor[N, *shape]``: the deterministic reconstruction, values in [0, 1];
    - ``loss(x_in, x_target) -> Tensor[]``: the training loss, mean over the batch, for input ``x_in``
      and target ``x_target``.

    Optional capabilities, used only where ``capabilities`` declares them (the registry checks the
    declaration against the factory's class at load, :mod:`registry.capabilities`): ``"generate"``,
    ``generate(x)`` draws one new sample per input for the downstream augmentation (a VAE decodes
    z ~ q(z|x); without it the harness reconstructs freshly corrupted copies); ``"posterior"``,
    ``posterior(x) -> (mu, logvar)`` with ``decode_logits(z)``; ``"sample"``, ``sample(n)`` decodes ``n``
    latents drawn from the prior (the generative family's prior samples). ``likelihood`` declares the decoder's
    likelihood; the likelihood metrics (negative ELBO, importance-weighted NLL) are computed for a
    declared ``"bernoulli"`` decoder with a posterior, and are not applicable otherwise.

    ``denoising=True`` means the harness trains on ``noise(x) -> x`` with the cell's noise and severity;
    otherwise on ``x -> x``. ``generative=False`` says the model cannot produce samples to augment a
    training set: its downstream metrics are reported as not applicable. ``inputs`` names the data
    kinds the model accepts (``"image"``: ``[C, H, W]``; ``"vector"``: ``[D]``); a grid skips the
    other datasets with the reason. ``epochs``, ``batch_size`` and ``lr`` (Adam) are the protocol the model comes
    from; the ``paper`` profile uses them as they are, faster profiles cap the epochs.
    """

    name: str
    factory: Callable[..., torch.nn.Module]
    summary: str
    params: tuple[Param, ...] = ()
    denoising: bool = False
    generative: bool = True
    inputs: tuple[str, ...] = ("image", "vector")
    capabilities: tuple[str, ...] = ()  # "generate", "posterior", "sample": see registry.capabilities
    likelihood: str | None = None  # the decoder's likelihood: "bernoulli", "gaussian" or None (not declared)
    epochs: int = 60
    batch_size: int = 128
    lr: float = 1e-3

    def resolve(self, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return resolve_params(self.params, given or {}, f"model '{self.name}'")


@dataclass(frozen=True)
class NoiseSpec:
    """A corruption of inputs in [0, 1].

    ``function(x, **params)`` takes a batch ``Tensor[N, *shape]`` in [0, 1] and returns a tensor of the
    same shape and dtype in [0, 1]. It draws its randomness from torch's global generator, which the
    harness seeds, so that a cell's corruption is reproducible and shared across models.
    ``severities`` maps each level 1..5 to the parameters used at that level. ``inputs`` names the
    data kinds it applies to (``"image"``, ``"vector"``). ``calibrate`` names the native parameter that
    the harness searches, within ``calibrate_range`` (positive), per dataset so that every noise type
    reaches the same PSNR at the same level; the ``severities`` values are then only defaults.
    """

    name: str
    function: Callable[..., torch.Tensor]
    summary: str
    params: tuple[Param, ...] = ()
    severities: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)
    inputs: tuple[str, ...] = ("image", "vector")
    calibrate: str | None = None
    calibrate_range: tuple[float, float] = (1e-4, 1e4)

    def resolve(self, severity: int, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Parameters at ``severity``, overridden by ``given``, each checked."""
        if severity not in self.severities:
            allowed = ", ".join(str(s) for s in sorted(self.severities))
            raise ParameterError(
                f"severity {severity!r} is not defined for noise '{self.name}': allowed {allowed}."
            )
        merged = {**self.severities[severity], **(given or {})}
        return resolve_params(self.params, merged, f"noise '{self.name}'")


@dataclass(frozen=True)
class Dataset:
    """Loaded splits: float32 images ``[N, C, H, W]`` (or vectors ``[N, D]``) in [0, 1], int64 labels."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: tuple[str, ...]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.train_x.shape[1:])


@dataclass(frozen=True)
class DatasetSpec:
    """A labelled dataset.

    ``loader(root, **params) -> Dataset`` returns the train and test splits; ``root`` is the data root
    (``BENCH_DATA``, default ``~/.cache/bench``) where it may cache or download files. When the files
    are missing and cannot be obtained it raises :class:`registry.DatasetUnavailable` saying where it
    looked and how to get them.

    ``sources(root, **params) -> list[Path]``, optional, names the files the tensors are read from once
    they are in place. The harness then remembers the dataset's fingerprint against their sizes and
    modification times, so a run whose cells are all stored does not read the data at all.
    """

    name: str
    loader: Callable[..., Dataset]
    summary: str
    params: tuple[Param, ...] = ()
    kind: str = "image"  # "image": [C, H, W] per item; "vector": [D]
    sources: Callable[..., list[Path]] | None = None

    def resolve(self, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return resolve_params(self.params, given or {}, f"dataset '{self.name}'")


@dataclass(frozen=True)
class Contrast:
    """One distance against two references, declared by a family for a verdict: does ``subject`` lie closer to
    ``near`` (the metric ``metric``) or to ``far`` (the metric ``against``)? With seeds, a paired test over them
    says ``claim`` when ``metric`` is the smaller with support, ``counterclaim`` when ``against`` is."""

    metric: str  # fid_prior_noisy
    against: str  # fid_prior
    subject: str  # "prior samples"
    near: str  # "the noisy test images"
    far: str  # "the clean test images"
    claim: str  # "they inherit the training set's noise"
    counterclaim: str  # "they do not inherit the training set's noise"


@dataclass(frozen=True)
class FamilySpec:
    """A metric family: metrics the harness computes for every cell that selects it.

    ``score(context) -> list[MetricResult]`` scores one cell. The context (:class:`bench.context.Context`,
    documented in the README's "Writing a metric family") hands out the cell's shared work, computed once and
    lazily: the trained model, the split's tensors, the corrupted test sets, the model's codes, the
    augmentation samples, the baseline CNN, the dataset's feature network. A result is a declared metric's
    :meth:`~registry.metrics.Metric.result`, ``estimate`` or ``not_applicable``; every metric of ``metrics``
    should be returned (not applicable, with the reason, where it has no value).

    ``version``: raise it whenever what the family computes changes; stored results of another version are
    computed again, the other families' are read back. ``metrics`` is the catalogue the reports read (each
    metric's ``family`` is ``name``); ``headline`` names the one the leaderboards rank by. ``needs``: model
    capabilities without which the family does not apply (a cell whose model lacks one gets every metric not
    applicable, and a selection where no model has them is refused before any work); ``inputs``: the data
    kinds it applies to. ``cost``: the expected seconds of one cell on one core (or a function of the cell
    giving them), for the ETA and for starting the dearest work first; work that several cells share (a CNN
    trained once on samples every noise of a model uses) is a function giving ``{what: seconds}``, each
    ``what`` (hashable, naming what the work depends on; the cell's key for its own work) charged once in a
    run, to the first cell that names it. ``baseline=True``: the family also
    scores the reference CNN's own cells (the augmentation family's baseline rows). ``compares``: metrics whose
    gain over the baseline cell a verdict tests, when the family has baseline cells; ``matched``: metrics
    compared across noises at matched severity; ``title``: the family in report headings.

    What the reports draw: ``by_severity``, a template (``"acc_sev{}"``) naming the metric that holds the first
    ``matched`` metric's value at each evaluated severity, drawn against severity as the figure
    ``severity_figure`` (per cell, against the baseline cell; per dataset × noise, every model at its matched
    severity); ``plots``, metrics drawn against severity one panel each where some model's values depend on it;
    ``contrasts``, pairs of metrics of one distance against two references (:class:`Contrast`) that a
    verdict compares with a paired test over seeds.

    ``reference=True``: the family uses the reference classifier the context hands out
    (``context.reference_classifier()``), trained once per dataset, seed and training subset: bench charges
    its training once in the ETA, not to every cell, and keys its results by the classifier's schedule and
    precision. ``trains_cnn=True``: the family trains CNNs of its own under the cell's CNN budget and
    precision (``--cnn-budget``, ``--precision``): its results are keyed by that protocol and its tables name
    it. A family with neither flag is keyed without any CNN field: its results serve every protocol.
    ``features=True``: the family uses the dataset's feature network (``context.domain_features()``), trained
    once per machine and dataset: while its checkpoint is missing, the first cell of a run that uses it trains
    it before its other work (other workers' cells go on meanwhile), and the ETA charges it to that cell.
    """

    name: str
    version: str
    summary: str
    metrics: tuple[Any, ...]  # registry.metrics.Metric
    score: Callable[[Any], list[Any]]
    headline: str | None = None
    needs: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ("image", "vector")
    cost: float | Callable[[Any], float | Mapping[Any, float]] = 10.0
    baseline: bool = False
    compares: tuple[str, ...] = ()
    matched: tuple[str, ...] = ()
    title: str = ""  # the family in report headings (default: its name)
    by_severity: str = ""
    severity_figure: str = ""
    plots: tuple[str, ...] = ()
    contrasts: tuple[Contrast, ...] = ()
    reference: bool = False
    trains_cnn: bool = False
    features: bool = False

    def describe(self) -> dict[str, Any]:
        """The declaration as JSON: what a results store keeps so that reports read the catalogue of the
        families that computed its results, installed or not."""
        return {"name": self.name, "version": self.version, "title": self.title or self.name, "summary": self.summary,
                "headline": self.headline, "compares": list(self.compares), "matched": list(self.matched),
                "baseline": self.baseline, "by_severity": self.by_severity, "severity_figure": self.severity_figure,
                "plots": list(self.plots), "contrasts": [dataclasses.asdict(c) for c in self.contrasts],
                "reference": self.reference, "trains_cnn": self.trains_cnn,
                "metrics": [{"name": m.name, "higher_is_better": m.higher_is_better, "unit": m.unit, "summary": m.summary,
                             "detail": m.detail, "test": m.test, "items": m.items, "label": m.label or m.name}
                            for m in self.metrics]}

    def metric(self, name: str) -> Any:
        """The declared metric ``name``."""
        for m in self.metrics:
            if m.name == name:
                return m
        raise KeyError(f"family '{self.name}' declares no metric '{name}'")


@dataclass(frozen=True)
class ReporterSpec:
    """A report format: what ``bench run --format NAME`` and ``bench report --format NAME`` write.

    ``write(report) -> list[Path]`` writes it from a :class:`reports.report.Report`: the store, the output
    directory, the options given (``report.options``: ``tracking_uri``, ``experiment``) and the shared
    tables, verdicts and figures, each built once on first use whichever reporters ask. It returns the files
    it wrote (none for a reporter that sends results elsewhere). ``files``: the files it writes into the
    output directory, so that an unchanged store skips the rebuild (a reporter with none always runs).
    ``requires``: modules it imports, installed with the extra ``extra`` (``pip install "aebench[mlflow]"``):
    without them the format is refused in one line, before any work. ``check(options)``, optional, raises
    :class:`registry.BenchError` (e.g. an unreachable server) before any work too. ``default``: written when
    ``--format`` is not given. ``options``: the report options it reads.
    """

    name: str
    summary: str
    write: Callable[[Any], list[Path]]
    files: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    extra: str = ""
    check: Callable[[Mapping[str, Any]], None] | None = None
    default: bool = False
    options: tuple[str, ...] = ()

    def missing(self) -> list[str]:
        """The modules of ``requires`` that cannot be imported here."""
        import importlib

        missing = []
        for module in self.requires:
            try:
                importlib.import_module(module)
            except ImportError:
                missing.append(module)
        return missing
