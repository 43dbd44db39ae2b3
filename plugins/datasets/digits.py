"""scikit-learn's bundled handwritten digits: 1,797 grey 8×8 images, 10 classes, no files needed."""

from importlib.util import find_spec
from pathlib import Path

from registry import Dataset

TEST_FRACTION = 0.25


def digits_sources(root: Path) -> list[Path]:
    """What the tensors are made from: scikit-learn's bundled file, and its package (the split is its
    ``train_test_split``; a reinstalled scikit-learn gives the files new times), found without importing it."""
    package = Path(find_spec("sklearn").origin).parent
    return [package / "datasets" / "data" / "digits.csv.gz", package / "__init__.py"]


def load_digits(root: Path) -> Dataset:
    """A fixed stratified 75/25 split (1,347 / 450); pixel values 0..16 scaled to [0, 1]."""
    import torch
    from sklearn.datasets import load_digits as _sklearn_digits  # imported on use: keeps `bench` startup fast
    from sklearn.model_selection import train_test_split

    bunch = _sklearn_digits()
    x = torch.as_tensor(bunch.images, dtype=torch.float32).div_(16.0).unsqueeze(1)
    y = torch.as_tensor(bunch.target, dtype=torch.long)
    train_idx, test_idx = train_test_split(
        torch.arange(len(y)).numpy(), test_size=TEST_FRACTION, stratify=y.numpy(), random_state=0
    )
    train_idx, test_idx = torch.as_tensor(train_idx), torch.as_tensor(test_idx)
    classes = tuple(str(c) for c in bunch.target_names)
    return Dataset(x[train_idx], y[train_idx], x[test_idx], y[test_idx], classes)
