"""The compute-matched budget of the reference CNN, measured: is the baseline converged at the profile's
budget (its accuracy within 1 point of what three times the budget gives), and what does bf16 change at
the converged protocol's budget (20 epochs of the subset)?

Accuracy is measured on a validation split drawn from the training split, disjoint from the 5,000-image
subset, never on the test set: the budget is chosen here, so the test set must not choose it.

Run with ``pytest benchmarks/test_cnn_budget.py --benchmark-only -n 0`` (minutes per seed on one core).
``BENCH_CURVE_EPOCHS=2,4,6,10,30`` measures the whole curve instead of the profile's budget and its triple;
``BENCH_CURVE_SEEDS=0,1,2`` picks the seeds.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
import torch
from conftest import RESULTS

from bench.cnn import ReferenceCNN, predict, train_classifier
from bench.data import subset
from bench.precision import bf16_supported
from bench.profiles import get_profile

PROFILE = get_profile("quick")
SEEDS = [int(s) for s in os.environ.get("BENCH_CURVE_SEEDS", "0,1,2").split(",")]
EPOCHS = [int(e) for e in os.environ.get("BENCH_CURVE_EPOCHS", f"{PROFILE.cnn_matched_epochs},"
                                                                  f"{3 * PROFILE.cnn_matched_epochs}").split(",")]
VALIDATION = 10_000


def _split(data, seed: int):
    order = subset(len(data.train_x), None, seed)
    train, validation = order[:PROFILE.train_size], order[PROFILE.train_size:PROFILE.train_size + VALIDATION]
    return data.train_x[train], data.train_y[train], data.train_x[validation], data.train_y[validation]


def _accuracy_at(data, seed: int, epochs: int, precision: str = "fp32") -> float:
    """Validation accuracy of the baseline CNN trained with ``epochs`` baseline epochs of steps."""
    x, y, vx, vy = _split(data, seed)
    torch.manual_seed(seed)
    model = ReferenceCNN(tuple(x.shape[1:]), 10)
    steps = epochs * -(-len(x) // PROFILE.cnn_batch)
    train_classifier(model, x, y, batch_size=PROFILE.cnn_batch, lr=PROFILE.cnn_lr, precision=precision, steps=steps)
    return float((predict(model, vx, precision=precision) == vy).double().mean())


def test_baseline_accuracy_against_the_compute_matched_budget(benchmark, fashion, threads):
    data, _ = fashion
    torch.set_num_threads(threads)
    curve: dict[int, list[float]] = {}

    def measure():
        for epochs in EPOCHS:
            curve[epochs] = [_accuracy_at(data, seed, epochs) for seed in SEEDS]

    benchmark.pedantic(measure, rounds=1, iterations=1)
    for epochs, accs in curve.items():
        RESULTS[f"cnn/val_acc/{epochs}_epochs"] = float(np.mean(accs))
        benchmark.extra_info[f"val_acc_{epochs}_epochs"] = accs
    budget = PROFILE.cnn_matched_epochs
    if budget in curve and 3 * budget in curve:
        RESULTS["cnn/converged_gap"] = float(np.mean(curve[3 * budget]) - np.mean(curve[budget]))


@pytest.mark.parametrize("precision", ["fp32", "fp32-channels-last", "bf16"])
def test_reference_cnn_training_throughput(benchmark, precision):
    x, y = torch.rand(1280, 1, 28, 28), torch.randint(0, 10, (1280,))
    torch.set_num_threads(1)
    model = ReferenceCNN((1, 28, 28), 10)
    # steps= trains channels-last; epochs= keeps the default layout (the equal-epochs protocol as published)
    budget = {"epochs": 1} if precision == "fp32" else {"steps": 10}
    run = lambda: train_classifier(model, x, y, batch_size=128, precision=precision[:4], **budget)  # noqa: E731
    benchmark.pedantic(run, rounds=3, warmup_rounds=1)
    RESULTS[f"cnn/images_per_s/{precision}"] = len(x) / benchmark.stats.stats.median
    benchmark.extra_info["bf16_native"] = bf16_supported("cpu")


@pytest.mark.skipif(not bf16_supported("cpu"), reason="no native bfloat16 on this CPU: emulated, bf16 is not offered")
def test_bf16_accuracy_at_convergence_against_fp32(benchmark, fashion):
    data, _ = fashion
    torch.set_num_threads(1)
    found: dict[str, list[float]] = {}

    seconds: dict[str, float] = {}

    def measure():
        for precision in ("fp32", "bf16"):  # the converged protocol's baseline: 20 epochs of the subset, cosine
            started = time.perf_counter()
            found[precision] = [_accuracy_at(data, seed, PROFILE.cnn_converged_epochs, precision) for seed in SEEDS]
            seconds[precision] = time.perf_counter() - started

    benchmark.pedantic(measure, rounds=1, iterations=1)
    for precision, accs in found.items():
        print(f"{precision}: validation accuracy {', '.join(f'{a:.4f}' for a in accs)} (seeds {SEEDS}), "
              f"{seconds[precision]:.0f} s", flush=True)
    diffs = np.subtract(found["bf16"], found["fp32"])
    RESULTS["cnn/bf16_minus_fp32"] = float(diffs.mean())
    RESULTS["cnn/fp32_seed_std"] = float(np.std(found["fp32"], ddof=1)) if len(SEEDS) > 1 else float("nan")
    benchmark.extra_info.update(found)
