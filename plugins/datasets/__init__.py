"""Built-in datasets."""

from registry import DatasetSpec, deferred, hookimpl

from .digits import digits_sources
from .fashion_mnist import fashion_mnist_sources
from .mnist import mnist_sources

# the loaders are imported when a dataset is read (torch with them), not when the registry loads
load_digits, load_fashion_mnist, load_mnist, load_tabular = (
    deferred(f"plugins.datasets.{name}:load_{name}") for name in ("digits", "fashion_mnist", "mnist", "tabular"))


@hookimpl
def bench_datasets() -> list[DatasetSpec]:
    return [
        DatasetSpec("digits", load_digits, "scikit-learn's 8x8 handwritten digits, 1,347 / 450, no files needed",
                    sources=digits_sources),
        DatasetSpec(
            "fashion_mnist",
            load_fashion_mnist,
            "Fashion-MNIST 28x28, 60,000 / 10,000 (system package dataset-fashion-mnist, else downloaded)",
            sources=fashion_mnist_sources,
        ),
        DatasetSpec("mnist", load_mnist, "MNIST 28x28, 60,000 / 10,000 (downloaded into the data root)",
                    sources=mnist_sources),
        DatasetSpec("tabular", load_tabular,
                    "make_classification 1,000 x 20, 2 classes, standardised then scaled to [0, 1]; 750 / 250",
                    kind="vector"),
    ]
