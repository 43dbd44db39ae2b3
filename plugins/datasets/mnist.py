"""MNIST (LeCun et al.): 60,000 / 10,000 grey 28×28 handwritten digits, through torchvision."""

from pathlib import Path

from registry import Dataset

from .idx_files import idx_sources, load_idx_dataset

SYSTEM_DIRS: tuple[Path, ...] = ()  # no distribution package ships MNIST's IDX files
HOW = (
    "Run once with network access so torchvision can download MNIST into the data root (BENCH_DATA), or "
    "copy the four IDX files (train-images-idx3-ubyte, ...) into <BENCH_DATA>/MNIST/raw."
)


def load_mnist(root: Path) -> Dataset:
    return load_idx_dataset("MNIST", root, name="MNIST", system_dirs=SYSTEM_DIRS, how=HOW)


def mnist_sources(root: Path) -> list[Path]:
    return idx_sources(root, "MNIST")
