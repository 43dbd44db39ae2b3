"""Scores one cell on the whole metric suite: trains (or reuses) its model and returns its record.

Work shared between cells is done once and kept in typed caches: the tensors of a split, each corrupted
test set, the baseline CNN and its accuracies, and per trained model its codes, CNNs and figures. Every
cached value is a function of its key alone (all random draws are seeded from the cell), so a cell's
result does not depend on which cells ran before it in the process: a cache miss recomputes the same
value. The caches keep the most recent splits and models (:data:`KEEP_SPLITS`, :data:`KEEP_MODELS`):
their size, not their contents, depends on the order cells run in.
"""

from __future__ import annotations

import io
import json
import re
import time
import traceback
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Hashable, TypeVar

import numpy as np
import torch

from registry import PluginError, Registry
from registry.capabilities import missing_capabilities

from . import downstream, figures
from .checkpoints import Checkpoints, training_key
from .cnn import Fit, predict
from .data import LoadedDataset, subset
from .features import DomainFeatures, domain_features
from .footprint import footprint
from .grid import BASELINE, Cell, noise_params_at
from .hashing import content_hash
from .metrics import generative, score_reconstruction
from .metrics.latent import active_units, encode, score_latent
from .metrics.likelihood import score_likelihood
from .metrics.metric import MetricResult
from .metrics.reconstruction import psnr_of, squared_error
from .outcome import NotApplicable
from .progress import Progress
from .provenance import environment, now
from .result import CellResult, CnnSteps, Footprint, Status, Timings, Training
from .seeding import derive_seed, seed_everything, seeded
from .store import PRIOR_SAMPLES, SAMPLES
from .train import train

FIGURES_DIR = "figures"
SAMPLE_COUNT = 8
PRIOR_GRID = 32  # prior samples kept per cell for the report's grid
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


def validation_accuracy(cnn: torch.nn.Module, split: SplitWork, precision: str) -> float | None:
    """A CNN's accuracy on the split's validation images (None when the subset is the whole split)."""
    if split.val_x is None or len(split.val_x) == 0:
        return None
    return float((predict(cnn, split.val_x, precision=precision) == split.val_y).double().mean())


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
    baseline_accuracy: dict[tuple[Protocol, str], downstream.Accuracy] = field(default_factory=dict)
    baseline_validation: dict[Protocol, float | None] = field(default_factory=dict)

    @property
    def eval_x(self) -> torch.Tensor:
        return self.test_x[self.eval_idx]

    @property
    def eval_y(self) -> torch.Tensor:
        return self.test_y[self.eval_idx]


@dataclass
class ModelWork:
    """A trained model and the results that depend on it alone (and on its split)."""

    model: torch.nn.Module
    history: list[float]
    seconds: float
    checkpoint: str | None = None  # file name in the checkpoint directory
    train_codes: np.ndarray | None = None
    test_codes: np.ndarray | None = None  # codes of the split's evaluation images
    latent_clean: list[MetricResult] | None = None
    likelihood: list[MetricResult] | None = None
    samples: dict[str, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)  # augmentation, by noise
    cnns: dict[str, tuple[torch.nn.Module, Fit]] = field(default_factory=dict)  # augmented CNNs by (protocol, noise)
    cnn_validation: dict[str, float | None] = field(default_factory=dict)  # their validation accuracy
    generative: dict[str, list[MetricResult]] = field(default_factory=dict)  # by sample source (and noise)
    tstr: dict[str, torch.Tensor] = field(default_factory=dict)  # per-image correctness by (protocol, noise)
    prior_grid: bytes | None = None  # the first prior samples, uint8 .npy, for the reports' grids
    accuracies: dict[str, downstream.Accuracy] = field(default_factory=dict)  # by CNN and noise label
    figures: dict[str, bytes | NotApplicable] = field(default_factory=dict)  # PNG by kind
    footprint: Footprint | None = None

    def codes(self, split: SplitWork) -> tuple[np.ndarray, np.ndarray]:
        """The codes of the training subset and of the evaluation images."""
        if self.train_codes is None:
            self.train_codes = encode(self.model, split.train_x)
        if self.test_codes is None:
            self.test_codes = encode(self.model, split.eval_x)
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


