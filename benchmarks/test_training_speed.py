"""Training throughput of the harness's loop (:func:`bench.train.train`) against two plain loops with the
same model, batch size and optimizer (Adam, lr 1e-3), on 5,000 Fashion-MNIST training images:

(a) the common tutorial pipeline: torchvision's ``FashionMNIST`` with ``ToTensor`` per item, in a
    ``Subset``, through a ``DataLoader``;
(b) a ``DataLoader`` over a ``TensorDataset`` of the same tensors the harness trains on.

And the roofline: the FLOP/s achieved by the harness's training step (forward + backward FLOPs counted by
``torch.utils.flop_counter``) against a 2048x2048 fp32 matmul on the same machine, timed between the
training rounds.
"""

from __future__ import annotations

import statistics
import time

import pytest
import torch
from conftest import RESULTS
from torch.utils.data import DataLoader, Subset, TensorDataset
from torch.utils.flop_counter import FlopCounterMode

from bench.train import train
from plugins.models.conv import ConvAutoencoder
from registry.models import MLPVAE

N, BATCH, LR, ROUNDS = 5000, 128, 1e-3, 7
MODELS = {"mlp_vae": MLPVAE, "conv_ae": ConvAutoencoder}


@pytest.fixture(scope="module")
def subset(fashion):
    data, root = fashion
    idx = torch.randperm(len(data.train_x), generator=torch.Generator().manual_seed(0))[:N]
    return data.train_x[idx].contiguous(), idx, root


def plain_loop(model: torch.nn.Module, loader: DataLoader) -> None:
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    model.train()
    for xb, *_ in loader:
        loss = model.loss(xb, xb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def _record(benchmark, key: str) -> float:
    images_per_s = N / benchmark.stats.stats.median
    benchmark.extra_info["images_per_s"] = images_per_s
    RESULTS[key] = images_per_s
    return images_per_s


def flops_per_image(model: torch.nn.Module, x: torch.Tensor) -> float:
    """Forward + backward FLOPs of one training step on a batch, per image (the optimizer's elementwise
    work is not counted: the fraction of the roofline is a lower bound)."""
    batch = x[:BATCH]
    with FlopCounterMode(display=False) as counter:
        model.loss(batch, batch).backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() / len(batch)


class Matmul:
    """The roofline: FLOP/s of a 2048x2048 fp32 matmul, timed between the rounds of a benchmark (the
    machine's speed drifts; interleaving compares like with like)."""

    def __init__(self, calls: int = 3):
        self.a, self.b, self.calls = torch.rand(2048, 2048), torch.rand(2048, 2048), calls
        self.seconds: list[float] = []
        self.a @ self.b

    def __call__(self) -> None:
        for _ in range(self.calls):
            started = time.perf_counter()
            self.a @ self.b
            self.seconds.append(time.perf_counter() - started)

    @property
    def flop_per_s(self) -> float:
        return 2 * 2048**3 / statistics.median(self.seconds)


@pytest.mark.parametrize("name", MODELS)
def test_training_harness_loop(benchmark, subset, name):
    x, _, _ = subset
    model = MODELS[name](tuple(x.shape[1:]))
    matmul = Matmul()
    benchmark.pedantic(lambda: train(model, x, epochs=1, batch_size=BATCH, lr=LR), setup=matmul, rounds=ROUNDS,
                       warmup_rounds=1)
    images_per_s = _record(benchmark, f"train/{name}/harness")
    RESULTS[f"flops/{name}/harness"] = flops_per_image(model, x) * images_per_s
    RESULTS[f"flops/{name}/matmul"] = matmul.flop_per_s
    benchmark.extra_info.update(flop_per_s=RESULTS[f"flops/{name}/harness"], matmul_flop_per_s=matmul.flop_per_s)


@pytest.mark.parametrize("name", MODELS)
def test_training_tutorial_dataloader(benchmark, subset, name):
    from torchvision.datasets import FashionMNIST
    from torchvision.transforms import ToTensor

    x, idx, root = subset
    dataset = Subset(FashionMNIST(str(root), train=True, transform=ToTensor()), idx.tolist())
    model = MODELS[name](tuple(x.shape[1:]))
    benchmark.pedantic(lambda: plain_loop(model, DataLoader(dataset, batch_size=BATCH, shuffle=True)),
                       rounds=ROUNDS, warmup_rounds=1)
    _record(benchmark, f"train/{name}/tutorial")


@pytest.mark.parametrize("name", MODELS)
def test_training_tensordataset_dataloader(benchmark, subset, name):
    x, _, _ = subset
    model = MODELS[name](tuple(x.shape[1:]))
    benchmark.pedantic(lambda: plain_loop(model, DataLoader(TensorDataset(x), batch_size=BATCH, shuffle=True)),
                       rounds=ROUNDS, warmup_rounds=1)
    _record(benchmark, f"train/{name}/tensordataset")


def test_matmul_2048_roofline(benchmark):
    a, b = torch.rand(2048, 2048), torch.rand(2048, 2048)
    benchmark.pedantic(lambda: a @ b, rounds=20, warmup_rounds=3)
    benchmark.extra_info["flop_per_s"] = 2 * 2048**3 / benchmark.stats.stats.median
