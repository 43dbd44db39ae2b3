"""Scores one cell on the whole metric suite: trains (or reuses) its model and returns its record.

The metric families come from the registry (:mod:`bench.families` holds the built-in ones); each scores the
cell from a :class:`bench.context.Context`. Work shared between cells and families is done once and kept in
typed caches: the tensors of a split, each corrupted test set, the baseline CNN and its accuracies, and per
trained model its codes, augmentation samples and what the families memoise. Every
cached value is a function of its key alone (all random draws are seeded from the cell), so a cell's
result does not depend on which cells ran before it in the process: a cache miss recomputes the same
value. The caches keep the most recent splits and models (:data:`KEEP_SPLITS`, :data:`KEEP_MODELS`):
their size, not their contents, depends on the order cells run in.
"""

from __future__ import annotations

import dataclasses
import json
import time
import traceback
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Hashable, TypeVar

import numpy as np
import torch

from registry import FamilySpec, PluginError, Registry
from registry.capabilities import missing_capabilities

from . import augmentation
from .checked import CheckedModel
from .checkpoints import Checkpoints, training_key
from .cnn import Fit, ReferenceClassifier, validation_accuracy
from .context import Context
from .data import LoadedDataset, subset
from .features import DomainFeatures, domain_features
from .footprint import footprint
from .grid import BASELINE, Cell, noise_params_at
from .hashing import content_hash
from .metrics.latent import encode
from .metrics.metric import MetricResult
from .metrics.reconstruction import psnr_of, squared_error
from .progress import Progress
from .provenance import environment, now
from .result import CellResult, FamilyRun, Footprint, Status, Timings, Training, cnn_steps
from .seeding import derive_seed, seed_everything, seeded
from .train import train

#: Splits (dataset, seed, sizes) whose tensors, corrupted test sets and baseline CNNs stay in memory.
KEEP_SPLITS = 1
#: Trained models whose codes, augmented CNNs and figures stay in memory.
KEEP_MODELS = 2

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Recent(Generic[K, V]):
    """A cache of the ``size`` most recently used values, each computed from its key on a miss."""

    def __init__(self, size: int):
        self.size, self._items = size, OrderedDict()

    def get(self, key: K, compute: Callable[[], V]) -> V:
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = compute()
        self._items[key] = value
        while len(self._items) > self.size:
            self._items.popitem(last=False)
        return value


@dataclass(frozen=True)
class TestKey:
    """What decides a cell's test images: dataset, seed and the profile's test sizes (not the training size:
    a sweep over training-set sizes scores every size on the same images, corrupted once)."""

    dataset: str
    fingerprint: str
    seed: int
    test_size: int
    eval_size: int

    @classmethod
    def of(cls, cell: Cell) -> TestKey:
        p = cell.profile
        return cls(cell.dataset, cell.dataset_fingerprint, cell.seed, p.test_size, p.eval_size)


@dataclass(frozen=True)
class SplitKey:
    """What decides a cell's tensors: its test images and the training-set size (not its CNN budget)."""

    test: TestKey
    train_size: int

    @classmethod
    def of(cls, cell: Cell) -> SplitKey:
        return cls(TestKey.of(cell), cell.profile.train_size)

    @property
    def name(self) -> str:
        """The stable text of the key (part of the ids of per-item vectors in stores)."""
        t = self.test
        return json.dumps([t.dataset, t.fingerprint, t.seed, self.train_size, t.test_size, t.eval_size])


@dataclass(frozen=True)
class Protocol:
    """The CNN training protocol of a cell: its budget and precision."""

    budget: str
    precision: str


#: Validation images of a CNN: training-split images outside the subset (never the test set).
VALIDATION_IMAGES = 2000


def cnn_seed(seed: int) -> int:
    """The seed of every reference CNN of a cell's seed: the baseline, augmented and train-on-synthetic CNNs
    start from the same initial weights and draw their batches from the same stream (common random numbers),
    so a difference between them is not one lucky draw of initial weights."""
    return derive_seed(seed, "cnn")


