"""Speed of the downstream family: the harness's CNN loop and a whole cell's downstream evaluation,
against the plain approach with a DataLoader over a TensorDataset (same model, batch size, optimizer).

Run with ``pytest benchmarks/ --benchmark-only -n 0``; not part of the default test run. Each benchmark
records images per second in ``extra_info``; compare the means of a pair for the ratio.
"""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from bench import augmentation
from bench.cnn import ReferenceCNN, train_classifier
from bench.profiles import get_profile
from plugins.noises.gaussian import gaussian
from registry.models import MLPVAE

N_TRAIN, N_TEST, BATCH, SEVERITIES = 2000, 2000, 128, (0.05, 0.1, 0.2, 0.5, 1.0)
EQUAL_EPOCHS = get_profile("quick").with_protocol(cnn_budget="epochs")  # one epoch, as the plain loop below


@pytest.fixture(scope="module")
def data():
    torch.manual_seed(0)
    x, y = torch.rand(N_TRAIN, 1, 28, 28), torch.randint(0, 10, (N_TRAIN,))
    test_x, test_y = torch.rand(N_TEST, 1, 28, 28), torch.randint(0, 10, (N_TEST,))
    corrupted = {i + 1: gaussian(test_x, sigma=s) for i, s in enumerate(SEVERITIES)}
    return x, y, test_x, test_y, corrupted


def plain_train(model, x, y, epochs=1):
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for _ in range(epochs):
        for xb, yb in DataLoader(TensorDataset(x, y), batch_size=BATCH, shuffle=True):
            loss = F.cross_entropy(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()


def plain_accuracy(model, x, y):
    model.eval()
    correct = 0
    with torch.no_grad():
        for xb, yb in DataLoader(TensorDataset(x, y), batch_size=BATCH):
            correct += (model(xb).argmax(1) == yb).sum().item()
    return correct / len(x)


def test_cnn_training_harness(benchmark, data):
    x, y, *_ = data
    benchmark.pedantic(lambda: train_classifier(ReferenceCNN((1, 28, 28), 10), x, y, epochs=1, batch_size=BATCH),
                       rounds=5, warmup_rounds=1)
    benchmark.extra_info["images_per_s"] = N_TRAIN / benchmark.stats.stats.mean


def test_cnn_training_plain_dataloader(benchmark, data):
    x, y, *_ = data
    benchmark.pedantic(lambda: plain_train(ReferenceCNN((1, 28, 28), 10), x, y), rounds=5, warmup_rounds=1)
    benchmark.extra_info["images_per_s"] = N_TRAIN / benchmark.stats.stats.mean


def _images_of_one_cell() -> int:
    trained = N_TRAIN * 3  # the subset and k=2 generated samples per image
    evaluated = N_TEST * (1 + len(SEVERITIES))
    return trained + evaluated


def test_downstream_cell_harness(benchmark, data):
    x, y, test_x, test_y, corrupted = data
    vae = MLPVAE((1, 28, 28))

    def cell():
        gen_x, gen_y = augmentation.augment(vae, x, y, k=2, corrupt=lambda b: gaussian(b, sigma=0.2),
                                          generates=True)
        cnn, _ = augmentation.train_cnn(torch.cat([x, gen_x]), torch.cat([y, gen_y]), 10, profile=EQUAL_EPOCHS,
                                      baseline_size=len(x))
        return augmentation.accuracy(cnn, test_x, test_y, corrupted)

    benchmark.pedantic(cell, rounds=3, warmup_rounds=1)
    benchmark.extra_info["images_per_s"] = _images_of_one_cell() / benchmark.stats.stats.mean


def test_downstream_cell_plain_dataloader(benchmark, data):
    x, y, test_x, test_y, corrupted = data
    vae = MLPVAE((1, 28, 28))

    def cell():
        vae.eval()
        samples = []
        with torch.no_grad():
            for _ in range(2):
                for (xb,) in DataLoader(TensorDataset(x), batch_size=BATCH):
                    samples.append(vae.generate(xb))
        cnn = ReferenceCNN((1, 28, 28), 10)
        plain_train(cnn, torch.cat([x, *samples]), torch.cat([y, y, y]))
        return [plain_accuracy(cnn, test_x, test_y)] + [plain_accuracy(cnn, c, test_y) for c in corrupted.values()]

    benchmark.pedantic(cell, rounds=3, warmup_rounds=1)
    benchmark.extra_info["images_per_s"] = _images_of_one_cell() / benchmark.stats.stats.mean