def _uint8_npy(images: torch.Tensor) -> bytes:
    """Images in [0, 1] as a uint8 .npy file."""
    buffer = io.BytesIO()
    np.save(buffer, (images.clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy(), allow_pickle=False)
    return buffer.getvalue()


def figure_name(cell: Cell, kind: str) -> str:
    tags = "".join(f"_{tag}" for tag in cell.protocol_tags)  # none under the profile's defaults
    stem = f"{cell.dataset}_{cell.model_label}_{cell.noise_label}_s{cell.severity}_seed{cell.seed}{tags}_{kind}.png"
    return f"{FIGURES_DIR}/" + re.sub(r"[^A-Za-z0-9_.-]", "-", stem)


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
        """The reference CNN trained on the limited subset alone under the cell's CNN budget and precision,
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
            cnn = downstream.new_cnn(split.train_x, len(split.classes))
            stored = self.checkpoints.load(key, cnn)
            if stored is not None and "steps" in stored.extra:
                fit, source = Fit(stored.history, int(stored.extra["steps"])), "checkpoint"
            else:
                source = "trained"
                started = time.perf_counter()
                cnn, fit = downstream.train_cnn(split.train_x, split.train_y, len(split.classes),
                                                profile=cell.profile, baseline_size=len(split.train_x), cnn=cnn)
                self.checkpoints.save(key, cnn, fit.history, time.perf_counter() - started, {"steps": fit.steps})
        cnn.eval()
        split.baseline_cnns[protocol] = (cnn, fit, source)
        split.baseline_validation[protocol] = validation_accuracy(cnn, split, cell.profile.precision)
        return cnn, fit, source

    def baseline_accuracy(self, cell: Cell) -> downstream.Accuracy:
        """The baseline CNN's per-image correctness on the cell's test sets, once per noise."""
        split = self.split(cell)
        key = (protocol_of(cell), _canonical([cell.noise_label, cell.noise_overrides]))
        if key not in split.baseline_accuracy:
            cnn = self.baseline_cnn(cell)[0]
            split.baseline_accuracy[key] = downstream.accuracy(cnn, split.eval_x, split.eval_y,
                                                               self.corrupted_eval_sets(cell),
                                                               precision=cell.profile.precision)
        return split.baseline_accuracy[key]

    def domain_features(self, cell: Cell) -> DomainFeatures:
        """The dataset's feature space for the generative family: trained once per dataset (fingerprint),
        kept as a checkpoint in the data cache, and loaded by every later cell, worker, run and store."""
        key = (cell.dataset, cell.dataset_fingerprint)
        if key not in self._features:
            self._features[key] = domain_features(self.datasets[cell.dataset].data, cell.dataset, cell.dataset_fingerprint,
                                                  device=self.device)
        return self._features[key]

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
        return work, source

    # -- the families -----------------------------------------------------------------------------
    def _latent(self, cell: Cell, work: ModelWork, split: SplitWork, noisy: torch.Tensor) -> list[MetricResult]:
        train_codes, test_codes = work.codes(split)
        train_y, test_y = split.train_y.cpu().numpy(), split.eval_y.cpu().numpy()
        if work.latent_clean is None:
            work.latent_clean = [*score_latent(train_codes, train_y, test_codes, test_y, seed=cell.seed),
                                 active_units(test_codes)]
        noisy_codes = encode(work.model, noisy[split.eval_idx])
        return [*work.latent_clean, *score_latent(train_codes, train_y, noisy_codes, test_y, noisy=True, seed=cell.seed)]

    def _augmentation(self, cell: Cell, work: ModelWork, split: SplitWork) -> tuple[str, torch.Tensor, torch.Tensor]:
        """The augmentation samples (``augment_k`` per training image, with its label) and their key: drawn
        once per model, and per noise for a model that reconstructs corrupted copies instead of generating
        (a model that generates by itself makes the same samples under every noise). The downstream CNN, the
        train-on-synthetic CNN and the generative metrics all use these."""
        generates = "generate" in self.registry.spec("models", cell.model).capabilities
        sample_key = _canonical(None if generates else [cell.noise, cell.noise_params])
        if sample_key not in work.samples:
            noise = self.registry.spec("noises", cell.noise)
            with seeded(derive_seed(cell.seed, "augment"), self.device):
                work.samples[sample_key] = downstream.augment(
                    work.model, split.train_x, split.train_y, k=cell.profile.augment_k,
                    corrupt=lambda batch: noise.function(batch, **cell.noise_params), generates=generates)
        return (sample_key, *work.samples[sample_key])

    def _downstream(self, cell: Cell, work: ModelWork, split: SplitWork, cnn_info: dict[str, Any]) -> list[MetricResult]:
        """The downstream family; ``cnn_info`` receives the optimizer steps of the augmented and baseline
        CNNs and where the baseline came from."""
        spec = self.registry.spec("models", cell.model)
        severities = self.eval_severities(cell)
        if not spec.generative:
            return downstream.not_applicable(f"model '{cell.model}' cannot generate samples (its spec says so)",
                                             severities)
        if split.train_x.dim() != 4:
            return downstream.not_applicable("the reference CNN takes images, the dataset has vectors", severities)
        protocol = protocol_of(cell)
        sample_key, x_gen, y_gen = self._augmentation(cell, work, split)
        cnn_key = _canonical([[protocol.budget, protocol.precision], sample_key])
        if cnn_key not in work.cnns:
            with seeded(cnn_seed(cell.seed), self.device):
                work.cnns[cnn_key] = downstream.train_cnn(
                    torch.cat([split.train_x, x_gen]), torch.cat([split.train_y, y_gen]), len(split.classes),
                    profile=cell.profile, baseline_size=len(split.train_x))
        cnn, fit = work.cnns[cnn_key]
        if cnn_key not in work.cnn_validation:
            work.cnn_validation[cnn_key] = validation_accuracy(cnn, split, cell.profile.precision)
        cnn_info["augmented_validation"] = work.cnn_validation[cnn_key]
        acc_key = _canonical([cnn_key, cell.noise_label, cell.noise_overrides])
        if acc_key not in work.accuracies:
            work.accuracies[acc_key] = downstream.accuracy(cnn, split.eval_x, split.eval_y,
                                                           self.corrupted_eval_sets(cell),
                                                           precision=cell.profile.precision)
        _, baseline_fit, source = self.baseline_cnn(cell)
        baseline = self.baseline_accuracy(cell)
        cnn_info.update(augmented=fit.steps, baseline=baseline_fit.steps, baseline_cnn=source)
        return downstream.score_downstream(work.accuracies[acc_key], baseline, cell.severity)

    def _generative(self, cell: Cell, work: ModelWork, split: SplitWork) -> list[MetricResult]:
        """The generative family: prior samples and augmentation samples against as many real evaluation
        images in the dataset's feature space, and the reference CNN trained on the augmentation samples
        alone, tested on the real clean images."""
        spec = self.registry.spec("models", cell.model)
        features = self.domain_features(cell)
        results = [generative.FEATURE_ACC.estimate(features.test_accuracy) if features.test_accuracy is not None
                   else generative.FEATURE_ACC.not_applicable("vectors are their own features (standardised)")]
        real = self.real_features(cell)
        if "sample" not in spec.capabilities:
            results += generative.not_applicable("prior", f"model '{cell.model}' has no prior to sample from "
                                                 "(it declares no 'sample' capability)")
        else:
            if "prior" not in work.generative:
                with seeded(derive_seed(cell.seed, "prior-samples"), self.device), torch.inference_mode():
                    work.model.eval()
                    fake = torch.cat([work.model.sample(min(1000, len(real) - i)).clamp(0, 1)
                                      for i in range(0, len(real), 1000)])
                if fake.shape[1:] != split.eval_x.shape[1:]:
                    raise ValueError(f"model '{cell.model}' sampled shape {tuple(fake.shape[1:])}; expected "
                                     f"{tuple(split.eval_x.shape[1:])}")
                fake_features = features(fake)
                with seeded(derive_seed(cell.seed, "kid", "prior"), self.device):
                    work.generative["prior"] = generative.score_generative(real, fake_features, "prior")
                if cell.train_noise:  # do the samples inherit the training set's noise?
                    work.generative["prior"].append(generative.noisy_fid_result(
                        "prior", self.noisy_features(cell), fake_features))
                if fake.dim() == 4:
                    work.prior_grid = _uint8_npy(fake[:PRIOR_GRID])
            results += work.generative["prior"]
        if not spec.generative:
            why = f"model '{cell.model}' cannot generate samples (its spec says so)"
            return [*results, *generative.not_applicable("aug", why), generative.TSTR.not_applicable(why)]
        sample_key, x_gen, y_gen = self._augmentation(cell, work, split)
        source_key = _canonical(["aug", sample_key])
        if source_key not in work.generative:
            m = min(len(x_gen), len(real))  # as many real images as samples
            real_idx = subset(len(real), m, derive_seed(cell.seed, "generative-real")).sort().values
            fake_idx = subset(len(x_gen), m, derive_seed(cell.seed, "generative-fake"))
            fake_features = features(x_gen[fake_idx.to(x_gen.device)])
            with seeded(derive_seed(cell.seed, "kid", "aug"), self.device):
                work.generative[source_key] = generative.score_generative(real[real_idx], fake_features, "aug")
            if cell.train_noise:
                work.generative[source_key].append(generative.noisy_fid_result(
                    "aug", self.noisy_features(cell)[real_idx], fake_features))
        results += work.generative[source_key]
        if split.train_x.dim() != 4:
            return [*results, generative.TSTR.not_applicable("the reference CNN takes images, the dataset has vectors")]
        protocol = protocol_of(cell)
        tstr_key = _canonical([[protocol.budget, protocol.precision], sample_key])
        if tstr_key not in work.tstr:
            with seeded(cnn_seed(cell.seed), self.device):
                cnn, _ = downstream.train_cnn(x_gen, y_gen, len(split.classes), profile=cell.profile,
                                              baseline_size=len(split.train_x))
            work.tstr[tstr_key] = (predict(cnn, split.eval_x, precision=cell.profile.precision) == split.eval_y).cpu()
        return [*results, generative.TSTR.result(work.tstr[tstr_key])]

    def _likelihood(self, cell: Cell, work: ModelWork, split: SplitWork) -> list[MetricResult]:
        if work.likelihood is None:
            spec = self.registry.spec("models", cell.model)
            with seeded(derive_seed(cell.seed, "likelihood"), self.device):
                work.likelihood = score_likelihood(work.model, split.eval_x, k=cell.profile.iw_samples,
                                                   subset=cell.profile.iw_size, likelihood=spec.likelihood,
                                                   posterior="posterior" in spec.capabilities)
        return work.likelihood

    def _figures(self, cell: Cell, work: ModelWork, split: SplitWork) -> tuple[dict[str, str], dict[str, bytes]]:
        """The t-SNE and traversal PNGs of the cell: per kind a path or a not-applicable note, and the
        images (stored in the results store under those paths)."""
        _, codes = work.codes(split)
        labels = split.eval_y.cpu().numpy()
        idx = np.random.default_rng(cell.seed).permutation(len(codes))[: cell.profile.tsne_points]
        title = f"{cell.model_label} on {cell.dataset}" + (f" ({cell.noise_label} s{cell.severity})"
                                                    if self.registry.spec("models", cell.model).denoising else "")
        makers = {
            "tsne": lambda: figures.tsne_png(codes[idx], labels[idx], split.classes, title=f"t-SNE of {title}",
                                             seed=cell.seed),
            "traversal": lambda: figures.traversal_png(work.model, codes, tuple(split.train_x.shape[1:]),
                                                       title=f"latent traversal of {title}"),
        }
        out, images = {}, {}
        for kind, make in makers.items():
            if kind not in work.figures:
                try:
                    work.figures[kind] = make()
                except figures.NotApplicable as exc:
                    work.figures[kind] = NotApplicable(str(exc))
            made = work.figures[kind]
            if isinstance(made, NotApplicable):
                out[kind] = str(made)  # stored as its text
                continue
            out[kind] = figure_name(cell, kind)
            images[out[kind]] = made
        out["accuracy"] = figure_name(cell, "accuracy")  # drawn by the reports from the stored metrics
        return out, images

    def _samples(self, work: ModelWork, split: SplitWork, noisy: torch.Tensor) -> bytes | None:
        """The first test images clean, corrupted and reconstructed, for the reports' grids."""
        if split.test_x.dim() != 4:
            return None
        idx = split.eval_idx[:SAMPLE_COUNT]
        with torch.no_grad():
            recon = work.model(noisy[idx])
        return _uint8_npy(torch.stack([split.test_x[idx], noisy[idx], recon.reshape(noisy[idx].shape)]))

    # -- one cell ---------------------------------------------------------------------------------
    def evaluate(self, cell: Cell, progress: Progress | None = None) -> CellResult:
        """The cell's result: status, metrics, figures, provenance and timings. A plugin's failure fails the
        cell: its result says why."""
        progress = progress or Progress(quiet=True)
        started_at, started = now(), time.perf_counter()

        def ended(status: Status, reason: str | None = None, **found: Any) -> CellResult:
            provenance = {**environment(self.device), "started": started_at,
                          "ended": started_at if status == "skipped" else now()}
            wall = 0.0 if status == "skipped" else time.perf_counter() - started
            return CellResult(cell.describe(), status, reason, provenance, Timings(wall, found.pop("eval_s", None)),
                              **found)

        if cell.skip:
            return ended("skipped", cell.skip)
        found: dict[str, Any] = {}
        try:
            split = self.split(cell)
            noisy = self.noisy_test(cell, cell.severity)
            found["input_psnr"] = psnr_of(squared_error(noisy, split.test_x))
            found["eval_psnr"] = {
                str(s): psnr_of(squared_error(xs, split.eval_x))
                for s, xs in self.corrupted_eval_sets(cell).items()} if split.test_x.dim() == 4 else {}
            cnn_info: dict[str, Any] = {}
            if cell.model == BASELINE:
                _, fit, source = self.baseline_cnn(cell)
                cnn_info.update(baseline=fit.steps, baseline_cnn=source)
                base = self.baseline_accuracy(cell)
                results = downstream.score_downstream(base, base, cell.severity)
            else:
                work, source = self.trained(cell, progress)
                found["training"] = Training(source, work.seconds, len(work.history), work.history, work.checkpoint,
                                             len(split.train_x), len(split.test_x), len(split.eval_idx))
                eval_started = time.perf_counter()
                if work.footprint is None:
                    work.footprint = footprint(work.model, split.test_x)
                found["footprint"] = work.footprint
                results = [
                    *score_reconstruction(work.model, noisy, split.test_x),
                    *self._latent(cell, work, split, noisy),
                    *self._likelihood(cell, work, split),
                    *self._downstream(cell, work, split, cnn_info),
                    *self._generative(cell, work, split),
                ]
                found["figures"], found["artifacts"] = self._figures(cell, work, split)
                samples = self._samples(work, split, noisy)
                if samples is not None:
                    found["artifacts"][SAMPLES] = samples
                if work.prior_grid is not None:
                    found["artifacts"][PRIOR_SAMPLES] = work.prior_grid
                found["eval_s"] = time.perf_counter() - eval_started
            validation = {k: v for k, v in (("baseline", split.baseline_validation.get(protocol_of(cell))),
                                            ("augmented", cnn_info.get("augmented_validation"))) if v is not None}
            images = 0 if split.val_x is None else len(split.val_x)
            found["cnn"] = CnnSteps(cnn_info.get("baseline"), cnn_info.get("augmented"), cnn_info.get("baseline_cnn"),
                                    validation or None, images if cnn_info.get("baseline") else None)
            return ended("done", metrics=[r.as_row() for r in results],
                         items=per_item(results, SplitKey.of(cell).name), **found)
        except Exception as exc:  # a plugin's failure fails its cell, not the run
            kept = {k: found[k] for k in ("input_psnr", "training") if k in found}
            return ended("failed", f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc(), **kept)
