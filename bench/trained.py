"""The trained models ``bench export`` and ``bench time`` work on: one per dataset × model variant (× the
training noise of a denoising model), loaded from the checkpoints ``bench run`` kept, trained where
missing (and checkpointed, so a later ``bench run`` reuses them in turn)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import torch
from torch import nn

from registry import Registry

from .data import LoadedDataset
from .export import variant
from .grid import BASELINE, Cell, plan
from .profiles import Profile
from .progress import Progress
from .store import Store
from .threads import DEFAULT_THREADS, threads


@dataclass
class Target:
    """A model variant to export or time; ``skip`` says why it cannot be."""

    cell: Cell
    variant: str
    skip: str | None = None


@dataclass
class TrainedModel:
    target: Target
    model: nn.Module
    checkpoint: str  # file name under the store's checkpoints/
    source: str  # "checkpoint", "trained" or "memory"
    test_images: torch.Tensor


def targets(registry: Registry, *, datasets: list[str], models: list[tuple[str, dict]], noises: list[tuple[str, dict]],
            severity: int, seed: int, profile: Profile, loaded: dict[str, LoadedDataset]) -> list[Target]:
    """The distinct trained models of the grid: the cells of ``bench run`` at one severity and seed, one
    per model variant (a model that is not denoising is trained once whatever the noise)."""
    cells = plan(registry, datasets=datasets, models=models, noises=noises, severities=[severity], seeds=[seed],
                 profile=profile, loaded=loaded)
    chosen: dict[tuple[str, str], Target] = {}
    for cell in cells:
        if cell.model == BASELINE:
            continue
        name = variant(cell, registry.spec("models", cell.model).denoising)
        chosen.setdefault((cell.dataset, name), Target(cell, name, cell.skip))
    return list(chosen.values())


def trained_models(registry: Registry, chosen: list[Target], store: Store, loaded: dict[str, LoadedDataset], *,
                   progress: Progress | None = None) -> Iterator[TrainedModel | tuple[Target, str]]:
    """Each target's trained model on the CPU, or ``(target, reason)`` when it could not be trained."""
    from .checkpoints import Checkpoints
    from .evaluator import Evaluator

    evaluator = Evaluator(registry, loaded, Checkpoints(store.path.parent / "checkpoints"), device="cpu")
    for target in chosen:
        if target.skip:
            yield target, target.skip
            continue
        try:
            with threads(DEFAULT_THREADS):  # trained as `bench run` trains it, so the checkpoint is the same
                trained, source = evaluator.trained(target.cell, progress)
        except Exception as exc:  # a plugin's failure costs that model, not the others
            yield target, f"training failed: {type(exc).__name__}: {exc}"
            continue
        yield TrainedModel(target, trained.model.eval(), trained.checkpoint or "", source,
                           evaluator.test_images(target.cell))
