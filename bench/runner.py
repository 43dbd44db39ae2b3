"""Runs planned cells: train (or reuse) the model, score it on the whole metric suite, store a record."""

from __future__ import annotations

import io
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from registry import PluginError, Registry
from registry.capabilities import missing_capabilities

from . import downstream, figures
from .checkpoints import Checkpoints, training_key
from .cnn import Fit
from .cost import expected_costs
from .data import LoadedDataset, subset
from .grid import BASELINE, Cell, noise_params_at
from .hashing import content_hash
from .metrics import score_reconstruction
from .metrics.latent import active_units, encode, score_latent
from .metrics.likelihood import score_likelihood
from .metrics.metric import MetricResult
from .metrics.reconstruction import psnr_of, squared_error
from .outcome import NotApplicable
from .progress import Progress
from .provenance import environment, now
from .seeding import derive_seed, seed_everything, seeded
from .store import SAMPLES, Store, needs_computing
from .summary import RunSummary
from .train import train

RERUN_CHOICES = ("failed", "all")
FIGURES_DIR = "figures"
SAMPLE_COUNT = 8


@dataclass
class _Trained:
    model: torch.nn.Module
    history: list[float]
    seconds: float
    checkpoint: str | None = None  # file name in the checkpoint directory
    memo: dict[str, Any] = field(default_factory=dict)  # results that depend on this model alone

    def once(self, key: str, compute: Callable[[], Any]) -> Any:
        if key not in self.memo:
            self.memo[key] = compute()
        return self.memo[key]


