"""The reference classifiers (docs/ARCHITECTURE.md, "Reference CNN"): the CNN for images, a small MLP for
vectors; training and inference for them."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from .precision import autocast
from .train import FusedAdam, adam


class ReferenceCNN(nn.Module):
    """conv 1→32 (3×3, padding 1, reflect) · ReLU · conv 32→64 (same) · ReLU · max-pool 2 · flatten ·
    3 × [linear 128 · ReLU] · linear → classes. Inputs ``[N, C, H, W]``; vectors are not images.

    The second ReLU runs after the max-pool: ReLU is monotone, so ``relu(max(a, b)) == max(relu(a), relu(b))``
    and the gradient takes the same route: outputs and gradients are bit for bit those of the order above
    (``tests/test_downstream.py`` checks it), on a quarter of the elements. Measured on one thread of this
    project's 2-core AVX2 CPU (flags avx2, fma), idle, both orders in one process: channels-last (the converged
    and compute-matched protocols) 1.23-1.25x a step in blocks of 10 consecutive steps, as training runs them
    (259 -> 210 ms), 1.11x when the two orders step alternately; the default layout (equal epochs) 1.03x."""

    def __init__(self, shape: tuple[int, ...], classes: int):
        super().__init__()
        channels, height, width = shape
        self.features = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1, padding_mode="reflect"),
            nn.ReLU(),
            nn.Conv2d(32, 64, 3, padding=1, padding_mode="reflect"),
            nn.MaxPool2d(2),
            nn.ReLU(),
            nn.Flatten(),
        )
        flat = 64 * (height // 2) * (width // 2)
        self.classifier = nn.Sequential(
            nn.Linear(flat, 128), nn.ReLU(),
            nn.Linear(128, 128), nn.ReLU(),
            nn.Linear(128, 128), nn.ReLU(),
            nn.Linear(128, classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class ReferenceMLP(nn.Module):
    """The reference classifier of vector data: linear 128 · ReLU · linear 128 · ReLU · linear → classes."""

    def __init__(self, shape: tuple[int, ...], classes: int):
        super().__init__()
        (features,) = shape
        self.classifier = nn.Sequential(nn.Linear(features, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(),
                                        nn.Linear(128, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(x)


def new_classifier(shape: tuple[int, ...], classes: int) -> nn.Module:
    """The reference classifier of data of ``shape`` (one item's): the CNN for images ``[C, H, W]``, the MLP
    for vectors ``[D]``."""
    return ReferenceCNN(shape, classes) if len(shape) == 3 else ReferenceMLP(shape, classes)


@dataclass(frozen=True)
class Fit:
    """What training a classifier did: the mean loss of each pass over the data and the optimizer steps
    taken (the quantity the compute-matched protocol holds equal)."""

    history: list[float]
    steps: int


def cosine_lr(lr: float, step: int, steps: int) -> float:
    """The learning rate of ``step`` (0-based) of ``steps``: ``lr`` decaying to 0 on a half cosine, so that
    the final weights do not depend on where a noisy constant-rate trajectory happened to stop."""
    return lr * 0.5 * (1 + math.cos(math.pi * step / steps))


def _set_lr(optimizer: FusedAdam | torch.optim.Optimizer, lr: float) -> None:
    if isinstance(optimizer, FusedAdam):
        optimizer.lr = lr
    else:
        for group in optimizer.param_groups:
            group["lr"] = lr


def train_classifier(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch_size: int, lr: float = 1e-3,
                     epochs: int | None = None, steps: int | None = None, precision: str = "fp32") -> Fit:
    """Adam on cross-entropy over in-memory tensors, a fresh permutation per pass over the data.

    Give ``epochs`` (the equal-epochs protocol: a constant learning rate ``lr`` for that many passes, so
    more data means more steps) or ``steps`` (the compute-matched protocol: exactly that many optimizer
    steps whatever the size of ``x``, the learning rate decaying from ``lr`` to 0 on a cosine, images
    channels-last, and with ``precision="bf16"`` bfloat16 autocast)."""
    if (epochs is None) == (steps is None) or len(x) == 0:
        raise ValueError("give epochs or steps, and at least one training item")
    optimizer = adam([p for p in model.parameters() if p.requires_grad], lr)
    n = len(x)
    matched = steps is not None
    if (matched or precision == "bf16") and x.dim() == 4:
        model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    total_steps = steps if matched else epochs * -(-n // batch_size)
    history, taken = [], 0
    model.train()
    while taken < total_steps:
        perm = torch.randperm(n, device=x.device)
        total, seen = torch.zeros((), device=x.device), 0
        for start in range(0, n, batch_size):
            if taken == total_steps:
                break
            idx = perm[start : start + batch_size]
            if matched:
                _set_lr(optimizer, cosine_lr(lr, taken, total_steps))
            with autocast(precision, x.device):
                loss = F.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            taken += 1
            total += loss.detach().float() * len(idx)
            seen += len(idx)
        history.append((total / seen).item())
    model.eval()
    return Fit(history, taken)


@torch.inference_mode()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 128, precision: str = "fp32") -> torch.Tensor:
    """Predicted classes for ``x``: inference mode, channels-last convolutions (twice the images per
    second of the default layout on a CPU) and batches small enough for the activations to stay in
    cache (batch 1000 was 30% slower than 128)."""
    model.eval()
    if x.dim() == 4:
        model.to(memory_format=torch.channels_last)
    out = []
    for i in range(0, len(x), batch_size):
        batch = x[i : i + batch_size]
        if batch.dim() == 4:
            batch = batch.contiguous(memory_format=torch.channels_last)
        with autocast(precision, x.device):
            out.append(model(batch).argmax(1))
    return torch.cat(out)


def validation_accuracy(cnn: nn.Module, x: torch.Tensor | None, y: torch.Tensor | None,
                        precision: str = "fp32") -> float | None:
    """A CNN's accuracy on validation images ``x`` (training images outside the subset, never the test set);
    None when there are none (the subset is the whole training split)."""
    if x is None or len(x) == 0:
        return None
    return float((predict(cnn, x, precision=precision) == y).double().mean())


@dataclass(frozen=True)
class ReferenceClassifier:
    """The classifier a family hands its inputs to (:meth:`bench.context.Context.reference_classifier`): the
    reference CNN (images) or MLP (vectors) trained once per dataset, seed and training subset on the clean
    limited subset under the converged protocol, shared by every cell and family of that split (for images
    the same network and checkpoint as the augmentation protocol's baseline). ``steps``: its optimizer steps;
    ``source``: "trained", "checkpoint" or "memory"; ``validation``: its accuracy on training-split images
    outside the subset (None where there are none)."""

    network: nn.Module
    steps: int
    source: str
    precision: str
    validation: float | None

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Predicted classes of ``x`` (items shaped as the training subset's)."""
        return predict(self.network, x, precision=self.precision)
