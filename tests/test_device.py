"""Claims about a GPU: ``--device cuda`` runs every metric family end to end, and the cells say which device and
GPU they ran on. Skipped, with the reason, where torch sees no CUDA device (the product never needs one)."""

from __future__ import annotations

import pytest
import torch

from bench import cli
from bench.store import open_store

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="no CUDA device here (torch.cuda.is_available() is False)")


def test_every_family_runs_end_to_end_on_cuda_and_the_cells_name_the_gpu(tmp_path):
    code = cli.main(["run", "--device", "cuda", "--datasets", "digits", "--models", "ae,vae", "--noise", "gaussian",
                     "--severities", "1", "--seeds", "1", "--cnn-budget", "epochs", "--families", "all",
                     "--out", str(tmp_path), "--quiet", "--format", "csv"])
    assert code == 0
    results = open_store(tmp_path).results()
    assert results and all(r.outcome == "done" for r in results), [r.status_line() for r in results]
    ran = {name for r in results for name, run in r.families.items() if run.status == "done"}
    assert ran >= {"reconstruction", "latent", "likelihood", "downstream", "augmentation", "generative"}
    assert all(r.provenance["device"].startswith("cuda") and r.provenance["gpu"] for r in results)
