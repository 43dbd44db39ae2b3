"""The example plugin keeps bench's contracts, and bench runs it once it is installed."""

from __future__ import annotations

import pytest

from bench.contracts import check_dataset, check_model, check_noise
from bench_plugin_example import bench_datasets, bench_models, bench_noises


@pytest.mark.parametrize("spec, check", [(s, check_model) for s in bench_models()]
                         + [(s, check_noise) for s in bench_noises()]
                         + [(s, check_dataset) for s in bench_datasets()],
                         ids=lambda v: getattr(v, "name", ""))
def test_every_spec_passes_the_contract_checks(spec, check):
    failures = [f"{c.check}: {c.detail}" for c in check(spec) if not c.ok]
    assert not failures


def test_stripes_are_the_same_on_every_load_and_balanced_enough():
    from bench_plugin_example.dataset import CLASSES, load_stripes

    a, b = load_stripes(None), load_stripes(None)
    assert a.train_x.equal(b.train_x) and a.test_y.equal(b.test_y)
    counts = a.train_y.bincount(minlength=len(CLASSES))
    assert counts.min() > 50


def test_pixel_dropout_drops_about_p_of_the_pixels():
    import torch

    from bench_plugin_example.noise import pixel_dropout

    torch.manual_seed(0)
    x = torch.ones(100, 1, 8, 8)
    assert abs((pixel_dropout(x, p=0.3) == 0).float().mean().item() - 0.3) < 0.02


def test_bench_finds_the_installed_plugin():
    from registry import load_registry

    registry = load_registry()
    for kind, name in (("models", "example_ae"), ("noises", "pixel_dropout"), ("datasets", "stripes")):
        assert registry.entry(kind, name).distribution == "bench-plugin-example"