@dataclass(frozen=True)
class _Split:
    """The tensors of one (dataset, seed, profile), on the device."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor  # reconstruction is scored on all of it
    test_y: torch.Tensor
    eval_idx: torch.Tensor  # the test images of the latent, downstream and likelihood families
    classes: tuple[str, ...]


def split_name(cell: Cell) -> str:
    """What decides a cell's tensors: dataset, seed and the profile's sizes (not its CNN budget)."""
    p = cell.profile
    return json.dumps([cell.dataset, cell.dataset_fingerprint, cell.seed, p.train_size, p.test_size, p.eval_size])


def _protocol(cell: Cell) -> tuple[str, str]:
    return cell.profile.cnn_budget, cell.profile.precision


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


def figure_name(cell: Cell, kind: str) -> str:
    stem = f"{cell.dataset}_{cell.model_label}_{cell.noise_label}_s{cell.severity}_seed{cell.seed}_{kind}.png"
    return f"{FIGURES_DIR}/" + re.sub(r"[^A-Za-z0-9_.-]", "-", stem)


class Runner:
    """Runs cells one after another on ``device`` and stores each one's record as soon as it ends.

    Work shared between cells is done once: a model that is not denoising trains once per (dataset,
    seed) and is scored under every noise; each corrupted test set is made once and shared by all
    models; the baseline CNN trains once per (dataset, seed) and is evaluated once per noise. Trained
    models are kept as checkpoints beside the store, so a resumed run loads instead of training."""

    def __init__(self, registry: Registry, datasets: dict[str, LoadedDataset], store: Store, *,
                 device: str | torch.device = "cpu", progress: Progress | None = None,
                 checkpoints: Checkpoints | None = None, run_id: int | None = None):
        self.registry = registry
        self.datasets = datasets
        self.store = store
        self.device = torch.device(device)
        self.progress = progress
        self.checkpoints = checkpoints if checkpoints is not None else Checkpoints(store.path.parent / "checkpoints")
        self.run_id = run_id
        self._split: tuple[str, _Split] | None = None
        self._noisy: dict[str, torch.Tensor] = {}
        self._trained: dict[str, _Trained] = {}
        self._trained_group: tuple = ()
        self._baseline_cnns: dict[tuple[str, str], tuple[torch.nn.Module, Fit]] = {}
        self._baseline: dict[tuple, downstream.Accuracy] = {}

    def run(self, cells: list[Cell], *, rerun: str | None = None) -> RunSummary:
        summary = RunSummary()
        statuses = self.store.statuses([c.key for c in cells])
        todo = [cell for cell in cells if needs_computing(statuses.get(cell.key), rerun)]
        summary.reused = len(cells) - len(todo)
        progress = self.progress or Progress(quiet=True)
        costs = expected_costs(todo)
        progress.begin(len(todo), sum(costs.values()))
        try:
            for cell in todo:
                if rerun != "all" and not needs_computing(self.store.status(cell.key), rerun):
                    summary.reused += 1  # another process on the same store finished it meanwhile
                    progress.end_cell(cell.label, "stored by another run", 0.0, costs[cell.key])
                    continue
                progress.start_cell(cell.label)
                record, artifacts = self.run_cell(cell, progress)
                self.store.add(record, artifacts, run_id=self.run_id)
                summary.count(record, cell.label)
                progress.end_cell(cell.label, record["status"], record["wall_s"], costs[cell.key])
        finally:
            progress.close()
        return summary

    # -- shared work ------------------------------------------------------------------------------
    def _tensors(self, cell: Cell) -> _Split:
        name = split_name(cell)
        if self._split is None or self._split[0] != name:
            data = self.datasets[cell.dataset].data
            train_idx = subset(len(data.train_x), cell.profile.train_size, cell.seed)
            test_idx = subset(len(data.test_x), cell.profile.test_size, derive_seed(cell.seed, "test")).sort().values
            eval_idx = subset(len(test_idx), cell.profile.eval_size, derive_seed(cell.seed, "eval")).sort().values
            to = lambda t: t.to(self.device)  # noqa: E731
            split = _Split(to(data.train_x[train_idx]), to(data.train_y[train_idx]), to(data.test_x[test_idx]),
                           to(data.test_y[test_idx]), to(eval_idx), data.classes)
            self._split, self._noisy, self._baseline, self._baseline_cnns = (name, split), {}, {}, {}
        return self._split[1]

    def test_images(self, cell: Cell) -> torch.Tensor:
        """The cell's test images (its profile's subset), on the device."""
        return self._tensors(cell).test_x

    def _noisy_test(self, cell: Cell, severity: int) -> torch.Tensor:
        """The test set corrupted by the cell's noise at ``severity``: made once, shared by all models."""
        noise = self.registry.spec("noises", cell.noise)
        ladder = {k: v for k, v in cell.noise_overrides.items() if k != noise.calibrate}
        params = (cell.noise_params if severity == cell.severity else
                  noise_params_at(self.registry.entry("noises", cell.noise), self.datasets[cell.dataset], severity,
                                  ladder))
        name = json.dumps([cell.noise, severity, params], sort_keys=True)
        if name not in self._noisy:
            x_test = self._tensors(cell).test_x
            with seeded(derive_seed(cell.seed, "test-noise", name), self.device):
                noisy = noise.function(x_test, **params)
            if noisy.shape != x_test.shape or noisy.min() < 0 or noisy.max() > 1:
                raise ValueError(f"noise '{cell.noise}' returned shape {tuple(noisy.shape)} with values in "
                                 f"[{noisy.min():.3g}, {noisy.max():.3g}]; expected {tuple(x_test.shape)} in [0, 1]")
            self._noisy[name] = noisy
        return self._noisy[name]

    def _corrupted_eval_sets(self, cell: Cell) -> dict[int, torch.Tensor]:
        split = self._tensors(cell)
        return {s: self._noisy_test(cell, s)[split.eval_idx] for s in self._eval_severities(cell)}

    def _eval_severities(self, cell: Cell) -> list[int]:
        """Every severity the noise declares, and the cell's own when it is custom (0)."""
        return sorted({*self.registry.spec("noises", cell.noise).severities, cell.severity})

    def _baseline_cnn(self, cell: Cell, sources: dict[str, Any] | None = None) -> tuple[torch.nn.Module, Fit]:
        """The reference CNN trained on the limited subset alone, under the cell's CNN budget and
        precision: once per (dataset, seed, profile), kept as a checkpoint so that other workers,
        resumed runs and later runs load it (a file lock makes concurrent workers train it once).
        ``sources["baseline_cnn"]`` says where it came from: "trained", "checkpoint" or "memory"."""
        protocol = _protocol(cell)
        source = "memory"
        if protocol not in self._baseline_cnns:
            split = self._tensors(cell)
            key = training_key(kind=BASELINE, dataset=[cell.dataset, cell.dataset_fingerprint], seed=cell.seed,
                               profile=cell.profile.cnn_training(), bench=cell.versions.get("bench"))
            with self.checkpoints.lock(key), seeded(derive_seed(cell.seed, "baseline-cnn"), self.device):
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
            self._baseline_cnns[protocol] = (cnn, fit)
        if sources is not None:
            sources["baseline_cnn"] = source
        return self._baseline_cnns[protocol]

    def _baseline_accuracy(self, cell: Cell, sources: dict[str, Any] | None = None) -> downstream.Accuracy:
        """The baseline CNN's per-image correctness on the cell's test sets, once per noise."""
        key = (_protocol(cell), cell.noise_label, json.dumps(cell.noise_overrides, sort_keys=True, default=str))
        cnn, _ = self._baseline_cnn(cell, sources)
        if key not in self._baseline:
            split = self._tensors(cell)
            self._baseline[key] = downstream.accuracy(
                cnn, split.test_x[split.eval_idx], split.test_y[split.eval_idx], self._corrupted_eval_sets(cell),
                precision=cell.profile.precision)
        return self._baseline[key]

    def _training_set(self, cell: Cell) -> torch.Tensor:
        """The models' training subset: clean, or in the noisy-training-set scenario corrupted once by
        the cell's noise (a fixed noisy dataset, as collected data would be)."""
        x = self._tensors(cell).train_x
        if not cell.train_noise:
            return x
        with seeded(derive_seed(cell.seed, "train-noise", cell.noise_label, cell.severity), self.device):
            return self.registry.spec("noises", cell.noise).function(x, **cell.noise_params)

    def trained(self, cell: Cell, progress: Progress | None = None) -> tuple[_Trained, str]:
        """The cell's trained model and where it came from: "trained", "memory" (an earlier cell of
        this run) or "checkpoint" (an earlier run). ``bench export`` and ``bench time`` get their
        models here, so they load what ``bench run`` trained, and what they train ``bench run`` reuses."""
        progress = progress or Progress(quiet=True)
        entry = self.registry.entry("models", cell.model)
        spec = entry.spec
        sees_noise = spec.denoising or cell.train_noise
        key = json.dumps([cell.model, cell.model_params] + ([cell.noise, cell.noise_params] if sees_noise else []),
                         sort_keys=True, default=str)
        group = (self._split[0] if self._split else "", cell.model_label)
        if group != self._trained_group:  # the plan runs one (dataset, seed, model) at a time
            self._trained, self._trained_group = {}, group
        if key in self._trained:
            return self._trained[key], "memory"
        ckpt_key = training_key(model=[cell.model, cell.model_params, entry.distribution, entry.version],
                                noise=[cell.noise, cell.noise_params] if sees_noise else None,
                                train_noise=cell.train_noise, dataset=[cell.dataset, cell.dataset_fingerprint],
                                seed=cell.seed, profile=cell.profile.training(), bench=cell.versions.get("bench"))
        x_train = self._training_set(cell)
        seed_everything(cell.seed)  # same seed, same initial weights for every model of one architecture
        model = spec.factory(tuple(x_train.shape[1:]), **cell.model_params).to(self.device)
        missing = missing_capabilities(spec, model)  # a factory that is a function: checked once it builds
        if missing:
            raise PluginError(f"model '{cell.model}' of distribution '{entry.distribution}' declares the "
                              f"capabilities {', '.join(missing)} but the module it builds lacks them")
        stored = self.checkpoints.load(ckpt_key, model)
        if stored is not None:
            model.eval()
            self._trained[key] = _Trained(model, stored.history, stored.seconds, self.checkpoints.path(ckpt_key).name)
            return self._trained[key], "checkpoint"
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
        self._trained[key] = _Trained(model, history, seconds, path.name)
        return self._trained[key], "trained"

    # -- the families -----------------------------------------------------------------------------
    def _latent(self, cell: Cell, trained: _Trained, split: _Split, noisy: torch.Tensor) -> list[MetricResult]:
        model = trained.model
        train_codes = trained.once("train_codes", lambda: encode(model, split.train_x))
        test_codes = trained.once("test_codes", lambda: encode(model, split.test_x[split.eval_idx]))
        train_y, test_y = split.train_y.cpu().numpy(), split.test_y[split.eval_idx].cpu().numpy()
        clean = trained.once("latent_clean", lambda: [
            *score_latent(train_codes, train_y, test_codes, test_y, seed=cell.seed), active_units(test_codes)])
        noisy_codes = encode(model, noisy[split.eval_idx])
        return [*clean, *score_latent(train_codes, train_y, noisy_codes, test_y, noisy=True, seed=cell.seed)]

    def _downstream(self, cell: Cell, trained: _Trained, split: _Split, cnn_info: dict[str, Any]) -> list[MetricResult]:
        """The downstream family; ``cnn_info`` receives the optimizer steps of the augmented and baseline
        CNNs and where the baseline came from."""
        spec = self.registry.spec("models", cell.model)
        severities = self._eval_severities(cell)
        if not spec.generative:
            return downstream.not_applicable(f"model '{cell.model}' cannot generate samples (its spec says so)",
                                             severities)
        if split.train_x.dim() != 4:
            return downstream.not_applicable("the reference CNN takes images, the dataset has vectors", severities)
        noise = self.registry.spec("noises", cell.noise)
        corrupt = lambda batch: noise.function(batch, **cell.noise_params)  # noqa: E731

        def augmented_cnn() -> tuple[torch.nn.Module, Fit]:
            with seeded(derive_seed(cell.seed, "augment"), self.device):
                x_gen, y_gen = downstream.augment(trained.model, split.train_x, split.train_y,
                                                  k=cell.profile.augment_k, corrupt=corrupt,
                                                  generates="generate" in spec.capabilities)
            with seeded(derive_seed(cell.seed, "augmented-cnn"), self.device):
                return downstream.train_cnn(torch.cat([split.train_x, x_gen]), torch.cat([split.train_y, y_gen]),
                                            len(split.classes), profile=cell.profile,
                                            baseline_size=len(split.train_x))

        # A model that generates by itself makes the same samples under every noise: one CNN per model.
        uses_noise = "generate" not in spec.capabilities
        cnn_key = "cnn:" + json.dumps([_protocol(cell), [cell.noise, cell.noise_params] if uses_noise else None],
                                      sort_keys=True)
        cnn, fit = trained.once(cnn_key, augmented_cnn)
        acc = trained.once(f"{cnn_key}|acc:{cell.noise_label}", lambda: downstream.accuracy(
            cnn, split.test_x[split.eval_idx], split.test_y[split.eval_idx], self._corrupted_eval_sets(cell),
            precision=cell.profile.precision))
        baseline = self._baseline_accuracy(cell, cnn_info)
        cnn_info["augmented"], cnn_info["baseline"] = fit.steps, self._baseline_cnn(cell)[1].steps
        return downstream.score_downstream(acc, baseline, cell.severity)

    def _likelihood(self, cell: Cell, trained: _Trained, split: _Split) -> list[MetricResult]:
        with seeded(derive_seed(cell.seed, "likelihood"), self.device):
            spec = self.registry.spec("models", cell.model)
            return score_likelihood(trained.model, split.test_x[split.eval_idx], k=cell.profile.iw_samples,
                                    subset=cell.profile.iw_size, likelihood=spec.likelihood,
                                    posterior="posterior" in spec.capabilities)

    def _figures(self, cell: Cell, trained: _Trained, split: _Split) -> tuple[dict[str, str], dict[str, bytes]]:
        """The t-SNE and traversal PNGs of the cell: per kind a path or a not-applicable note, and the
        images (stored in the results store under those paths)."""
        codes = trained.memo["test_codes"]
        labels = split.test_y[split.eval_idx].cpu().numpy()
        idx = np.random.default_rng(cell.seed).permutation(len(codes))[: cell.profile.tsne_points]
        title = f"{cell.model_label} on {cell.dataset}" + (f" ({cell.noise_label} s{cell.severity})"
                                                    if self.registry.spec("models", cell.model).denoising else "")
        makers = {
            "tsne": lambda: figures.tsne_png(codes[idx], labels[idx], split.classes, title=f"t-SNE of {title}",
                                             seed=cell.seed),
            "traversal": lambda: figures.traversal_png(trained.model, codes, tuple(split.train_x.shape[1:]),
                                                       title=f"latent traversal of {title}"),
        }
        out, images = {}, {}
        for kind, make in makers.items():
            try:
                png = trained.once(f"figure:{kind}", make)
            except figures.NotApplicable as exc:
                out[kind] = str(NotApplicable(str(exc)))  # stored as its text
                continue
            out[kind] = figure_name(cell, kind)
            images[out[kind]] = png
        out["accuracy"] = figure_name(cell, "accuracy")  # drawn by the reports from the stored metrics
        return out, images

    def _samples(self, trained: _Trained, split: _Split, noisy: torch.Tensor) -> bytes | None:
        """The first test images clean, corrupted and reconstructed, for the reports' grids."""
        if split.test_x.dim() != 4:
            return None
        idx = split.eval_idx[:SAMPLE_COUNT]
        with torch.no_grad():
            recon = trained.model(noisy[idx])
        stack = torch.stack([split.test_x[idx], noisy[idx], recon.reshape(noisy[idx].shape)])
        buffer = io.BytesIO()
        np.save(buffer, (stack.clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy(), allow_pickle=False)
        return buffer.getvalue()

    # -- one cell ---------------------------------------------------------------------------------
    def run_cell(self, cell: Cell, progress: Progress) -> tuple[dict[str, Any], dict[str, bytes]]:
        """The cell's record (status, metrics, provenance) and its artifacts (figures, samples)."""
        started_at, started = now(), time.perf_counter()
        record: dict[str, Any] = {"cell": cell.describe(), "status": "done", "reason": None, "metrics": []}
        artifacts: dict[str, bytes] = {}
        if cell.skip:
            return {**record, "status": "skipped", "reason": cell.skip, "wall_s": 0.0,
                    "provenance": {**environment(self.device), "started": started_at, "ended": started_at}}, {}
        try:
            split = self._tensors(cell)
            noisy = self._noisy_test(cell, cell.severity)
            record["input_psnr"] = psnr_of(squared_error(noisy, split.test_x))
            record["eval_psnr"] = {
                str(s): psnr_of(squared_error(xs, split.test_x[split.eval_idx]))
                for s, xs in self._corrupted_eval_sets(cell).items()} if split.test_x.dim() == 4 else {}
            cnn_info: dict[str, Any] = {}
            if cell.model == BASELINE:
                base = self._baseline_accuracy(cell, cnn_info)
                cnn_info["baseline"] = self._baseline_cnn(cell)[1].steps
                results = downstream.score_downstream(base, base, cell.severity)
            else:
                trained, source = self.trained(cell, progress)
                record["train"] = {"source": source, "seconds": trained.seconds, "epochs": len(trained.history),
                                   "loss": trained.history, "checkpoint": trained.checkpoint,
                                   "train_size": len(split.train_x), "test_size": len(split.test_x),
                                   "eval_size": len(split.eval_idx)}
                eval_started = time.perf_counter()
                results = [
                    *score_reconstruction(trained.model, noisy, split.test_x),
                    *self._latent(cell, trained, split, noisy),
                    *trained.once("likelihood", lambda: self._likelihood(cell, trained, split)),
                    *self._downstream(cell, trained, split, cnn_info),
                ]
                record["figures"], artifacts = self._figures(cell, trained, split)
                samples = self._samples(trained, split, noisy)
                if samples is not None:
                    artifacts[SAMPLES] = samples
                record["eval_s"] = time.perf_counter() - eval_started
            record["metrics"] = [r.as_row() for r in results]
            record["items"] = per_item(results, self._split[0])
            record["baseline_cnn"] = cnn_info.pop("baseline_cnn", None)
            record["cnn_steps"] = cnn_info
        except Exception as exc:  # a plugin's failure fails its cell, not the run
            record["status"] = "failed"
            record["reason"] = f"{type(exc).__name__}: {exc}"
            artifacts = {}
        record["provenance"] = {**environment(self.device), "started": started_at, "ended": now()}
        record["wall_s"] = time.perf_counter() - started
        return record, artifacts
