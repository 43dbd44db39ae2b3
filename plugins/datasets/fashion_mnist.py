"""Fashion-MNIST (Xiao et al., 2017): 60,000 / 10,000 grey 28×28 images of 10 clothing classes."""

from pathlib import Path

from registry import Dataset

from .idx_files import idx_sources, load_idx_dataset

SYSTEM_DIRS = (Path("/usr/share/datasets/fashion-mnist"),)
HOW = (
    "Install it with 'apt-get install dataset-fashion-mnist' (Debian/Ubuntu), or run once with network "
    "access so torchvision can download it into the data root (BENCH_DATA)."
)


def load_fashion_mnist(root: Path) -> Dataset:
    return load_idx_dataset("FashionMNIST", root, name="Fashion-MNIST", system_dirs=SYSTEM_DIRS, how=HOW)


def fashion_mnist_sources(root: Path) -> list[Path]:
    return idx_sources(root, "FashionMNIST")
