"""The domain feature space of the generative family: features of the data's own kind instead of ImageNet
Inception's, which mislead on 28×28 grey images.

For images, the features are the penultimate layer (the last 128-unit ReLU) of a reference CNN trained once
per dataset on its *full* training split (:data:`EPOCHS` passes, at least :data:`MIN_STEPS` optimizer steps
for a small split; the compute-matched schedule: Adam, learning
rate decaying from :data:`LR` to 0 on a cosine, seed :data:`SEED`), kept as a checkpoint keyed by the dataset's
fingerprint and the recipe, with its accuracy on the full test split. The checkpoints live in the data cache
(``$BENCH_DATA/features``, beside the calibration), not in a results store: the network depends on the data
alone, so every store and run on this machine shares it. For vectors (``tabular``), the
features are the vectors standardised by the training split's mean and standard deviation.
"""

from __future__ import annotations

import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import torch
from filelock import Timeout

from .checkpoints import Checkpoints, training_key
from .cnn import ReferenceCNN, predict, train_classifier
from .data import data_root
from .seeding import seeded

EPOCHS = 3
MIN_STEPS = 500
LR = 3e-3
BATCH = 128
SEED = 0
RECIPE = {"network": "reference-cnn-penultimate", "epochs": EPOCHS, "min_steps": MIN_STEPS, "lr": LR, "batch": BATCH,
          "seed": SEED}


@dataclass
class DomainFeatures:
    """Maps images (or vectors) of one dataset to its feature space."""

    network: ReferenceCNN | None  # None: vectors are their own features, standardised
    mean: torch.Tensor | None = None
    std: torch.Tensor | None = None
    test_accuracy: float | None = None  # the network's, on the dataset's full test split
    source: str = "standardised vectors"  # "trained", "checkpoint" or "standardised vectors"
    seconds: float = 0.0

    @torch.inference_mode()
    def __call__(self, x: torch.Tensor, batch: int = 500) -> torch.Tensor:
        """Features of ``x``, ``[N, D]`` float32 on the CPU."""
        if self.network is None:
            return ((x.flatten(1).float() - self.mean.to(x.device)) / self.std.to(x.device)).cpu()
        net = self.network.eval()
        head = net.classifier[:-1]  # every layer but the last linear one
        out = [head(net.features(x[i : i + batch])) for i in range(0, len(x), batch)]
        return torch.cat(out).float().cpu()


def feature_key(dataset: str, fingerprint: str) -> str:
    """The checkpoint key of a dataset's feature network: its data and the recipe (change the recipe, and
    the key changes with it)."""
    return training_key(kind="features", dataset=[dataset, fingerprint], recipe=RECIPE)


def training_steps(train_size: int) -> int:
    """Optimizer steps of the feature network of a training split of ``train_size`` images."""
    return max(MIN_STEPS, EPOCHS * -(-train_size // BATCH))


def steps_left(dataset: str, loaded, directory: Path | None = None) -> int:
    """Optimizer steps the feature network of ``loaded`` (a :class:`bench.data.LoadedDataset` of label ``dataset``)
    still needs on this machine: none once its checkpoint is in ``directory`` (default ``$BENCH_DATA/features``)
    or for vectors, which are their own features; reads the data only when the checkpoint is missing."""
    checkpoints = Checkpoints(directory or data_root() / "features")
    if checkpoints.path(feature_key(dataset, loaded.fingerprint)).exists():
        return 0
    train_x = loaded.data.train_x
    return training_steps(len(train_x)) if train_x.dim() == 4 else 0


def domain_features(data, dataset: str, fingerprint: str, *, device: torch.device, directory: Path | None = None,
                    wait: bool = True) -> DomainFeatures | None:
    """The feature space of ``data`` (a :class:`registry.Dataset`): loaded from its checkpoint in ``directory``
    (default ``$BENCH_DATA/features``), or trained on the full training split and saved there (a file lock
    makes concurrent workers train it once). ``wait=False``: None, at once, while another process trains it."""
    train_x = data.train_x
    if train_x.dim() != 4:
        flat = train_x.flatten(1).float()
        return DomainFeatures(None, flat.mean(0), flat.std(0).clamp_min(1e-6))
    classes = len(data.classes)
    key = feature_key(dataset, fingerprint)
    checkpoints = Checkpoints(directory or data_root() / "features")
    with ExitStack() as held:
        try:
            held.enter_context(checkpoints.lock(key, timeout=-1 if wait else 0))
        except Timeout:
            return None  # another process holds it: it is training the network
        held.enter_context(seeded(SEED, device))
        network = ReferenceCNN(tuple(train_x.shape[1:]), classes).to(device)
        stored = checkpoints.load(key, network)
        if stored is not None and "test_accuracy" in stored.extra:
            network.eval()
            return DomainFeatures(network, test_accuracy=float(stored.extra["test_accuracy"]), source="checkpoint",
                                  seconds=stored.seconds)
        started = time.perf_counter()
        x, y = train_x.to(device), data.train_y.to(device)
        steps = training_steps(len(x))
        # not progress (a worker has none): the one long wait of a first run must say what it is
        print(f"bench: training the {dataset} feature network for the generative family, once per machine "
              f"({steps} steps; other cells of {dataset} go on with their other families)", file=sys.stderr,
              flush=True)
        fit = train_classifier(network, x, y, batch_size=BATCH, lr=LR, steps=steps)
        seconds = time.perf_counter() - started
        accuracy = (predict(network, data.test_x.to(device)) == data.test_y.to(device)).double().mean().item()
        network.to(memory_format=torch.contiguous_format)
        checkpoints.save(key, network, fit.history, seconds, {"test_accuracy": accuracy, "steps": fit.steps})
    return DomainFeatures(network, test_accuracy=accuracy, source="trained", seconds=seconds)
