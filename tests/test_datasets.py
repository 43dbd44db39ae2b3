"""Claims about the built-in datasets: what loads, and what a user is told when it cannot."""

from __future__ import annotations

import socket

import pytest
import torch
from conftest import FASHION_SYSTEM_DIR

from bench import cli
from plugins.datasets import fashion_mnist
from plugins.datasets.digits import load_digits
from registry import DatasetUnavailable

needs_fashion = pytest.mark.skipif(
    not (FASHION_SYSTEM_DIR / "train-images-idx3-ubyte.gz").exists(),
    reason="Debian package dataset-fashion-mnist is not installed (CI installs it)",
)


@needs_fashion
def test_fashion_mnist_loads_60000_and_10000_images_in_unit_range_from_the_system_files(tmp_path):
    data = fashion_mnist.load_fashion_mnist(tmp_path)
    assert data.train_x.shape == (60000, 1, 28, 28) and data.test_x.shape == (10000, 1, 28, 28)
    assert data.train_x.dtype == torch.float32
    assert data.train_x.min() == 0 and data.train_x.max() == 1
    assert sorted(data.train_y.unique().tolist()) == list(range(10)) and len(data.test_y) == 10000
    assert data.classes[0] == "T-shirt/top"
    assert (tmp_path / "FashionMNIST" / "raw" / "train-images-idx3-ubyte").is_file()


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_missing_fashion_mnist_without_network_says_where_it_looked_and_how_to_get_it(tmp_path, monkeypatch, no_network):
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIRS", (tmp_path / "nowhere",))
    with pytest.raises(DatasetUnavailable) as info:
        fashion_mnist.load_fashion_mnist(tmp_path / "root")
    message = str(info.value)
    assert "Fashion-MNIST files not found in" in message and str(tmp_path / "nowhere") in message
    assert "download failed" in message and "apt-get install dataset-fashion-mnist" in message


def test_bench_run_on_a_missing_dataset_exits_2_with_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIRS", (tmp_path / "nowhere",))
    monkeypatch.setenv("BENCH_DATA", str(tmp_path / "root"))
    monkeypatch.setenv("BENCH_OFFLINE", "1")
    code = cli.main(["run", "--datasets", "fashion_mnist", "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("bench: error: Fashion-MNIST files not found") and err.count("\n") == 1
    assert "BENCH_OFFLINE" in err and str(tmp_path / "root") in err


def test_corrupt_system_archive_is_named(tmp_path, monkeypatch):
    system = tmp_path / "system"
    system.mkdir()
    from torchvision.datasets import FashionMNIST

    for name, _ in FashionMNIST.resources:
        (system / name).write_bytes(b"\x1f\x8b\x08\x00not really gzip")
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIRS", (system,))
    with pytest.raises(DatasetUnavailable, match=r"train-images-idx3-ubyte\.gz is corrupt"):
        fashion_mnist.load_fashion_mnist(tmp_path / "root")


def test_digits_need_no_files_and_split_1347_450():
    data = load_digits(None)
    assert data.train_x.shape == (1347, 1, 8, 8) and data.test_x.shape == (450, 1, 8, 8)
    assert data.train_x.min() >= 0 and data.train_x.max() <= 1
    assert len(data.classes) == 10


def test_the_idx_file_names_are_the_ones_torchvision_reads():
    from torchvision.datasets import MNIST, FashionMNIST

    from plugins.datasets.idx_files import RAW_FILES

    for cls in (MNIST, FashionMNIST):
        assert sorted(RAW_FILES) == sorted(name.removesuffix(".gz") for name, _ in cls.resources)


def _counting_spec(tmp_path, calls):
    from registry import Dataset, DatasetSpec

    source = tmp_path / "root" / "values.txt"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text("0.25 0.5")

    def loader(root):
        calls.append(root)
        values = [float(v) for v in (root / "values.txt").read_text().split()]
        x = torch.tensor(values * 4).reshape(4, len(values))
        return Dataset(x, torch.arange(4), x, torch.arange(4), ("a", "b", "c", "d"))

    return DatasetSpec("counted", loader, "test", kind="vector", sources=lambda root: [root / "values.txt"]), source


def test_a_dataset_with_unchanged_sources_is_not_read_again_until_its_tensors_are_needed(tmp_path, monkeypatch):
    from bench import data

    monkeypatch.setenv("BENCH_DATA", str(tmp_path / "root"))
    calls = []
    spec, source = _counting_spec(tmp_path, calls)
    first = data.load(spec, version="1.0").fingerprint
    assert len(calls) == 1
    monkeypatch.setattr(data, "_CACHE", {})  # a new process
    again = data.load(spec, version="1.0")
    assert again.fingerprint == first and len(calls) == 1
    assert again.data.train_x[0].tolist() == [0.25, 0.5] and len(calls) == 2


def test_a_changed_source_file_or_plugin_version_gives_a_fresh_fingerprint(tmp_path, monkeypatch):
    import os

    from bench import data

    monkeypatch.setenv("BENCH_DATA", str(tmp_path / "root"))
    calls = []
    spec, source = _counting_spec(tmp_path, calls)
    first = data.load(spec, version="1.0").fingerprint
    monkeypatch.setattr(data, "_CACHE", {})
    data.load(spec, version="1.1")
    assert len(calls) == 2
    monkeypatch.setattr(data, "_CACHE", {})
    source.write_text("0.75 0.5")
    os.utime(source, ns=(source.stat().st_atime_ns, source.stat().st_mtime_ns + 10**9))
    changed = data.load(spec, version="1.1")
    assert len(calls) == 3 and changed.fingerprint != first


SCALED = '''
import torch
from registry import Dataset, DatasetSpec, Param, hookimpl


def load_scaled(root, scale=0.5):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(40, 1, 4, 4, generator=g) * scale
    return Dataset(x[:30], torch.arange(30) % 2, x[30:], torch.arange(10) % 2, ("a", "b"))


@hookimpl
def bench_datasets():
    return [DatasetSpec("scaled", load_scaled, "random images times scale", params=(Param("scale", float, 0.5, low=0, high=1),))]
'''


def test_dataset_parameters_reach_the_loader_and_a_default_given_explicitly_is_the_same_dataset(tmp_path, monkeypatch,
                                                                                                 capsys):
    from conftest import add_site, make_distribution

    from bench.data import dataset_variants, load_variants
    from registry import load_registry

    add_site(make_distribution(tmp_path / "site", "bench-scaled", "1.0", "bench_scaled", SCALED), monkeypatch)
    registry = load_registry()
    variants = dataset_variants(registry, "scaled,scaled:scale=0.5,scaled:scale=0.25")
    assert variants == {"scaled": ("scaled", {"scale": 0.5}), "scaled:scale=0.25": ("scaled", {"scale": 0.25})}
    loaded = load_variants(registry, variants)
    assert loaded["scaled:scale=0.25"].data.train_x.max() <= 0.25 < loaded["scaled"].data.train_x.max()
    assert loaded["scaled"].fingerprint != loaded["scaled:scale=0.25"].fingerprint
    assert cli.main(["run", "--datasets", "scaled:scale=2", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "The 'scale' parameter of dataset 'scaled' must be a float in [0, 1]. Got" in err
