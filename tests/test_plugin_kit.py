"""Claims about the third-party kit: the example plugin installs with pip into a fresh location, passes
`bench plugins check` and its own tests, and runs through `bench run`; the checks flag a broken plugin."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pandas as pd
import pytest
from conftest import EVERY_FAMILY, REPO, add_site, make_distribution, run_bench

from bench import cli
from bench.store import open_store

EXAMPLE = REPO / "examples" / "bench-plugin-example"

BROKEN = '''
import torch
from torch import nn
from registry import ModelSpec, NoiseSpec, Param, hookimpl


class WrongShape(nn.Module):
    def __init__(self, shape):
        super().__init__()
        self.shape = tuple(shape)
        self.enc = nn.Linear(784, 4)
        self.dec = nn.Linear(4, 10)

    def encode(self, x):
        return self.enc(x.flatten(1))

    def decode(self, z):
        return self.dec(z)  # [N, 10] instead of the input's shape, and not squashed into [0, 1]

    def forward(self, x):
        return self.decode(self.encode(x))

    def loss(self, x_in, x_target):
        return self(x_in).pow(2).mean()


def too_bright(x, amount=0.5):
    return x + amount  # leaves [0, 1]


@hookimpl
def bench_models():
    return [ModelSpec("wrong_shape", WrongShape, "decodes to the wrong shape", inputs=("image",))]


@hookimpl
def bench_noises():
    return [NoiseSpec("too_bright", too_bright, "adds a constant", params=(Param("amount", float, 0.5),),
                      severities={1: {"amount": 0.5}})]
'''


# This project's own files in an environment's site-packages: hidden from the fresh environment below.
_OURS = ("aebench", "__editable__.aebench", "__editable___aebench", "bench_plugin_example", "bench-plugin-example")


@pytest.fixture(scope="module")
def fresh(tmp_path_factory) -> Path:
    """A fresh virtual environment into which pip installs the example's wheel *with* dependency resolution:
    the example and its requirement ``aebench`` come from wheels built from this checkout (``--find-links``,
    no index), as a third party's users would get them from the package index. The heavy dependencies this environment
    already has (torch, ...) are visible to the fresh one as installed packages, less this project."""
    root = tmp_path_factory.mktemp("fresh")
    wheels = root / "wheels"
    for project in (REPO, EXAMPLE):  # local wheels of the harness and of the example, as an index would serve them
        built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                                "--wheel-dir", str(wheels), str(project)], capture_output=True, text=True, timeout=600,
                               cwd=root)
        assert built.returncode == 0, built.stderr
    assert sorted(w.name.split("-")[0] for w in wheels.glob("*.whl")) == ["aebench", "bench_plugin_example"]
    venv.create(root / "venv", with_pip=False)
    python = root / "venv" / "bin" / "python"
    fresh_site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                     capture_output=True, text=True, check=True).stdout.strip())
    shared = root / "shared-site"
    shared.mkdir()
    for item in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not item.name.startswith(_OURS) and not item.name.endswith(".pth"):
            (shared / item.name).symlink_to(item)
    (fresh_site / "shared.pth").write_text(f"{shared}\n")
    done = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-index",
                           "--find-links", str(wheels), "--no-build-isolation", "bench-plugin-example"],
                          capture_output=True, text=True, timeout=600, cwd=root)
    assert done.returncode == 0, done.stdout + done.stderr
    listed = subprocess.run([str(python), "-m", "pip", "list", "--path", str(fresh_site), "--format", "freeze"],
                            capture_output=True, text=True, cwd=root).stdout
    assert "aebench==" in listed and "bench-plugin-example==0.1.0" in listed, listed
    return python


def test_the_example_installs_with_its_dependency_on_aebench_resolved_from_a_wheel(fresh):
    where = subprocess.run([str(fresh), "-c", "import bench, registry; print(bench.__file__, bench.__version__)"],
                           capture_output=True, text=True, cwd=fresh.parent).stdout
    assert "site-packages" in where and str(REPO) not in where  # the wheel's copy, not this checkout


def test_the_installed_example_passes_the_contract_checks(fresh):
    result = run_bench("plugins", "check", "bench-plugin-example", python=fresh, cwd=fresh.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("example_ae", "pixel_dropout", "stripes", "gmsd"):
        assert f"| {name}" in result.stdout
    assert "FAIL" not in result.stdout and "0 failed" in result.stderr


def test_the_installed_example_runs_in_a_grid_with_dataset_parameters_as_separate_cells(fresh, tmp_path):
    out = tmp_path / "run"
    # every family but the two that train a reference network per dataset (the downstream and generative ones, whose
    # grids tests/test_downstream.py and tests/test_generative.py run): the example's among the built-in ones
    result = run_bench("run", *EVERY_FAMILY, "--families", "all,-downstream,-generative", "--models", "example_ae,ae",
                       "--noise", "pixel_dropout", "--datasets",
                       "stripes:noise=0.1,stripes:noise=0.2", "--severities", "1", "--out", str(out), "--format",
                       "csv", "--quiet", python=fresh, cwd=fresh.parent)
    assert result.returncode == 0, result.stderr
    results = pd.read_csv(out / "results.csv")
    done = results[results.status == "done"]
    assert {"example_ae", "ae", "baseline"} <= set(done.model) and set(done.noise) == {"pixel_dropout"}
    gmsd = done[done.metric == "gmsd"]  # the example's metric family, in the grid with the built-in ones
    assert set(gmsd.model) == {"example_ae", "ae"} and gmsd.value.between(0, 1).all()
    assert set(done.dataset) == {"stripes:noise=0.1", "stripes:noise=0.2"}
    records = open_store(out).records()
    params = {r["cell"]["dataset"]: r["cell"]["dataset_params"] for r in records}
    assert params == {"stripes:noise=0.1": {"noise": 0.1}, "stripes:noise=0.2": {"noise": 0.2}}
    fingerprints = {r["cell"]["dataset"]: r["cell"]["dataset_fingerprint"] for r in records}
    assert fingerprints["stripes:noise=0.1"] != fingerprints["stripes:noise=0.2"]  # the loader got the parameter
    keys = done.groupby("dataset").key.unique()
    assert not set(keys["stripes:noise=0.1"]) & set(keys["stripes:noise=0.2"])  # different cells


def test_the_examples_own_tests_pass_once_installed_through_parametrize_with_checks(fresh):
    done = subprocess.run([str(fresh), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                           str(EXAMPLE / "tests")], capture_output=True, text=True, timeout=600, cwd=fresh.parent)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "test_every_spec_keeps_the_contract[example_ae-model_learns]" in subprocess.run(
        [str(fresh), "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
         str(EXAMPLE / "tests")], capture_output=True, text=True, cwd=fresh.parent).stdout


def test_plugins_check_flags_a_wrong_shape_and_values_outside_the_unit_range(tmp_path, monkeypatch, capsys):
    add_site(make_distribution(tmp_path / "site", "bench-contract-breaker", "0.1", "bench_contract_breaker", BROKEN), monkeypatch)
    assert cli.main(["plugins", "check", "bench-contract-breaker"]) == 1
    out = capsys.readouterr().out
    assert "FAIL: decode gave shape (16, 10), expected (16, 1, 28, 28)" in out
    assert "FAIL: severity 1: values in [0.5" in out and "expected [0, 1]" in out


def test_plugins_check_of_an_unknown_name_is_one_line_and_exit_2(capsys):
    assert cli.main(["plugins", "check", "no-such-plugin"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bench: error: no installed plugin distribution or spec named 'no-such-plugin'")
    assert err.count("\n") == 1
