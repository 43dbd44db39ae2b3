"""The example plugin keeps bench's contracts, and bench runs it once it is installed."""

from __future__ import annotations

from bench_plugin_example import bench_datasets, bench_families, bench_models, bench_noises

from registry.testing import parametrize_with_checks


@parametrize_with_checks(bench_models() + bench_noises() + bench_datasets() + bench_families())
def test_every_spec_keeps_the_contract(spec, check):
    check(spec)


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
    for kind, name in (("models", "example_ae"), ("noises", "pixel_dropout"), ("datasets", "stripes"),
                       ("families", "gmsd")):
        assert registry.entry(kind, name).distribution == "bench-plugin-example"


def test_gmsd_is_zero_for_the_reference_itself_and_grows_with_blur():
    import torch
    from bench_plugin_example.family import gmsd
    from torchvision.transforms.functional import gaussian_blur

    torch.manual_seed(0)
    x = torch.rand(4, 1, 16, 16)
    assert gmsd(x, x).abs().max() < 1e-6
    slight, strong = gaussian_blur(x, 3, 0.5), gaussian_blur(x, 5, 2.0)
    assert (gmsd(slight, x) < gmsd(strong, x)).all()
