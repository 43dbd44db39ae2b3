"""Built-in datasets."""

from registry import DatasetSpec, hookimpl

from .digits import load_digits
from .fashion_mnist import load_fashion_mnist


@hookimpl
def bench_datasets() -> list[DatasetSpec]:
    return [
        DatasetSpec("digits", load_digits, "scikit-learn's 8x8 handwritten digits, 1,347 / 450, no files needed"),
        DatasetSpec(
            "fashion_mnist",
            load_fashion_mnist,
            "Fashion-MNIST 28x28, 60,000 / 10,000 (system package dataset-fashion-mnist, else downloaded)",
        ),
    ]
