"""The null experiment with real training: ``ae`` and ``ae_twin``, a copy of it that differs only in its
initial weights (same architecture, loss, data, batch order and noise draws; its weights are drawn from
another seed), trained and scored by ``bench run`` on digits under the default protocol. Each replicate runs
the grid on new seeds; the share of replicates in which any mark, bold, verdict line or ranking position of
a family tells the copies apart is its false-positive rate, which must not be above 5%.

Dear (a few minutes per replicate of 3 seeds on 2 cores), so not part of the default test run:
``BENCH_NULL_REPLICATES=60 BENCH_NULL_SEEDS=3 pytest benchmarks/test_null_training.py --benchmark-only -n 0 -s``
(defaults: 20 replicates of 3 seeds). tests/test_null_calibration.py runs the same count on simulated copies.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_null_calibration import separating_claims  # noqa: E402

REPLICATES = int(os.environ.get("BENCH_NULL_REPLICATES", "20"))
SEEDS = int(os.environ.get("BENCH_NULL_SEEDS", "3"))

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


def _twin_site(root: Path) -> Path:
    site = root / "site"
    site.mkdir(parents=True, exist_ok=True)
    (site / "bench_null_twin.py").write_text(textwrap.dedent(TWIN))
    info = site / "bench_null_twin-1.0.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: bench-null-twin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[bench]\nbench_null_twin = bench_null_twin\n")
    (info / "RECORD").write_text("")
    return site


def test_two_copies_of_one_trained_model_are_told_apart_in_at_most_5_percent_of_runs(benchmark, tmp_path):
    from bench.store import open_store

    site = _twin_site(tmp_path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH")) if p)}
    hits: dict[str, int] = {}
    examples: dict[str, list[str]] = {}

    def replicate(r: int) -> None:
        out = tmp_path / f"r{r}"
        seeds = ",".join(str(SEEDS * r + s) for s in range(SEEDS))
        done = subprocess.run([sys.executable, "-m", "bench", "run", "--datasets", "digits", "--models", "ae,ae_twin",
                               "--noise", "gaussian", "--severities", "1,3", "--seeds", seeds, "--out", str(out),
                               "--quiet", "--format", "csv"], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        store = open_store(out)
        cells = store.results()
        items = store.items()
        for family, claims in separating_claims(cells, items).items():
            hits[family] = hits.get(family, 0) + bool(claims)
            examples.setdefault(family, []).extend(claims[:1])

    benchmark.pedantic(lambda: [replicate(r) for r in range(REPLICATES)], rounds=1, iterations=1)
    benchmark.extra_info.update({f"{family}_separated": n for family, n in hits.items()})
    benchmark.extra_info["replicates"] = REPLICATES
    for family, count in hits.items():
        rate = stats.binomtest(count, REPLICATES, 0.05, alternative="greater")
        print(f"{family}: {count} of {REPLICATES} replicates separate the copies; {examples[family][:2]}")
        assert rate.pvalue >= 0.05, (family, count, examples[family][:3])
