"""Profiles: how much data, how many epochs and which severities a run uses by default."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from registry import BenchError, ModelSpec, SelectionError
from registry.selection import unknown_name_message

#: How the CNNs of the augmentation family are given compute, each protocol named by the question it answers:
#: ``converged`` (the default; "do the samples help?"): every CNN trained to convergence on its own training
#: set, ``cnn_converged_epochs`` passes over it and at least ``cnn_min_steps`` optimizer steps, the learning
#: rate decaying on a cosine (an augmented CNN with k samples per image takes (1+k)x the baseline's steps);
#: ``steps`` ("given this compute, are samples worth more than repeating the real images?"): the same number
#: of optimizer steps for the baseline and every augmented CNN (compute-matched); ``epochs`` (the protocol
#: as such comparisons are usually published): the same number of passes over each one's training set at a
#: constant learning rate.
BUDGETS = ("converged", "steps", "epochs")


#: Fields of a profile that decide no result: prose, the default families (results are kept per family) and
#: the default number of seeds (each seed is its own cell).
PROFILE_PROSE = ("summary", "families", "seeds")


@dataclass(frozen=True)
class Profile:
    """Sizes and schedule of a run.

    ``train_size`` images are drawn from the training split with the cell's seed (all of it when the
    split is smaller); ``test_size=None`` scores on the full test split. ``max_epochs=None`` trains for
    the model's own protocol epochs; an int caps them. ``batch_size=None`` uses the model's own.
    ``cnn_budget`` picks the augmentation protocol (see :data:`BUDGETS`). Under ``steps`` every CNN of a
    comparison takes the optimizer steps of ``cnn_matched_epochs`` passes over the baseline's training
    subset (:meth:`cnn_steps`), with a learning rate decaying from ``cnn_lr`` to 0; under ``epochs`` each
    CNN takes ``cnn_epochs`` passes over its own training set at a constant learning rate of 1e-3.
    ``precision`` is the CNN's arithmetic (``fp32`` or ``bf16``).
    """

    name: str
    summary: str
    train_size: int
    test_size: int | None
    max_epochs: int | None
    batch_size: int | None
    severities: tuple[int, ...]
    eval_size: int | None  # test images for every family but reconstruction (None: all)
    cnn_epochs: int  # the equal-epochs protocol: passes of every CNN over its own training set
    cnn_matched_epochs: int  # the compute-matched protocol: every CNN takes this many baseline epochs' steps
    augment_k: int  # generated samples per training image for the augmented CNN
    iw_samples: int  # importance samples of the likelihood estimate
    iw_size: int  # test images of the likelihood estimate
    tsne_points: int  # test codes in the t-SNE figure
    cnn_budget: str = "converged"  # one of BUDGETS
    cnn_converged_epochs: int = 20  # the converged protocol: passes of every CNN over its own training set ...
    cnn_min_steps: int = 500  # ... and at least this many optimizer steps (small subsets)
    precision: str = "fp32"  # the CNN's: "fp32" or "bf16"
    cnn_lr: float = 3e-3  # Adam's peak learning rate for the compute-matched CNNs (equal epochs: 1e-3, as before)
    cnn_batch: int = 128
    #: the metric families a run computes unless told (``--families``); not part of a cell's key
    families: tuple[str, ...] = ("reconstruction", "latent", "downstream", "likelihood", "augmentation", "generative")
    #: the seeds a run computes unless told (``--seeds``): enough for the claims; not part of a cell's key
    seeds: int = 1

    def epochs(self, spec: ModelSpec) -> int:
        return spec.epochs if self.max_epochs is None else min(spec.epochs, self.max_epochs)

    def batch(self, spec: ModelSpec) -> int:
        return spec.batch_size if self.batch_size is None else self.batch_size

    def with_protocol(self, *, cnn_budget: str | None = None, precision: str | None = None) -> Profile:
        """This profile under another CNN budget or precision."""
        return replace(self, cnn_budget=cnn_budget or self.cnn_budget, precision=precision or self.precision)

    def with_train_size(self, size: int | None) -> Profile:
        """This profile drawing ``size`` training images (None: its own size)."""
        return self if size is None else replace(self, train_size=size)

    def training(self) -> dict[str, Any]:
        """What of the profile a model's training depends on (the CNN's budget and precision do not
        change the autoencoders: one checkpoint serves every downstream protocol)."""
        return {"train_size": self.train_size, "max_epochs": self.max_epochs, "batch_size": self.batch_size}

    def cnn_steps(self, baseline_size: int, own_size: int | None = None) -> int:
        """Optimizer steps of a CNN trained on ``own_size`` images when the baseline trains on
        ``baseline_size``: compute-matched, ``cnn_matched_epochs`` passes over the baseline's subset for
        every CNN (so the budget scales with the limited subset); converged, ``cnn_converged_epochs`` passes
        over its own set and at least ``cnn_min_steps``."""
        if self.cnn_budget == "converged":
            own = baseline_size if own_size is None else own_size
            return max(self.cnn_converged_epochs * -(-own // self.cnn_batch), self.cnn_min_steps)
        return self.cnn_matched_epochs * -(-baseline_size // self.cnn_batch)

    def cnn_training(self) -> dict[str, Any]:
        """What of the profile the baseline CNN's weights depend on."""
        if self.cnn_budget == "steps":
            budget = {"matched_epochs": self.cnn_matched_epochs, "lr": self.cnn_lr}
        elif self.cnn_budget == "converged":
            budget = {"converged_epochs": self.cnn_converged_epochs, "min_steps": self.cnn_min_steps,
                      "lr": self.cnn_lr}
        else:
            budget = {"epochs": self.cnn_epochs}
        # "crn": the CNNs of a seed share their initial weights (bench.evaluator.cnn_seed); a baseline checkpoint
        # from before that was drawn from another seed and must not be paired with the new augmented CNNs
        return {"train_size": self.train_size, "batch": self.cnn_batch, "precision": self.precision, **budget,
                "crn": 1}

    def cnn_label(self) -> str:
        """The CNN budget in words, as leaderboard headers name it."""
        if self.cnn_budget == "converged":
            return (f"converged: every CNN {self.cnn_converged_epochs} epochs of its own training set and at least "
                    f"{self.cnn_min_steps} steps, learning rate {self.cnn_lr:g} decaying to 0")
        if self.cnn_budget == "steps":
            return (f"compute-matched: every CNN the optimizer steps of {self.cnn_matched_epochs} epochs of the "
                    f"baseline's subset, learning rate {self.cnn_lr:g} decaying to 0")
        return (f"equal epochs: every CNN {self.cnn_epochs} epoch{'s' * (self.cnn_epochs != 1)} of its own "
                f"training set, so an augmented CNN takes {1 + self.augment_k}x the baseline's steps")


