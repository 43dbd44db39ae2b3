"""The training loop: mini-batches indexed out of in-memory tensors (no per-item DataLoader)."""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn


class TrainingDiverged(RuntimeError):
    """The loss stopped being finite; the cell is recorded as failed with this message."""


def adam(params: list[torch.nn.Parameter], lr: float) -> torch.optim.Optimizer:
    """Adam with the fused kernel (one step for all parameters: 10-20% faster for the small MLPs on
    a CPU), or the multi-tensor one where the device or dtype has no fused kernel."""
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, ValueError):
        return torch.optim.Adam(params, lr=lr, foreach=True)


def train(
    model: nn.Module,
    x: torch.Tensor,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    corrupt: Callable[[torch.Tensor], torch.Tensor] | None = None,
    on_epoch: Callable[[int, float], None] | None = None,
) -> list[float]:
    """Train ``model`` with Adam on ``x`` and return the mean loss of each epoch.

    Each epoch visits a fresh permutation of ``x`` in batches of ``batch_size``. With ``corrupt`` the
    model sees ``corrupt(batch)`` and reconstructs ``batch`` (a new corruption every batch); without it
    input and target are the batch itself. Randomness comes from torch's global generator: seed it first.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = adam(params, lr)
    n = len(x)
    history: list[float] = []
    model.train()
    for epoch in range(epochs):
        perm = torch.randperm(n, device=x.device)
        total = torch.zeros((), device=x.device)
        for start in range(0, n, batch_size):
            target = x[perm[start : start + batch_size]]
            inputs = corrupt(target) if corrupt is not None else target
            loss = model.loss(inputs, target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach() * len(target)
        mean = (total / n).item()
        if not math.isfinite(mean):
            raise TrainingDiverged(f"training loss became {mean} in epoch {epoch + 1} of {epochs}")
        history.append(mean)
        if on_epoch is not None:
            on_epoch(epoch, mean)
    model.eval()
    return history
