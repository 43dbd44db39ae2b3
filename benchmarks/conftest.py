"""Shared data of the benchmarks and the summary of their targets, printed at the end of
``pytest benchmarks/ --benchmark-only -n 0``: each ratio the project promises, measured on this machine.

Ratios use the medians of the benchmarks' rounds (the machine's noise moves means more than medians).
"""

from __future__ import annotations

import pytest
import torch

#: Measurements the benchmarks leave for the summary: images/s, FLOP/s, latencies in s, shares.
RESULTS: dict[str, float] = {}

#: (what, numerator, denominator, at least, at most): ``RESULTS[numerator] / RESULTS[denominator]``.
TARGETS = [
    ("MLP VAE training, harness / tutorial DataLoader (a)", "train/mlp_vae/harness", "train/mlp_vae/tutorial", 4.0, None),
    ("MLP VAE training, harness / TensorDataset DataLoader (b)", "train/mlp_vae/harness", "train/mlp_vae/tensordataset",
     1.3, None),
    ("MLP VAE training step FLOP/s / 2048x2048 matmul FLOP/s", "flops/mlp_vae/harness", "flops/mlp_vae/matmul", 0.45, None),
    ("conv AE training, harness / tutorial DataLoader (a)", "train/conv_ae/harness", "train/conv_ae/tutorial", None, None),
    ("conv AE training, harness / TensorDataset DataLoader (b)", "train/conv_ae/harness",
     "train/conv_ae/tensordataset", None, None),
    ("conv AE training step FLOP/s / 2048x2048 matmul FLOP/s", "flops/conv_ae/harness", "flops/conv_ae/matmul", None, None),
    ("ae inference at batch 1, torch latency / onnxruntime latency", "infer/ae/torch", "infer/ae/onnxruntime", 2.0, None),
    ("vae inference at batch 1, torch latency / onnxruntime latency", "infer/vae/torch", "infer/vae/onnxruntime", 2.0,
     None),
    ("conv_ae inference at batch 1, torch latency / onnxruntime latency", "infer/conv_ae/torch",
     "infer/conv_ae/onnxruntime", None, None),
    ("ae ONNX parity, max |onnxruntime - torch|", "parity/ae", None, None, 1e-5),
    ("vae ONNX parity, max |onnxruntime - torch|", "parity/vae", None, None, 1e-5),
    ("default bench run grid, share of time outside training and evaluation", "grid/outside", "grid/total", None, 0.10),
    ("baseline CNN: validation accuracy at 3x the quick budget minus at the budget", "cnn/converged_gap", None, None,
     0.01),
    ("reference CNN training, bf16 / fp32 images per second", "cnn/images_per_s/bf16", "cnn/images_per_s/fp32",
     None, None),
    ("reference CNN training, fp32 channels-last / fp32 images per second", "cnn/images_per_s/fp32-channels-last",
     "cnn/images_per_s/fp32", None, None),
    ("baseline CNN at the converged budget: bf16 minus fp32 validation accuracy", "cnn/bf16_minus_fp32", None, None, None),
    ("reference CNN step, fp32 channels-last: share of the core's fp32 peak", "roofline/fp32-channels-last/peak_share",
     None, 0.6, None),
    ("reference CNN step, fp32 (default layout): share of the core's fp32 peak", "roofline/fp32/peak_share", None, 0.6,
     None),
    ("reference CNN step, bf16 / fp32 speed (where bf16 is native)", "roofline/fp32-channels-last/step_s",
     "roofline/bf16-channels-last/step_s", 4.0, None),
    ("digits grid: local wall time / default executor (processes, one per core) wall time", "executor/local_s",
     "executor/default_s", None, None),
    ("generative family: share of a paper-profile VAE cell on Fashion-MNIST", "generative/cell_s",
     "generative/paper_cell_s", None, None),
    *((f"converged protocol, {pair} {cnn}: validation accuracy at 3x the steps minus at the budget (points)",
       f"convergence/{pair.replace(':', '/')}/{cnn}", None, None, 0.5)
      for pair in ("digits:250", "digits:1000", "fashion_mnist:1000", "fashion_mnist:5000")
      for cnn in ("baseline", "vae-augmented")),
]


def pytest_terminal_summary(terminalreporter):
    rows = []
    for what, num, den, low, high in TARGETS:
        if num not in RESULTS or (den is not None and den not in RESULTS):
            continue
        value = RESULTS[num] / RESULTS[den] if den else RESULTS[num]
        target = (f">= {low:g}" if low is not None else "") + (f"<= {high:g}" if high is not None else "")
        met = "" if not target else ("met" if (low is None or value >= low) and (high is None or value <= high)
                                     else "NOT MET")
        rows.append(f"{what}: {value:.3g} {target} {met}".rstrip())
    if RESULTS:
        terminalreporter.section("bench targets (medians on this machine)")
        for row in rows:
            terminalreporter.write_line(row)
        for key, value in sorted(RESULTS.items()):
            terminalreporter.write_line(f"  {key} = {value:.4g}")


@pytest.fixture(scope="session")
def fashion():
    """Fashion-MNIST's tensors and the data root whose raw files torchvision reads (skip without them)."""
    from bench.data import data_root, load
    from registry import DatasetUnavailable, load_registry

    try:
        loaded = load(load_registry().spec("datasets", "fashion_mnist"))
        return loaded.data, data_root()
    except DatasetUnavailable as exc:
        pytest.skip(f"Fashion-MNIST is not available: {exc}")


@pytest.fixture(scope="session")
def threads() -> int:
    return torch.get_num_threads()
