"""Runs planned cells: train (or reuse) the model, corrupt the test set, score, store one record."""

from __future__ import annotations

import json
import os
import platform
import socket
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import torch
import torchvision

from registry import Registry

from . import __version__
from .data import LoadedDataset, subset
from .grid import Cell
from .metrics import score_reconstruction
from .metrics.reconstruction import psnr_of, squared_error
from .progress import Progress
from .seeding import derive_seed, seed_everything
from .store import Store
from .train import train

RERUN_CHOICES = ("failed", "all")


@dataclass
class RunSummary:
    computed: int = 0
    failed: int = 0
    reused: int = 0  # cells already in the store, not computed again
    failures: list[str] = field(default_factory=list)


@dataclass
class _Trained:
    model: torch.nn.Module
    history: list[float]
    seconds: float


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _environment(device: torch.device) -> dict[str, Any]:
    return {
        "bench": __version__,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "python": platform.python_version(),
        "host": socket.gethostname(),
        "device": str(device),
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "pid": os.getpid(),
    }


class Runner:
    """Runs cells one after another on ``device``. Trained models are kept while consecutive cells
    can reuse them: a model that is not denoising trains once per (dataset, seed) and is scored under
    every noise and severity, as the protocol prescribes (plain models never see the noise)."""

    def __init__(self, registry: Registry, datasets: dict[str, LoadedDataset], store: Store, *,
                 device: str | torch.device = "cpu", progress: Progress | None = None):
        self.registry = registry
        self.datasets = datasets
        self.store = store
        self.device = torch.device(device)
        self.progress = progress
        self._trained: dict[str, _Trained] = {}
        self._trained_group: tuple = ()
        self._on_device: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def run(self, cells: list[Cell], *, rerun: str | None = None) -> RunSummary:
        summary = RunSummary()
        statuses = self.store.statuses()
        todo = []
        for cell in cells:
            status = statuses.get(cell.key)
            if status is None or rerun == "all" or (rerun == "failed" and status == "failed"):
                todo.append(cell)
            else:
                summary.reused += 1
        progress = self.progress or Progress(quiet=True)
        progress.begin(len(todo))
        try:
            for cell in todo:
                progress.start_cell(cell.label)
                record = self.run_cell(cell, progress)
                self.store.add(record)
                summary.computed += 1
                if record["status"] == "failed":
                    summary.failed += 1
                    summary.failures.append(f"{cell.label}: {record['reason']}")
                progress.end_cell(cell.label, record["status"], record["wall_s"])
        finally:
            progress.close()
        return summary

    # -- one cell -------------------------------------------------------------------------------
    def _tensors(self, cell: Cell) -> tuple[torch.Tensor, torch.Tensor]:
        """The cell's training subset and test set, on the device (shared by cells of one seed)."""
        name = f"{cell.dataset}\x1f{cell.seed}\x1f{cell.profile.name}"
        if name not in self._on_device:
            data = self.datasets[cell.dataset].data
            train_idx = subset(len(data.train_x), cell.profile.train_size, cell.seed)
            test_idx = subset(len(data.test_x), cell.profile.test_size, derive_seed(cell.seed, "test"))
            self._on_device = {name: (data.train_x[train_idx].to(self.device),
                                      data.test_x[test_idx.sort().values].to(self.device))}
        return self._on_device[name]

    def _train_key(self, cell: Cell, denoising: bool) -> str:
        parts = [cell.dataset, cell.dataset_fingerprint, cell.seed, cell.profile, cell.model, cell.model_params]
        if denoising:
            parts += [cell.noise, cell.noise_params]
        return json.dumps(parts, sort_keys=True, default=str)

    def _model(self, cell: Cell, x_train: torch.Tensor, progress: Progress) -> tuple[_Trained, bool]:
        spec = self.registry.spec("models", cell.model)
        key = self._train_key(cell, spec.denoising)
        if key in self._trained:
            return self._trained[key], True
        noise = self.registry.spec("noises", cell.noise)
        corrupt = (lambda batch: noise.function(batch, **cell.noise_params)) if spec.denoising else None
        seed_everything(cell.seed)  # same seed, same initial weights for every model of one architecture
        model = spec.factory(tuple(x_train.shape[1:]), **cell.model_params).to(self.device)
        epochs = cell.profile.epochs(spec)
        progress.start_training(cell.label, epochs)
        started = time.perf_counter()
        try:
            history = train(model, x_train, epochs=epochs, batch_size=cell.profile.batch(spec), lr=spec.lr,
                            corrupt=corrupt, on_epoch=progress.epoch)
        finally:
            progress.end_training()
        trained = _Trained(model, history, time.perf_counter() - started)
        # The plan runs the cells of one (dataset, seed, model) back to back: older models are done.
        group = (cell.dataset, cell.seed, cell.model)
        if group != self._trained_group:
            self._trained, self._trained_group = {}, group
        self._trained[key] = trained
        return trained, False

    def _noisy_test(self, cell: Cell, x_test: torch.Tensor) -> torch.Tensor:
        """The test set corrupted identically for every model of a (noise, severity, seed)."""
        noise = self.registry.spec("noises", cell.noise)
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(derive_seed(cell.seed, "test-noise", cell.noise, cell.severity,
                                          json.dumps(cell.noise_params, sort_keys=True)))
            noisy = noise.function(x_test, **cell.noise_params)
        if noisy.shape != x_test.shape or noisy.min() < 0 or noisy.max() > 1:
            raise ValueError(f"noise '{cell.noise}' returned shape {tuple(noisy.shape)} with values in "
                             f"[{noisy.min():.3g}, {noisy.max():.3g}]; expected {tuple(x_test.shape)} in [0, 1]")
        return noisy

    def run_cell(self, cell: Cell, progress: Progress) -> dict[str, Any]:
        started_at, started = _now(), time.perf_counter()
        record: dict[str, Any] = {"cell": cell.describe(), "status": "done", "reason": None, "metrics": []}
        try:
            x_train, x_test = self._tensors(cell)
            trained, reused = self._model(cell, x_train, progress)
            noisy = self._noisy_test(cell, x_test)
            eval_started = time.perf_counter()
            results = score_reconstruction(trained.model, noisy, x_test)
            record["metrics"] = [r.as_row() for r in results]
            record["input_psnr"] = psnr_of(squared_error(noisy, x_test))
            record["train"] = {"reused": reused, "seconds": trained.seconds, "epochs": len(trained.history),
                               "loss": trained.history, "train_size": len(x_train), "test_size": len(x_test)}
            record["eval_s"] = time.perf_counter() - eval_started
        except Exception as exc:  # a plugin's failure fails its cell, not the run
            record["status"] = "failed"
            record["reason"] = f"{type(exc).__name__}: {exc}"
        record["provenance"] = {**_environment(self.device), "started": started_at, "ended": _now()}
        record["wall_s"] = time.perf_counter() - started
        return record
