"""Profiles: how much data, how many epochs and which severities a run uses by default."""

from __future__ import annotations

from dataclasses import dataclass

from registry import ModelSpec, SelectionError
from registry.selection import unknown_name_message


@dataclass(frozen=True)
class Profile:
    """Sizes and schedule of a run.

    ``train_size`` images are drawn from the training split with the cell's seed (all of it when the
    split is smaller); ``test_size=None`` scores on the full test split. ``max_epochs=None`` trains for
    the model's own protocol epochs; an int caps them. ``batch_size=None`` uses the model's own.
    """

    name: str
    summary: str
    train_size: int
    test_size: int | None
    max_epochs: int | None
    batch_size: int | None
    severities: tuple[int, ...]
    eval_size: int | None  # test images for the latent, downstream and likelihood families (None: all)
    cnn_epochs: int  # epochs of the reference CNN, baseline and augmented alike
    augment_k: int  # generated samples per training image for the augmented CNN
    iw_samples: int  # importance samples of the likelihood estimate
    iw_size: int  # test images of the likelihood estimate
    tsne_points: int  # test codes in the t-SNE figure

    def epochs(self, spec: ModelSpec) -> int:
        return spec.epochs if self.max_epochs is None else min(spec.epochs, self.max_epochs)

    def batch(self, spec: ModelSpec) -> int:
        return spec.batch_size if self.batch_size is None else self.batch_size


PROFILES = {
    "quick": Profile(
        "quick",
        "5,000-image subset, at most 30 epochs, severities 1,3,5; reconstruction on the full test set, "
        "the other families on 2,000 test images, 1 CNN epoch: minutes on 2 CPU cores",
        train_size=5000,
        test_size=None,
        max_epochs=30,
        batch_size=None,
        severities=(1, 3, 5),
        eval_size=2000,
        cnn_epochs=1,
        augment_k=2,
        iw_samples=100,
        iw_size=500,
        tsne_points=500,
    ),
    "paper": Profile(
        "paper",
        "the protocol of the comparison: 5,000-image subset, batch 128, the models' own epochs "
        "(60 for the MLPs), full test set, severities 1-5, CNN 5 epochs, likelihood with k=1000 on "
        "1,000 images",
        train_size=5000,
        test_size=None,
        max_epochs=None,
        batch_size=128,
        severities=(1, 2, 3, 4, 5),
        eval_size=None,
        cnn_epochs=5,
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