def protocol_of(cell: Cell) -> Protocol:
    return Protocol(cell.profile.cnn_budget, cell.profile.precision)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


@dataclass
class TestWork:
    test_x: torch.Tensor
    test_y: torch.Tensor
    eval_idx: torch.Tensor
    noisy: dict[str, torch.Tensor] = field(default_factory=dict)  # corrupted test sets by (noise, severity, params)
    features: dict[str, torch.Tensor] = field(default_factory=dict)  # domain features of the evaluation images


@dataclass
class SplitWork:
    """The tensors of one split on the device, and the work that depends on the split alone."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor  # reconstruction is scored on all of it
    test_y: torch.Tensor
    eval_idx: torch.Tensor  # the test images of the latent, downstream and likelihood families
    classes: tuple[str, ...]
    val_x: torch.Tensor | None = None  # training-split images outside the subset: the CNNs' validation images
    val_y: torch.Tensor | None = None
    noisy: dict[str, torch.Tensor] = field(default_factory=dict)  # the test side's: shared by every training size
    features: dict[str, torch.Tensor] = field(default_factory=dict)  # the test side's too
    baseline_cnns: dict[Protocol, tuple[torch.nn.Module, Fit, str]] = field(default_factory=dict)  # with source
    baseline_accuracy: dict[tuple[Protocol, str], augmentation.Accuracy] = field(default_factory=dict)
    baseline_validation: dict[Protocol, float | None] = field(default_factory=dict)
    memo: dict[bytes, Any] = field(default_factory=dict)  # what the families share per split (Context.shared)

    @property
    def eval_x(self) -> torch.Tensor:
        return self.test_x[self.eval_idx]

    @property
    def eval_y(self) -> torch.Tensor:
        return self.test_y[self.eval_idx]


@dataclass
class ModelWork:
    """A trained model and the work that depends on it alone (and on its split): its codes, its augmentation
    samples, and what the families keep per model (:meth:`bench.context.Context.memo`)."""

    model: torch.nn.Module
    history: list[float]
    seconds: float
    checkpoint: str | None = None  # file name in the checkpoint directory
    train_codes: np.ndarray | None = None
    test_codes: np.ndarray | None = None  # codes of the split's evaluation images
    samples: dict[str, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)  # augmentation, by noise
    memo: dict[bytes, Any] = field(default_factory=dict)
    footprint: Footprint | None = None
    used: torch.nn.Module | None = None  # the model behind its contract (bench.checked): what the families get

    def codes(self, split: SplitWork) -> tuple[np.ndarray, np.ndarray]:
        """The codes of the training subset and of the evaluation images."""
        model = self.used or self.model
        if self.train_codes is None:
            self.train_codes = encode(model, split.train_x)
        if self.test_codes is None:
            self.test_codes = encode(model, split.eval_x)
        return self.train_codes, self.test_codes


def per_item(results: list[MetricResult], split: str) -> dict[str, dict[str, Any]]:
    """The per-test-item values of ``results`` as the store keeps them, each with the id of its items
    (the split and the vector's name and length: equal ids, the same test images in the same order)."""
    out = {}
    for r in results:
        if r.per_item is None:
            continue
        name = r.metric.items_name
        values = r.per_item.cpu().numpy()
        items_id = content_hash([f"{split}\x1f{name}\x1f{len(values)}"], chars=16, algorithm="blake2b")
        out[name] = {"test": r.metric.test, "items_id": items_id, "values": values}
    return out


class Evaluator:
    """Scores cells on ``device`` with the plugins of ``registry`` and the data of ``datasets``; trained
    models are kept as checkpoints in ``checkpoints``, so a later run (or another worker) loads them."""

    def __init__(self, registry: Registry, datasets: dict[str, LoadedDataset], checkpoints: Checkpoints, *,
                 device: str | torch.device = "cpu"):
        self.registry = registry
        self.datasets = datasets
        self.checkpoints = checkpoints
        self.device = torch.device(device)
        self._splits: Recent[SplitKey, SplitWork] = Recent(KEEP_SPLITS)
        self._tests: Recent[TestKey, TestWork] = Recent(KEEP_SPLITS)
        self._models: Recent[str, ModelWork] = Recent(KEEP_MODELS)
        self._features: dict[tuple[str, str], DomainFeatures] = {}
        self._features_first: dict[tuple[str, str], str] = {}  # the cell that trained or loaded it here

    # -- shared work ------------------------------------------------------------------------------
    def split(self, cell: Cell) -> SplitWork:
        data = self.datasets[cell.dataset].data

        def make_test() -> TestWork:
            test_idx = subset(len(data.test_x), cell.profile.test_size, derive_seed(cell.seed, "test")).sort().values
            eval_idx = subset(len(test_idx), cell.profile.eval_size, derive_seed(cell.seed, "eval")).sort().values
            return TestWork(data.test_x[test_idx].to(self.device), data.test_y[test_idx].to(self.device),
                            eval_idx.to(self.device))

        def make() -> SplitWork:
            test = self._tests.get(SplitKey.of(cell).test, make_test)
            order = subset(len(data.train_x), None, cell.seed)  # the subset is its start (bench.data.subset)
            train_idx = order[: cell.profile.train_size]
            val_idx = order[cell.profile.train_size : cell.profile.train_size + VALIDATION_IMAGES]
            return SplitWork(data.train_x[train_idx].to(self.device), data.train_y[train_idx].to(self.device),
                             test.test_x, test.test_y, test.eval_idx, data.classes,
                             val_x=data.train_x[val_idx].to(self.device), val_y=data.train_y[val_idx].to(self.device),
                             noisy=test.noisy, features=test.features)

        return self._splits.get(SplitKey.of(cell), make)

    def test_images(self, cell: Cell) -> torch.Tensor:
        """The cell's test images (its profile's subset), on the device."""
        return self.split(cell).test_x

    def noisy_test(self, cell: Cell, severity: int) -> torch.Tensor:
        """The test set corrupted by the cell's noise at ``severity``: made once, shared by all models."""
        noise = self.registry.spec("noises", cell.noise)
        ladder = {k: v for k, v in cell.noise_overrides.items() if k != noise.calibrate}
        params = (cell.noise_params if severity == cell.severity else
                  noise_params_at(self.registry.entry("noises", cell.noise), self.datasets[cell.dataset], severity,
                                  ladder))
        name = _canonical([cell.noise, severity, params])
        split = self.split(cell)
        if name not in split.noisy:
            with seeded(derive_seed(cell.seed, "test-noise", name), self.device):
                noisy = noise.function(split.test_x, **params)
            if noisy.shape != split.test_x.shape or noisy.min() < 0 or noisy.max() > 1:
                raise ValueError(f"noise '{cell.noise}' returned shape {tuple(noisy.shape)} with values in "
                                 f"[{noisy.min():.3g}, {noisy.max():.3g}]; expected {tuple(split.test_x.shape)} "
                                 "in [0, 1]")
            split.noisy[name] = noisy
        return split.noisy[name]

    def eval_severities(self, cell: Cell) -> list[int]:
        """Every severity the noise declares, and the cell's own when it is custom (0)."""
        return sorted({*self.registry.spec("noises", cell.noise).severities, cell.severity})

    def corrupted_eval_sets(self, cell: Cell) -> dict[int, torch.Tensor]:
        split = self.split(cell)
        return {s: self.noisy_test(cell, s)[split.eval_idx] for s in self.eval_severities(cell)}

    def baseline_cnn(self, cell: Cell) -> tuple[torch.nn.Module, Fit, str]:
        """The reference CNN (a small MLP for vectors: :func:`bench.cnn.new_classifier`) trained on the limited
        subset alone under the cell's CNN budget and precision,
        and where it came from ("trained", "checkpoint", or "memory" when an earlier call made it): once
        per (dataset, seed, profile), kept as a checkpoint so that other workers, resumed runs and later
        runs load it (a file lock makes concurrent workers train it once)."""
        split, protocol = self.split(cell), protocol_of(cell)
        if protocol in split.baseline_cnns:
            cnn, fit, _ = split.baseline_cnns[protocol]
            return cnn, fit, "memory"
        key = training_key(kind=BASELINE, dataset=[cell.dataset, cell.dataset_fingerprint], seed=cell.seed,
                           profile=cell.profile.cnn_training(), bench=cell.versions.get("bench"))
        with self.checkpoints.lock(key), seeded(cnn_seed(cell.seed), self.device):
            cnn = augmentation.new_cnn(split.train_x, len(split.classes))
            stored = self.checkpoints.load(key, cnn)
            if stored is not None and "steps" in stored.extra:
                fit, source = Fit(stored.history, int(stored.extra["steps"])), "checkpoint"
            else:
                source = "trained"
                started = time.perf_counter()
                cnn, fit = augmentation.train_cnn(split.train_x, split.train_y, len(split.classes),
                                                profile=cell.profile, baseline_size=len(split.train_x), cnn=cnn)
                self.checkpoints.save(key, cnn, fit.history, time.perf_counter() - started, {"steps": fit.steps})
        cnn.eval()
        split.baseline_cnns[protocol] = (cnn, fit, source)
        split.baseline_validation[protocol] = validation_accuracy(cnn, split.val_x, split.val_y,
                                                                    cell.profile.precision)
        return cnn, fit, source

    def baseline_validation(self, cell: Cell) -> float | None:
        """The baseline CNN's accuracy on the split's validation images, measured when it was trained or loaded."""
        self.baseline_cnn(cell)
        return self.split(cell).baseline_validation.get(protocol_of(cell))

    def reference_classifier(self, cell: Cell) -> ReferenceClassifier:
        """The reference classifier of the cell's split: the baseline CNN (a small MLP for vectors) under the
        converged protocol whatever the cell's CNN budget, in the cell's precision; trained once per
        (dataset, seed, subset, precision) and kept as a checkpoint (:meth:`baseline_cnn`)."""
        converged = dataclasses.replace(cell, profile=cell.profile.with_protocol(cnn_budget="converged"))
        network, fit, source = self.baseline_cnn(converged)
        return ReferenceClassifier(network, fit.steps, source, cell.profile.precision,
                                   self.split(cell).baseline_validation.get(protocol_of(converged)))

    def baseline_accuracy(self, cell: Cell) -> augmentation.Accuracy:
        """The baseline CNN's per-image correctness on the cell's test sets, once per noise."""
        split = self.split(cell)
        key = (protocol_of(cell), _canonical([cell.noise_label, cell.noise_overrides]))
        if key not in split.baseline_accuracy:
            cnn = self.baseline_cnn(cell)[0]
            split.baseline_accuracy[key] = augmentation.accuracy(cnn, split.eval_x, split.eval_y,
                                                               self.corrupted_eval_sets(cell),
                                                               precision=cell.profile.precision)
        return split.baseline_accuracy[key]

    def domain_features(self, cell: Cell, wait: bool = True) -> DomainFeatures | None:
        """The dataset's feature space for the generative family: trained once per dataset (fingerprint),
        kept as a checkpoint in the data cache, and loaded by every later cell, worker, run and store
        (``wait=False``: None while another process trains it)."""
        key = (cell.dataset, cell.dataset_fingerprint)
        if key not in self._features:
            found = domain_features(self.datasets[cell.dataset].data, cell.dataset, cell.dataset_fingerprint,
                                    device=self.device, wait=wait)
            if found is None:
                return None
            self._features[key], self._features_first[key] = found, cell.key
        return self._features[key]

    def features_source(self, cell: Cell) -> str | None:
        """Where the cell's feature network came from: "trained" or "checkpoint" for the cell that trained or
        loaded it in this process, "memory" for later cells; None when the cell has not used it."""
        key = (cell.dataset, cell.dataset_fingerprint)
        if key not in self._features:
            return None
        return self._features[key].source if self._features_first[key] == cell.key else "memory"

    def start_features(self, cell: Cell) -> None:
        """Before a cell whose families use the feature network: train it now if its checkpoint is missing and
        no other process is training it (the first cell of a run takes it on at once, while the other workers'
        cells do their other work instead of waiting for it later); go on if another process is. A failure
        here is left to the family that needs the network, which meets it again and says so."""
        try:
            self.domain_features(cell, wait=False)
        except Exception:  # the generative family meets it again and fails with it
            pass

    def real_features(self, cell: Cell) -> torch.Tensor:
        """Domain features of the cell's evaluation images: once per test subset, shared by every model."""
        split = self.split(cell)
        if "eval" not in split.features:
            split.features["eval"] = self.domain_features(cell)(split.eval_x)
        return split.features["eval"]

    def noisy_features(self, cell: Cell) -> torch.Tensor:
        """Domain features of the evaluation images corrupted at the cell's severity (for ``--train-noise``)."""
        split = self.split(cell)
        name = _canonical(["noisy", cell.noise_label, cell.severity, cell.noise_params])
        if name not in split.features:
            split.features[name] = self.domain_features(cell)(self.noisy_test(cell, cell.severity)[split.eval_idx])
        return split.features[name]

    def _training_set(self, cell: Cell) -> torch.Tensor:
        """The models' training subset: clean, or in the noisy-training-set scenario corrupted once by
        the cell's noise (a fixed noisy dataset, as collected data would be)."""
        x = self.split(cell).train_x
        if not cell.train_noise:
            return x
        with seeded(derive_seed(cell.seed, "train-noise", cell.noise_label, cell.severity), self.device):
            return self.registry.spec("noises", cell.noise).function(x, **cell.noise_params)

    def trained(self, cell: Cell, progress: Progress | None = None) -> tuple[ModelWork, str]:
        """The cell's trained model and where it came from: "trained", "memory" (an earlier cell in this
        process) or "checkpoint" (an earlier run). ``bench export`` and ``bench time`` get their models
        here, so they load what ``bench run`` trained, and what they train ``bench run`` reuses."""
        progress = progress or Progress(quiet=True)
        entry = self.registry.entry("models", cell.model)
        spec = entry.spec
        sees_noise = spec.denoising or cell.train_noise
        ckpt_key = training_key(model=[cell.model, cell.model_params, entry.distribution, entry.version],
                                noise=[cell.noise, cell.noise_params] if sees_noise else None,
                                train_noise=cell.train_noise, dataset=[cell.dataset, cell.dataset_fingerprint],
                                seed=cell.seed, profile=cell.profile.training(), bench=cell.versions.get("bench"))
        # the split's sizes are in the key too: a model's codes and CNNs are of one split
        key = _canonical([ckpt_key, SplitKey.of(cell).name])
        source = "memory"

        def load_or_train() -> ModelWork:
            nonlocal source
            x_train = self._training_set(cell)
            seed_everything(cell.seed)  # same seed, same initial weights for every model of one architecture
            model = spec.factory(tuple(x_train.shape[1:]), **cell.model_params).to(self.device)
            missing = missing_capabilities(spec, model)  # a factory that is a function: checked once it builds
            if missing:
                raise PluginError(f"model '{cell.model}' of distribution '{entry.distribution}' declares the "
                                  f"capabilities {', '.join(missing)} but the module it builds lacks them")
            stored = self.checkpoints.load(ckpt_key, model)
            if stored is not None:
                source = "checkpoint"
                model.eval()
                return ModelWork(model, stored.history, stored.seconds, self.checkpoints.path(ckpt_key).name)
            source = "trained"
            noise = self.registry.spec("noises", cell.noise)
            corrupt = (lambda batch: noise.function(batch, **cell.noise_params)) if spec.denoising else None
            epochs = cell.profile.epochs(spec)
            progress.start_training(cell.label, epochs)
            started = time.perf_counter()
            try:
                history = train(model, x_train, epochs=epochs, batch_size=cell.profile.batch(spec), lr=spec.lr,
                                corrupt=corrupt, on_epoch=progress.epoch)
            finally:
                progress.end_training()
            seconds = time.perf_counter() - started
            path = self.checkpoints.save(ckpt_key, model, history, seconds)
            return ModelWork(model, history, seconds, path.name)

        work = self._models.get(key, load_or_train)
        if work.used is None:
            work.used = CheckedModel(work.model, f"model '{cell.model}' ({entry.distribution} {entry.version})",
                                     f"'bench plugins check {cell.model}' tries every contract on a fresh model",
                                     tuple(self.split(cell).train_x.shape[1:]))
        return work, source

    # -- shared by the families ---------------------------------------------------------------
    def augmentation(self, cell: Cell, work: ModelWork, split: SplitWork) -> tuple[str, torch.Tensor, torch.Tensor]:
        """The augmentation samples (``augment_k`` per training image, with its label) and their key: drawn
        once per model, and per noise for a model that reconstructs corrupted copies instead of generating
        (a model that generates by itself makes the same samples under every noise). The downstream CNN, the
        train-on-synthetic CNN and the generative metrics all use these."""
        generates = "generate" in self.registry.spec("models", cell.model).capabilities
        sample_key = _canonical(None if generates else [cell.noise, cell.noise_params])
        if sample_key not in work.samples:
            noise = self.registry.spec("noises", cell.noise)
            with seeded(derive_seed(cell.seed, "augment"), self.device):
                work.samples[sample_key] = augmentation.augment(
                    work.used or work.model, split.train_x, split.train_y, k=cell.profile.augment_k,
                    corrupt=lambda batch: noise.function(batch, **cell.noise_params), generates=generates)
        return (sample_key, *work.samples[sample_key])

    # -- one cell ---------------------------------------------------------------------------------
    def family_gap(self, family: FamilySpec, cell: Cell) -> str | None:
        """Why ``family`` does not apply to ``cell`` as its declaration says (a capability its model lacks,
        a kind of data it does not take), or None."""
        kind = self.registry.spec("datasets", cell.dataset_name).kind
        if kind not in family.inputs:
            return f"the {family.name} family takes {' or '.join(family.inputs)} inputs; the dataset has {kind}s"
        if cell.model == BASELINE:
            return None
        spec = self.registry.spec("models", cell.model)
        lacking = [c for c in family.needs if c not in spec.capabilities]
        if lacking:
            return (f"model '{cell.model}' does not declare the capabilit{'ies' if len(lacking) > 1 else 'y'} "
                    f"{', '.join(repr(c) for c in lacking)} the {family.name} family needs")
        return None

    def evaluate(self, cell: Cell, progress: Progress | None = None) -> CellResult:
        """The cell's result for the families it names (``cell.families``): status, metrics, figures,
        provenance and timings. A model that cannot be trained fails the cell; a family that raises fails
        that family alone (its run says why), and the others are kept."""
        progress = progress or Progress(quiet=True)
        started_at, started = now(), time.perf_counter()
        entries = [self.registry.entry("families", name) for name in cell.families]

        def ended(status: Status, reason: str | None = None, **found: Any) -> CellResult:
            provenance = {**environment(self.device), "started": started_at,
                          "ended": started_at if status == "skipped" else now()}
            wall = 0.0 if status == "skipped" else time.perf_counter() - started
            described = cell.describe()
            if split is not None:  # the images the cell had (digits has 1,347 where the profile asks 5,000)
                described["train_size"] = len(split.train_x)  # not in the key: the profile's size is
            return CellResult(described, status, reason, provenance, Timings(wall, found.pop("eval_s", None)),
                              **found)

        split = None

        if cell.skip:
            return ended("skipped", cell.skip, families={
                e.name: FamilyRun(e.spec.version, "skipped", cell.skip) for e in entries})
        found: dict[str, Any] = {}
        work = None
        features = any(e.spec.features for e in entries)
        if features:
            self.start_features(cell)
        try:
            split = self.split(cell)
            noisy = self.noisy_test(cell, cell.severity)
            found["input_psnr"] = psnr_of(squared_error(noisy, split.test_x))
            found["eval_psnr"] = {
                str(s): psnr_of(squared_error(xs, split.eval_x))
                for s, xs in self.corrupted_eval_sets(cell).items()} if split.test_x.dim() == 4 else {}
            if cell.model != BASELINE:
                work, source = self.trained(cell, progress)
                found["training"] = Training(source, work.seconds, len(work.history), work.history, work.checkpoint,
                                             len(split.train_x), len(split.test_x), len(split.eval_idx))
                if work.footprint is None:
                    work.footprint = footprint(work.model, split.test_x)
                found["footprint"] = work.footprint
        except Exception as exc:  # the model or the data: every family of the cell fails with it
            reason, trace = f"{type(exc).__name__}: {exc}", traceback.format_exc()
            kept = {k: found[k] for k in ("input_psnr", "training") if k in found}
            return ended("failed", reason, traceback=trace, families={
                e.name: FamilyRun(e.spec.version, "failed", reason, trace) for e in entries}, **kept)
        eval_started = time.perf_counter()
        context = Context(self, cell, work)
        results: list[MetricResult] = []
        runs: dict[str, FamilyRun] = {}
        for entry in entries:
            family, family_started = entry.spec, time.perf_counter()
            try:
                gap = self.family_gap(family, cell)
                scored = ([m.not_applicable(gap) for m in family.metrics if not m.detail] if gap else
                          family.score(context.for_family(family.name)))
                _check_results(family, scored)
            except Exception as exc:  # a family's failure fails that family of the cell, not the cell
                context.outputs.pop(family.name, None)
                reason = str(exc) if isinstance(exc, PluginError) else f"{type(exc).__name__}: {exc}"  # in bench's words
                runs[family.name] = FamilyRun(family.version, "failed", reason,
                                              traceback.format_exc(), time.perf_counter() - family_started)
                continue
            out = context.outputs.get(family.name)
            runs[family.name] = FamilyRun(family.version, "done", None, None, time.perf_counter() - family_started,
                                          tuple(out.figures) if out else (), tuple(out.artifacts) if out else ())
            results += scored
        found["eval_s"] = time.perf_counter() - eval_started
        found["figures"] = {k: v for out in context.outputs.values() for k, v in out.figures.items()}
        found["artifacts"] = {k: v for out in context.outputs.values() for k, v in out.artifacts.items()}
        uses = {role: use for out in context.outputs.values() for role, use in out.cnns.items()}
        if uses:  # the CNNs the families trained or used (Context.cnn_used)
            found["cnn"] = cnn_steps(uses, 0 if split.val_x is None else len(split.val_x))
        if features:
            found["features_source"] = self.features_source(cell)
        failed = [run for run in runs.values() if run.status == "failed"]
        if runs and len(failed) == len(runs):
            return ended("failed", failed[0].reason, traceback=failed[0].traceback, families=runs, **found)
        return ended("done", families=runs, metrics=[r.as_row() for r in results],
                     items=per_item(results, SplitKey.of(cell).name), **found)


def _check_results(family: FamilySpec, results: Any) -> None:
    """A family's results are its declared metrics, each once."""
    declared = {m.name: m for m in family.metrics}
    if not isinstance(results, list) or not all(isinstance(r, MetricResult) for r in results):
        raise PluginError(f"family '{family.name}' returned {type(results).__name__}; score(context) returns a "
                          "list of MetricResult")
    names = [r.metric.name for r in results]
    for r in results:
        if declared.get(r.metric.name) != r.metric:
            raise PluginError(f"family '{family.name}' returned the metric '{r.metric.name}', which it does not "
                              f"declare (it declares {', '.join(declared)})")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise PluginError(f"family '{family.name}' returned the metric '{twice[0]}' twice")