PROFILES = {
    "quick": Profile(
        "quick",
        "5,000-image subset, at most 30 epochs, severities 1,3,5, 3 seeds; reconstruction on the full test set, "
        "the other families on 2,000 test images; CNNs converged in 10 epochs of their own set and at least 500 "
        "steps (compute-matched: 10 baseline epochs of steps; equal epochs: 1)",
        train_size=5000,
        test_size=None,
        max_epochs=30,
        batch_size=None,
        severities=(1, 3, 5),
        eval_size=2000,
        cnn_epochs=1,
        cnn_matched_epochs=10,
        augment_k=2,
        iw_samples=100,
        iw_size=500,
        tsne_points=500,
        # 10 epochs: within 0.5 points of 3x them for the baseline CNN on Fashion-MNIST's 5,000 images (+0.4, +0.8,
        # +0.1 points on seeds 0-2, mean +0.43; README "Convergence, measured"), at 500 steps where 20 epochs take 800
        cnn_converged_epochs=10,
        # minutes: one reference CNN per seed (downstream), no CNN per cell, no feature network
        families=("reconstruction", "latent", "downstream", "likelihood"),
        seeds=3,  # the claims rest on seeds: one seed supports none
    ),
    "paper": Profile(
        "paper",
        "the protocol of the comparison: 5,000-image subset, batch 128, the models' own epochs "
        "(60 for the MLPs), full test set, severities 1-5, every CNN the steps of 10 baseline epochs "
        "(equal epochs: 5), likelihood with k=1000 on 1,000 images",
        train_size=5000,
        test_size=None,
        max_epochs=None,
        batch_size=128,
        severities=(1, 2, 3, 4, 5),
        eval_size=None,
        cnn_epochs=5,
        cnn_matched_epochs=10,
        augment_k=2,
        iw_samples=1000,
        iw_size=1000,
        tsne_points=2000,
    ),
}


def get_profile(name: str) -> Profile:
    if name not in PROFILES:
        raise SelectionError(unknown_name_message("profile", name, sorted(PROFILES)))
    return PROFILES[name]


def parse_budgets(text: str) -> list[str]:
    """``--cnn-budget converged``, ``steps``, ``epochs`` or several (``converged,steps,epochs``), checked."""
    budgets = [part.strip() for part in text.split(",")]
    bad = [b for b in budgets if b not in BUDGETS]
    if bad or not budgets:
        raise BenchError(f"--cnn-budget takes {', '.join(BUDGETS)}, or several separated by commas. "
                         f"Got {text!r} instead.")
    return list(dict.fromkeys(budgets))
