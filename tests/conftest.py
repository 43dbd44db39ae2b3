"""Shared fixtures: isolated data roots, and third-party plugins installed as real distributions."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FASHION_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
#: For tests whose claims do not concern the CNN protocols, the downstream family or the seeds: one seed, the
#: families that train no CNN and the augmentation one (its baseline cells are part of most grids' claims),
#: with the equal-epochs CNN budget (one epoch in the quick profile), which costs a fraction of the converged
#: budget's steps. The protocol's own tests (test_protocol.py, and test_suite.py's grid of the whole suite) use
#: the default budget, the downstream family's own tests (test_downstream.py) and EVERY_FAMILY's grids compute
#: its reference classifier (converged whatever the budget), and the tests of claims over seeds name their seeds.
CHEAP_CNN = ("--seeds", "1", "--cnn-budget", "epochs", "--families", "+augmentation,-downstream")
#: For tests of where and how cells run and are kept (executors, the store): one family that trains a CNN per
#: cell under the cheap budget (the baseline CNN's cells come with it) and one that trains none.
TWO_FAMILIES = ("--seeds", "1", "--cnn-budget", "epochs", "--families", "reconstruction,augmentation")
#: The same with every installed family but the downstream one (tested in test_downstream.py): the generative
#: one (a feature network and FID, KID, PRDC per cell) and third parties'.
EVERY_FAMILY = ("--seeds", "1", "--cnn-budget", "epochs", "--families", "all,-downstream")


def make_distribution(site: Path, dist: str, version: str, module: str, source: str, entry: str | None = None) -> Path:
    """Install a distribution the way pip would leave it: a module plus ``*.dist-info`` with METADATA
    and an entry point in the group ``bench``. Returns the site directory to put on the path."""
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[bench]\n{entry or module} = {module}\n")
    (info / "RECORD").write_text("")
    return site


THIRD_PARTY_MODEL = '''
import torch
from torch import nn
from torch.nn import functional as F
from registry import ModelSpec, Param, hookimpl


class TinyAE(nn.Module):
    def __init__(self, shape, width=16):
        super().__init__()
        self.shape = tuple(shape)
        d = 1
        for s in self.shape:
            d *= s
        self.enc = nn.Linear(d, width)
        self.dec = nn.Linear(width, d)

    def encode(self, x):
        return torch.relu(self.enc(x.flatten(1)))

    def decode(self, z):
        return torch.sigmoid(self.dec(z)).view(-1, *self.shape)

    def forward(self, x):
        return self.decode(self.encode(x))

    def loss(self, x_in, x_target):
        return F.mse_loss(self(x_in), x_target)


@hookimpl
def bench_models():
    return [ModelSpec("tiny_ae", TinyAE, "a third party's one-layer autoencoder",
                      (Param("width", int, 16, low=1),), epochs=3, lr=1e-2)]
'''


@pytest.fixture
def third_party_site(tmp_path, monkeypatch) -> Path:
    """A third-party distribution ``bench-tiny 1.2.3`` providing the model ``tiny_ae``, on sys.path
    and on PYTHONPATH for subprocesses."""
    site = make_distribution(tmp_path / "site", "bench-tiny", "1.2.3", "bench_tiny", THIRD_PARTY_MODEL)
    add_site(site, monkeypatch)
    return site


def add_site(site: Path, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(site))
    paths = [str(site), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))


def pytest_configure(config):
    """Under pytest-xdist each worker computes on its share of the cores (tests that call torch directly
    would otherwise each start one thread per core, and the workers would fight over them)."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
    if workers:
        import torch

        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        torch.set_num_threads(max(1, cores // workers))


@pytest.fixture(autouse=True)
def _no_plugin_env(monkeypatch):
    """Tests start from the default plugin settings whatever the caller's shell has set, and run their
    grids in one process unless they name an executor: the test files already run side by side, one per
    core, so a worker pool per grid would only add start-up time."""
    monkeypatch.delenv("BENCH_STRICT_PLUGINS", raising=False)
    monkeypatch.delenv("BENCH_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.setenv("BENCH_EXECUTOR", "local")


def run_bench(*args: str, cwd: Path | None = None, env: dict | None = None,
              python: str | Path = sys.executable) -> subprocess.CompletedProcess:
    """Run the installed ``bench`` command line as a user would (with ``python``'s environment)."""
    return subprocess.run([str(python), "-m", "bench", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=600)


def by_cell(results, column: str = "model") -> dict:
    """Stored records merged per cell, by one of its columns (``model`` where a grid has one cell per model): a
    cell's families are kept in a record per scope (bench.keys: the CNN protocol only where a family reads it)."""
    import dataclasses

    out: dict = {}
    for r in results:
        k = r.cell[column]
        o = out.get(k)
        out[k] = r if o is None else dataclasses.replace(
            o, families={**o.families, **r.families}, metrics=[*o.metrics, *r.metrics], figures={**o.figures, **r.figures},
            items={**o.items, **r.items}, training=o.training or r.training, cnn=r.cnn or o.cnn)
    return out
