"""Cost of the generative family for one cell, and its share of a paper-profile cell: one VAE cell on
Fashion-MNIST (gaussian, severity 3), evaluated whole, with the time spent in the family measured inside it.

The domain feature network is trained once per dataset and cached (``features/train_s``: its training, or
its loading when an earlier run trained it) and is not part of a cell's cost; the family's cost per cell is
prior samples, features of the samples, FID, KID, precision/recall/density/coverage for two sources, and the
train-on-synthetic CNN.

Run with ``pytest benchmarks/test_generative_cost.py --benchmark-only -n 0 -s`` (about 10 minutes on 2 cores).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest import RESULTS

from bench.checkpoints import Checkpoints
from bench.data import load
from bench.evaluator import Evaluator
from bench.grid import plan
from bench.profiles import get_profile
from registry import load_registry

FASHION = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")


@pytest.mark.skipif(not FASHION.exists(), reason="Debian package dataset-fashion-mnist is not installed")
def test_generative_family_share_of_a_paper_profile_cell(benchmark, tmp_path):
    registry = load_registry()
    data = {"fashion_mnist": load(registry.spec("datasets", "fashion_mnist"))}
    cell, = [c for c in plan(registry, datasets=["fashion_mnist"], models=[("vae", {})], noises=[("gaussian", {})],
                             severities=[3], seeds=[0], profile=get_profile("paper"), loaded=data)
             if c.model == "vae"]
    evaluator = Evaluator(registry, data, Checkpoints(tmp_path / "checkpoints"))
    started = time.perf_counter()
    evaluator.domain_features(cell)  # from the data cache when an earlier run trained it
    RESULTS["features/train_s"] = time.perf_counter() - started

    spent: list[float] = []
    family = evaluator._generative

    def timed(*args):
        started = time.perf_counter()
        try:
            return family(*args)
        finally:
            spent.append(time.perf_counter() - started)

    evaluator._generative = timed

    def evaluate_once():
        evaluator._models = type(evaluator._models)(evaluator._models.size)  # a fresh cell: nothing kept
        return evaluator.evaluate(cell)

    result = benchmark.pedantic(evaluate_once, rounds=1, iterations=1)
    assert result.status == "done", result.reason
    RESULTS["generative/cell_s"] = spent[-1]
    RESULTS["generative/paper_cell_s"] = result.timings.wall_s
    benchmark.extra_info.update(family_s=spent[-1], cell_s=result.timings.wall_s,
                                share=spent[-1] / result.timings.wall_s,
                                feature_network_s=RESULTS["features/train_s"])
    print(f"\ngenerative family {spent[-1]:.1f} s of a {result.timings.wall_s:.1f} s paper-profile cell "
          f"({100 * spent[-1] / result.timings.wall_s:.0f}%); feature network trained once in "
          f"{RESULTS['features/train_s']:.1f} s")
