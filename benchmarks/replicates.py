"""What the claims benchmarks share: a store of real runs cut into replicates (the cells of some seeds and
models, as if ``bench run`` had run only those), and what the leaderboard's marks decide about one pair of
models in one condition."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

from scipy import stats

from bench.result import CellResult
from reports import leaderboard_frame, results_frame

TWIN = '''
import torch
from registry import ModelSpec, hookimpl
from registry.models import MLPAutoencoder
from plugins.models import MLP_PARAMS


def twin(shape, **params):
    """The MLP autoencoder with initial weights from another seed; the global generator (batch order, noise)
    is left as the plain model's."""
    with torch.random.fork_rng():
        torch.manual_seed(torch.initial_seed() + 1_000_003)
        return MLPAutoencoder(shape, **params)


@hookimpl
def bench_models():
    return [ModelSpec("ae_twin", twin, "ae with other initial weights (null experiment)", MLP_PARAMS,
                      likelihood="bernoulli")]
'''


def twin_site(root: Path) -> Path:
    """A site directory that installs ``ae_twin`` as a third-party plugin (an entry point in group ``bench``)."""
    site = root / "site"
    site.mkdir(parents=True, exist_ok=True)
    (site / "bench_null_twin.py").write_text(textwrap.dedent(TWIN))
    info = site / "bench_null_twin-1.0.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: bench-null-twin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[bench]\nbench_null_twin = bench_null_twin\n")
    (info / "RECORD").write_text("")
    return site


def run_seeds(out: Path, models: str, seeds: list[int], site: Path | None = None, chunk: int = 30) -> None:
    """``bench run`` on digits over the default grid for ``seeds`` into the store under ``out``, ``chunk``
    seeds at a time (cells already stored are not computed again, so an interrupted measurement resumes)."""
    env = dict(os.environ)
    if site is not None:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH")) if p)
    for start in range(0, len(seeds), chunk):
        part = ",".join(str(s) for s in seeds[start:start + chunk])
        done = subprocess.run([sys.executable, "-m", "bench", "run", "--datasets", "digits", "--models", models,
                               "--seeds", part, "--out", str(out), "--quiet", "--format", "csv"],
                              env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]


def select(cells: list[CellResult], items: dict, seeds, models=None) -> tuple[list[CellResult], dict]:
    """The cells of ``seeds`` (and ``models``), with their per-item values: one replicate."""
    seeds = set(seeds)
    kept = [c for c in cells if c.cell["seed"] in seeds and (models is None or c.cell["model"] in models)]
    keys = {c.cell["key"] for c in kept}
    return kept, {k: v for k, v in items.items() if k[0] in keys}


@dataclass(frozen=True)
class Pair:
    """One pair of models in one condition: ``better`` is expected ahead of ``worse`` on ``metric``."""

    metric: str
    noise: str
    severity: int
    better: str
    worse: str

    def __str__(self) -> str:
        return f"{self.metric} {self.noise} s{self.severity}: {self.better} ahead of {self.worse}"


def board_of(cells: list[CellResult], items: dict):
    return leaderboard_frame(results_frame(cells), items)


def decision(board, pair: Pair) -> tuple[bool, float]:
    """Whether the leaderboard's family test marks ``pair.better`` ahead of ``pair.worse`` (Holm-adjusted p
    < 0.05 with the difference in that direction), and the adjusted p."""
    for (*_, metric), claims in board.attrs.get("claims", {}).items():
        if metric != pair.metric:
            continue
        for (a, b), c in claims.pairs.items():
            if (a[-1], b[-1], a[-3], a[-2]) == (pair.better, pair.worse, pair.noise, pair.severity):
                return bool(c.about_models and c.p < 0.05 and c.diff > 0), c.p
    return False, math.nan


def interval(hits: int, n: int) -> tuple[float, float]:
    """The two-sided 95% Clopper-Pearson interval of a rate."""
    ci = stats.binomtest(hits, n).proportion_ci(0.95, method="exact")
    return float(ci.low), float(ci.high)
