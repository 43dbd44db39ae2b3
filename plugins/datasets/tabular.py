"""A synthetic tabular dataset: scikit-learn's ``make_classification``, 1,000 × 20, 2 classes."""

from pathlib import Path

import numpy as np
import torch

from registry import Dataset

TEST_FRACTION = 0.25


def load_tabular(root: Path) -> Dataset:
    """Standardised, then scaled to [0, 1] with the training split's range (test values clipped);
    a fixed stratified 75/25 split (750 / 250)."""
    from sklearn.datasets import make_classification  # imported on use: keeps `bench` startup fast
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    x, y = make_classification(n_samples=1000, n_features=20, n_informative=10, n_redundant=5, n_classes=2,
                               random_state=0)
    train_x, test_x, train_y, test_y = train_test_split(x, y, test_size=TEST_FRACTION, stratify=y, random_state=0)
    standard = StandardScaler().fit(train_x)
    unit = MinMaxScaler().fit(standard.transform(train_x))
    scale = lambda a: np.clip(unit.transform(standard.transform(a)), 0.0, 1.0)  # noqa: E731
    as_x = lambda a: torch.as_tensor(scale(a), dtype=torch.float32)  # noqa: E731
    as_y = lambda a: torch.as_tensor(a, dtype=torch.long)  # noqa: E731
    return Dataset(as_x(train_x), as_y(train_y), as_x(test_x), as_y(test_y), ("0", "1"))
