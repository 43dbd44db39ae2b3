"""Is every CNN of a downstream comparison converged? The baseline CNN and a VAE-augmented CNN (the subset
plus k=2 samples per image) are trained under a protocol's budget and under three times its steps, and
scored on a validation split drawn from the training split outside the subset, never the test set. The
converged protocol promises the budget is within 0.5 points of three times it for every CNN.

Run with ``pytest benchmarks/test_convergence.py --benchmark-only -n 0 -s`` (Fashion-MNIST: the better part
of an hour per seed on one core), or as a script for one curve:
``python benchmarks/test_convergence.py fashion_mnist 5000 --epochs 10,20,30 --seeds 0``, and with
``--protocol steps`` or ``--protocol epochs`` for the other two protocols' budgets.
``BENCH_CONVERGENCE`` picks the ``dataset:size`` pairs of the benchmark (default
``digits:250,digits:1000,fashion_mnist:1000,fashion_mnist:5000``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace

import numpy as np
import torch

from bench import augmentation
from bench.cnn import predict
from bench.data import load, subset
from bench.profiles import get_profile
from bench.seeding import derive_seed, seed_everything
from bench.train import train
from registry import load_registry

PROFILE = get_profile("quick")
VALIDATION = 10_000
PAIRS = os.environ.get("BENCH_CONVERGENCE", "digits:250,digits:1000,fashion_mnist:1000,fashion_mnist:5000")


def _split(data, size: int, seed: int):
    """The subset a cell of ``seed`` draws, and validation images of the training split outside it."""
    order = subset(len(data.train_x), None, seed)
    if size >= len(order):
        raise ValueError(f"a subset of {size} leaves no validation images of {len(order)}")
    train_idx, val_idx = order[:size], order[size:size + VALIDATION]
    return data.train_x[train_idx], data.train_y[train_idx], data.train_x[val_idx], data.train_y[val_idx]


def _samples(x: torch.Tensor, y: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """k samples per image from the MLP VAE trained on the subset as the quick profile trains it."""
    spec = load_registry().spec("models", "vae")
    seed_everything(seed)
    model = spec.factory(tuple(x.shape[1:]))
    train(model, x, epochs=PROFILE.epochs(spec), batch_size=PROFILE.batch(spec), lr=spec.lr)
    torch.manual_seed(derive_seed(seed, "augment"))
    return augmentation.augment(model, x, y, k=PROFILE.augment_k, corrupt=lambda b: b, generates=True)


def _protocol(protocol: str, epochs: int, least: int):
    """The quick profile under ``protocol`` with ``epochs`` as its budget: converged, passes over each CNN's
    own set (and at least ``least`` steps); steps, baseline epochs of steps for every CNN; epochs, passes
    over each CNN's own set at the constant learning rate of the published protocol."""
    if protocol == "converged":
        return replace(PROFILE, cnn_budget="converged", cnn_converged_epochs=epochs, cnn_min_steps=least)
    if protocol == "steps":
        return replace(PROFILE, cnn_budget="steps", cnn_matched_epochs=epochs)
    if protocol == "epochs":
        return replace(PROFILE, cnn_budget="epochs", cnn_epochs=epochs)
    raise ValueError(f"protocol {protocol!r}: converged, steps or epochs")


def curve(dataset: str, size: int, seeds: list[int], epochs: list[int], min_steps: int | None = None,
          scale_min_steps: bool = False, protocol: str = "converged") -> list[dict]:
    """Validation accuracy of the baseline and the VAE-augmented CNN at each budget of ``epochs`` under
    ``protocol`` (converged: epochs of their own training set with the protocol's minimum steps, which
    ``scale_min_steps`` scales with the epochs so that 3x the epochs is 3x the steps where the minimum
    binds; steps: baseline epochs of steps; epochs: epochs of their own set at a constant rate)."""
    data = load(load_registry().spec("datasets", dataset)).data
    rows = []
    for seed in seeds:
        x, y, vx, vy = _split(data, size, seed)
        gx, gy = _samples(x, y, seed)
        sets = {"baseline": (x, y), "vae-augmented": (torch.cat([x, gx]), torch.cat([y, gy]))}
        for e in epochs:
            least = PROFILE.cnn_min_steps if min_steps is None else min_steps
            if scale_min_steps:
                least = least * e // epochs[0]
            profile = _protocol(protocol, e, least)
            for cnn, (tx, ty) in sets.items():
                torch.manual_seed(derive_seed(seed, "cnn"))
                started = time.perf_counter()
                model, fit = augmentation.train_cnn(tx, ty, len(data.classes), profile=profile, baseline_size=len(x))
                acc = float((predict(model, vx) == vy).double().mean())
                rows.append({"dataset": dataset, "size": size, "seed": seed, "protocol": protocol, "cnn": cnn, "epochs": e,
                             "steps": fit.steps, "val_acc": acc, "seconds": time.perf_counter() - started,
                             "validation": len(vx)})
                print(rows[-1], flush=True)
    return rows


def gaps(rows: list[dict], epochs: int) -> dict[str, float]:
    """Per CNN, mean validation accuracy at 3x ``epochs`` minus at ``epochs`` (points)."""
    out = {}
    for cnn in sorted({r["cnn"] for r in rows}):
        at = [r["val_acc"] for r in rows if r["cnn"] == cnn and r["epochs"] == epochs]
        triple = [r["val_acc"] for r in rows if r["cnn"] == cnn and r["epochs"] == 3 * epochs]
        if at and triple:
            out[cnn] = 100 * (float(np.mean(triple)) - float(np.mean(at)))
    return out


def test_every_cnn_converged_at_the_converged_budget(benchmark):
    from conftest import RESULTS

    torch.set_num_threads(1)
    e = PROFILE.cnn_converged_epochs
    found: list[dict] = []

    def measure():
        for pair in PAIRS.split(","):
            dataset, size = pair.split(":")
            found.extend(curve(dataset, int(size), [0], [e, 3 * e], scale_min_steps=True))

    benchmark.pedantic(measure, rounds=1, iterations=1)
    for pair in PAIRS.split(","):
        dataset, size = pair.split(":")
        mine = [r for r in found if r["dataset"] == dataset and r["size"] == int(size)]
        for cnn, gap in gaps(mine, e).items():
            RESULTS[f"convergence/{dataset}/{size}/{cnn}"] = gap
            benchmark.extra_info[f"{dataset}_{size}_{cnn}_gap_points"] = gap
    benchmark.extra_info["rows"] = found


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset")
    parser.add_argument("size", type=int)
    parser.add_argument("--epochs", default="10,20,30")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--min-steps", type=int, default=None)
    parser.add_argument("--scale-min-steps", action="store_true", help="scale the minimum steps with the epochs")
    parser.add_argument("--protocol", default="converged", choices=["converged", "steps", "epochs"],
                        help="what --epochs counts: converged, epochs of each CNN's own set (cosine, minimum "
                             "steps); steps, baseline epochs of steps for every CNN (cosine); epochs, epochs of "
                             "each CNN's own set at a constant 1e-3")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = curve(args.dataset, args.size, [int(s) for s in args.seeds.split(",")],
                 [int(e) for e in args.epochs.split(",")], args.min_steps, args.scale_min_steps, args.protocol)
    for r in rows:
        sys.stdout.write(f"{r['dataset']},{r['size']},{r['seed']},{r['protocol']},{r['cnn']},{r['epochs']},{r['steps']},"
                         f"{r['val_acc']:.4f},{r['seconds']:.1f}\n")
