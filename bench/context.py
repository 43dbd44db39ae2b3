"""What a metric family scores a cell from: the cell's shared work, each piece computed once, on first use.

A :class:`Context` is made per cell by the evaluator and handed to every family the cell computes
(``FamilySpec.score(context)``). Everything it hands out is cached by the evaluator across families and
cells (a trained model's codes serve the latent family and the figures; the baseline CNN serves every model
of a seed), and every random draw is seeded from the cell, so a family's result does not depend on which
families or cells ran before it.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np
import torch

from registry import ModelSpec, NotApplicable

from .grid import BASELINE, Cell
from .hashing import canonical
from .result import CNN_ROLES, CnnUse
from .seeding import derive_seed, seeded

if TYPE_CHECKING:
    from .augmentation import Accuracy
    from .cnn import ReferenceClassifier
    from .features import DomainFeatures

#: The evaluator's types (bench.evaluator imports this module: naming them here would make a cycle).
Evaluator = ModelWork = SplitWork = Any


FIGURES_DIR = "figures"


def figure_name(cell: Cell, kind: str, family: str | None = None) -> str:
    """Where a figure of ``family`` of ``cell`` goes: named by the protocol it read (none under the profile's
    defaults; a family that trains no CNN is not named by the CNN budget)."""
    tags = "".join(f"_{tag}" for tag in (cell.tags_read_by(cell.scope(family)) if family else cell.protocol_tags))
    stem = f"{cell.dataset}_{cell.model_label}_{cell.noise_label}_s{cell.severity}_seed{cell.seed}{tags}_{kind}.png"
    return f"{FIGURES_DIR}/" + re.sub(r"[^A-Za-z0-9_.-]", "-", stem)


class Outputs:
    """What one family of a cell produced besides its metrics: figures (a path in the store, or why there is
    none), artifacts (bytes stored under a name) and the CNNs it trained or used (by role)."""

    def __init__(self) -> None:
        self.figures: dict[str, str] = {}
        self.artifacts: dict[str, bytes] = {}
        self.cnns: dict[str, CnnUse] = {}


class Context:
    """The shared work of one cell, for its families. See the README's "Writing a metric family"."""

    def __init__(self, evaluator: Evaluator, cell: Cell, work: ModelWork | None):
        self._evaluator, self.cell, self._work = evaluator, cell, work
        self.device = evaluator.device
        self.outputs: dict[str, Outputs] = {}
        self._family = ""

    def for_family(self, name: str) -> Context:
        """This context, recording outputs for the family ``name``."""
        self._family = name
        self.outputs.setdefault(name, Outputs())
        return self

    # -- what the cell is -------------------------------------------------------------------------
    @property
    def is_baseline(self) -> bool:
        """The cell is the reference CNN's own (no model): only families with ``baseline=True`` score it."""
        return self.cell.model == BASELINE

    @property
    def model_spec(self) -> ModelSpec:
        return self._evaluator.registry.spec("models", self.cell.model)

    @property
    def profile(self) -> Any:
        return self.cell.profile

    # -- the data ---------------------------------------------------------------------------------
    @property
    def split(self) -> SplitWork:
        return self._evaluator.split(self.cell)

    @property
    def train_x(self) -> torch.Tensor:
        """The limited training subset (clean), on the device."""
        return self.split.train_x

    @property
    def train_y(self) -> torch.Tensor:
        return self.split.train_y

    @property
    def test_x(self) -> torch.Tensor:
        """The cell's test images (reconstruction is scored on all of them)."""
        return self.split.test_x

    @property
    def eval_x(self) -> torch.Tensor:
        """The evaluation images: the subset of the test images the other families score on."""
        return self.split.eval_x

    @property
    def eval_y(self) -> torch.Tensor:
        return self.split.eval_y

    @property
    def classes(self) -> tuple[str, ...]:
        return self.split.classes

    @property
    def images(self) -> bool:
        """Whether the data are images ``[C, H, W]`` (else vectors)."""
        return self.split.train_x.dim() == 4

    @property
    def noisy_test(self) -> torch.Tensor:
        """The test images corrupted by the cell's noise at its severity (made once, shared by every model)."""
        return self._evaluator.noisy_test(self.cell, self.cell.severity)

    @property
    def noisy_eval(self) -> torch.Tensor:
        """The evaluation images corrupted by the cell's noise at its severity (the same images as
        :attr:`noisy_test`, restricted to :attr:`eval_x`)."""
        return self.noisy_test[self.split.eval_idx]

    def severities(self) -> list[int]:
        """Every severity the noise declares, and the cell's own when it is custom (0)."""
        return self._evaluator.eval_severities(self.cell)

    def corrupted_eval_sets(self) -> dict[int, torch.Tensor]:
        """The evaluation images corrupted at each of :meth:`severities`."""
        return self._evaluator.corrupted_eval_sets(self.cell)

    # -- the trained model ------------------------------------------------------------------------
    @property
    def work(self) -> ModelWork:
        if self._work is None:
            raise RuntimeError("the baseline cell has no model")
        return self._work

    @property
    def model(self) -> torch.nn.Module:
        """The cell's trained model, in eval mode, its outputs checked against the model contract as they are
        used (:class:`bench.checked.CheckedModel`: a broken one fails the family naming what it broke)."""
        model = self.work.used or self.work.model
        model.eval()
        return model

    def codes(self) -> tuple[np.ndarray, np.ndarray]:
        """The model's codes (encoder means) of the training subset and of the evaluation images."""
        return self.work.codes(self.split)

    def memo(self, key: Any, compute: Callable[[], Any]) -> Any:
        """``compute()``, once per trained model and ``key`` (include what else the value depends on: the
        noise, the CNN budget); later calls, from any family or cell of the model, get the same value."""
        name = bytes(canonical(key))
        if name not in self.work.memo:
            self.work.memo[name] = compute()
        return self.work.memo[name]

    def shared(self, key: Any, compute: Callable[[], Any]) -> Any:
        """``compute()``, once per split (dataset, seed, training subset, test images) and ``key``: what every
        model of the split shares (the reference classifier's predictions on the clean or the noisy images;
        include the noise and severity in the key where the value depends on them)."""
        name = bytes(canonical(key))
        memo = self.split.memo
        if name not in memo:
            memo[name] = compute()
        return memo[name]

    def augmentation(self) -> tuple[str, torch.Tensor, torch.Tensor]:
        """The augmentation samples, ``augment_k`` per training image with its label, and their key: drawn
        once per model (and per noise for a model that does not generate by itself)."""
        return self._evaluator.augmentation(self.cell, self.work, self.split)

    # -- the reference CNN and the feature network ------------------------------------------------
    def baseline_cnn(self) -> tuple[torch.nn.Module, Any, str]:
        """The reference CNN trained on the subset alone, its fit, and where it came from."""
        return self._evaluator.baseline_cnn(self.cell)

    def baseline_validation(self) -> float | None:
        """The baseline CNN's accuracy on the validation images (measured once, when it was trained or loaded;
        None without validation images)."""
        return self._evaluator.baseline_validation(self.cell)

    def reference_classifier(self) -> ReferenceClassifier:
        """The reference classifier of the cell's split (:class:`bench.cnn.ReferenceClassifier`): trained once
        on the clean limited subset under the converged protocol, shared by every cell and family of the
        split, kept as a checkpoint. ``predict(x)`` gives its predicted classes."""
        return self._evaluator.reference_classifier(self.cell)

    def validation_accuracy(self, cnn: torch.nn.Module) -> float | None:
        """A CNN's accuracy on the split's validation images (training images outside the subset, never the
        test set), at the cell's precision; None when the subset is the whole training split."""
        from .cnn import validation_accuracy

        split = self.split
        return validation_accuracy(cnn, split.val_x, split.val_y, self.cell.profile.precision)

    def baseline_accuracy(self) -> Accuracy:
        return self._evaluator.baseline_accuracy(self.cell)

    def domain_features(self) -> DomainFeatures:
        """The dataset's feature network (trained once per machine and dataset)."""
        return self._evaluator.domain_features(self.cell)

    def real_features(self) -> torch.Tensor:
        return self._evaluator.real_features(self.cell)

    def noisy_features(self) -> torch.Tensor:
        return self._evaluator.noisy_features(self.cell)

    # -- randomness and outputs -------------------------------------------------------------------
    def seed(self, *names: Any) -> int:
        """A seed derived from the cell's seed and ``names`` (for numpy or scikit-learn draws)."""
        return derive_seed(self.cell.seed, *names)

    @contextmanager
    def seeded(self, *names: Any) -> Iterator[None]:
        """torch's generators seeded from the cell's seed and ``names``: the same draws wherever it runs."""
        with seeded(derive_seed(self.cell.seed, *names), self.device):
            yield

    def add_figure(self, kind: str, made: bytes | NotApplicable | None, path: str | None = None) -> None:
        """A figure of the cell: PNG bytes stored at ``path`` (default: named after the cell and ``kind``), why
        there is none, or None: the reports draw it at that path from the stored metrics."""
        out = self.outputs[self._family]
        if isinstance(made, NotApplicable):
            out.figures[kind] = str(made)
            return
        out.figures[kind] = path or figure_name(self.cell, kind, self._family)
        if made is not None:
            out.artifacts[out.figures[kind]] = made

    def add_artifact(self, name: str, data: bytes) -> None:
        self.outputs[self._family].artifacts[name] = data

    def cnn_used(self, role: str, steps: int, *, source: str | None = None, validation: float | None = None) -> None:
        """A CNN the family trained or used, as the cell's record keeps it (``cnn_steps``, ``baseline_cnn``,
        ``cnn_validation``): ``role`` "baseline" (the reference CNN on the subset alone), "augmented" (on the
        subset plus samples) or "reference" (the reference classifier); its optimizer steps, where it came from
        ("trained", "checkpoint", "memory") and its accuracy on the validation images."""
        if role not in CNN_ROLES:
            raise ValueError(f"cnn_used takes a role of {', '.join(CNN_ROLES)}; got {role!r}")
        self.outputs[self._family].cnns[role] = CnnUse(int(steps), source, validation)
