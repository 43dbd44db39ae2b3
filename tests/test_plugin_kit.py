"""Claims about the third-party kit: the example plugin installs with pip into a fresh location, passes
`bench plugins check` and its own tests, and runs through `bench run`; the checks flag a broken plugin."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest
from conftest import CHEAP_CNN, REPO, add_site, make_distribution, run_bench

from bench import cli

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


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The example package installed by pip into a fresh directory, as a user's environment would hold it."""
    site = tmp_path_factory.mktemp("example-site")
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                           "--target", str(site), str(EXAMPLE)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert (site / "bench_plugin_example-0.1.0.dist-info").is_dir()
    return site


def _env(site) -> dict:
    return {"PYTHONPATH": os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)}


def test_the_installed_example_passes_the_contract_checks(installed):
    result = run_bench("plugins", "check", "bench-plugin-example", env=_env(installed))
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("example_ae", "pixel_dropout", "stripes"):
        assert f"| {name}" in result.stdout
    assert "FAIL" not in result.stdout and "0 failed" in result.stderr


def test_the_installed_example_runs_in_a_grid(installed, tmp_path):
    out = tmp_path / "run"
    result = run_bench("run", *CHEAP_CNN, "--models", "example_ae,ae", "--noise", "pixel_dropout,gaussian", "--datasets",
                       "stripes",
                       "--severities", "1,3", "--out", str(out), "--format", "csv", "--quiet", env=_env(installed))
    assert result.returncode == 0, result.stderr
    results = pd.read_csv(out / "results.csv")
    done = results[results.status == "done"]
    assert {"example_ae", "ae", "baseline"} <= set(done.model) and set(done.noise) == {"pixel_dropout", "gaussian"}
    assert set(done.dataset) == {"stripes"}


def test_the_examples_own_tests_pass_once_installed(installed):
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE / "tests")],
                          capture_output=True, text=True, timeout=600, cwd=EXAMPLE,
                          env={**os.environ, **_env(installed)})
    assert done.returncode == 0, done.stdout[-3000:]


def test_plugins_check_flags_a_wrong_shape_and_values_outside_the_unit_range(tmp_path, monkeypatch, capsys):
    add_site(make_distribution(tmp_path / "site", "bench-contract-breaker", "0.1", "bench_contract_breaker", BROKEN), monkeypatch)
    assert cli.main(["plugins", "check", "bench-contract-breaker"]) == 1
    out = capsys.readouterr().out
    assert "FAIL: decode gave shape (16, 10), expected (16, 1, 28, 28)" in out
    assert "FAIL: values in [0.5" in out and "expected [0, 1]" in out


def test_plugins_check_of_an_unknown_name_is_one_line_and_exit_2(capsys):
    assert cli.main(["plugins", "check", "no-such-plugin"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bench: error: no installed plugin distribution or spec named 'no-such-plugin'")
    assert err.count("\n") == 1
