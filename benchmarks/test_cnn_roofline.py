"""One reference-CNN training step against the limit of the core it runs on (issue 33, item 1): the step's
FLOPs (forward and backward, counted by torch's ``FlopCounterMode``), its median time on one thread, the
achieved GFLOP/s and their share of the core's peak, per precision and memory layout; where the step's time
goes (``torch.profiler``: the operators with the most self time); and which kernels oneDNN ran (its verbose
output, read from a child process: whether AMX, AVX-512 or AVX2 code did the convolutions and matmuls).

The peak is the core's vector FLOPs per cycle times its clock: AVX2 with FMA 32 fp32 FLOP/cycle (two 256-bit
FMA pipes), AVX-512 64 (two 512-bit pipes; some parts have one), AVX512-BF16 128 bf16 FLOP/cycle, AMX-BF16
1,024; the clock is ``/proc/cpuinfo``'s "cpu MHz" (in a VM, what the hypervisor says). bf16 is measured only
where it is native (``bench.precision.bf16_supported``); elsewhere it is skipped with the reason.

Run: ``pytest benchmarks/test_cnn_roofline.py --benchmark-only -n 0 -s`` (about a minute).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch
from conftest import RESULTS
from torch.nn import functional as F
from torch.utils.flop_counter import FlopCounterMode

from bench.cnn import ReferenceCNN
from bench.precision import autocast, bf16_supported
from bench.train import adam

BATCH = 128
SHAPE = (1, 28, 28)  # Fashion-MNIST's images: the default grid's reference CNN
STEPS = 20

#: (precision, channels-last): the equal-epochs protocol's layout, the converged/compute-matched one's, bf16.
CASES = [("fp32", False), ("fp32", True), ("bf16", True)]


def cpu_flags() -> set[str]:
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    found = re.search(r"^flags\s*:\s*(.*)$", text, re.M)
    return set(found.group(1).split()) if found else set()


def cpu_mhz() -> float | None:
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    found = re.search(r"^cpu MHz\s*:\s*([\d.]+)", text, re.M)
    return float(found.group(1)) if found else None


def flop_per_cycle(precision: str, flags: set[str]) -> tuple[int, str] | None:
    """The core's peak FLOP per cycle at ``precision`` and the unit it comes from, or None if not known."""
    if precision == "bf16":
        if "amx_bf16" in flags:
            return 1024, "AMX-BF16 tiles"
        if "avx512_bf16" in flags:
            return 128, "AVX512-BF16, two 512-bit pipes"
        return None
    if "avx512f" in flags:
        return 64, "AVX-512 FMA, two 512-bit pipes"
    if "avx2" in flags and "fma" in flags:
        return 32, "AVX2 FMA, two 256-bit pipes"
    return None


def _step(model: torch.nn.Module, optimizer, x: torch.Tensor, y: torch.Tensor, precision: str) -> None:
    with autocast(precision, "cpu"):
        loss = F.cross_entropy(model(x), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def _setup(precision: str, channels_last: bool):
    torch.manual_seed(0)
    model = ReferenceCNN(SHAPE, 10)
    x, y = torch.rand(BATCH, *SHAPE), torch.randint(0, 10, (BATCH,))
    if channels_last:
        model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    return model, adam(list(model.parameters()), 1e-3), x, y


def step_flops(precision: str, channels_last: bool) -> int:
    model, optimizer, x, y = _setup(precision, channels_last)
    counter = FlopCounterMode(display=False)
    with counter:
        _step(model, optimizer, x, y, precision)
    return int(counter.get_total_flops())


def top_ops(precision: str, channels_last: bool, n: int = 6) -> list[tuple[str, float]]:
    """The operators with the most self CPU time over a few steps, with their share of the total."""
    from torch.profiler import ProfilerActivity, profile

    model, optimizer, x, y = _setup(precision, channels_last)
    for _ in range(3):
        _step(model, optimizer, x, y, precision)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(5):
            _step(model, optimizer, x, y, precision)
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events)
    events.sort(key=lambda e: -e.self_cpu_time_total)
    return [(e.key, e.self_cpu_time_total / total) for e in events[:n]]


KERNEL_SCRIPT = """
import sys, torch
sys.path.insert(0, {bench!r})
from test_cnn_roofline import _setup, _step
torch.set_num_threads(1)
model, optimizer, x, y = _setup({precision!r}, {channels_last!r})
for _ in range(2):
    _step(model, optimizer, x, y, {precision!r})
"""


def onednn_kernels(precision: str, channels_last: bool) -> Counter:
    """oneDNN's primitive kinds and implementations (``convolution brg_conv_fwd:avx2``...) over two steps."""
    script = KERNEL_SCRIPT.format(bench=str(Path(__file__).parent), precision=precision, channels_last=channels_last)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "ONEDNN_VERBOSE": "1", "DNNL_VERBOSE": "1"})
    found: Counter = Counter()
    for line in done.stdout.splitlines():
        parts = line.split(",")
        if line.startswith("onednn_verbose") and "exec" in parts and "cpu" in parts:
            at = parts.index("cpu")
            if len(parts) > at + 2:
                found[f"{parts[at + 1]} {parts[at + 2]}"] += 1
    return found


@pytest.mark.parametrize("precision, channels_last", CASES, ids=["fp32", "fp32-channels-last", "bf16-channels-last"])
def test_a_reference_cnn_step_against_the_cores_peak(benchmark, precision, channels_last):
    if precision == "bf16" and not bf16_supported("cpu"):
        pytest.skip("no native bfloat16 on this CPU (no avx512_bf16 or amx_bf16): bf16 would be emulated")
    torch.set_num_threads(1)
    flags, mhz = cpu_flags(), cpu_mhz()
    flops = step_flops(precision, channels_last)
    model, optimizer, x, y = _setup(precision, channels_last)
    benchmark.pedantic(lambda: _step(model, optimizer, x, y, precision), rounds=STEPS, warmup_rounds=3)
    seconds = benchmark.stats.stats.median
    gflops = flops / seconds / 1e9
    unit = flop_per_cycle(precision, flags)
    peak = unit[0] * mhz / 1e3 if unit and mhz else None
    name = f"{precision}{'-channels-last' if channels_last else ''}"
    RESULTS[f"roofline/{name}/gflops"] = gflops
    RESULTS[f"roofline/{name}/step_s"] = seconds
    if peak:
        RESULTS[f"roofline/{name}/peak_share"] = gflops / peak
    kernels = onednn_kernels(precision, channels_last)
    ops = top_ops(precision, channels_last)
    benchmark.extra_info.update(flops=flops, gflops=gflops, peak_gflops=peak, kernels=dict(kernels),
                                top_ops=ops, cpu_flags=sorted(f for f in flags if f in (
                                    "avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")))
    print(f"\n{name}: {flops / 1e9:.2f} GFLOP a step, {seconds * 1e3:.0f} ms (median of {STEPS}), "
          f"{gflops:.1f} GFLOP/s" + (f" = {gflops / peak:.0%} of {peak:.0f} GFLOP/s ({unit[1]} at {mhz:.0f} MHz)"
                                       if peak else " (no peak known for these flags)"))
    print("  oneDNN kernels: " + (", ".join(f"{k} ×{v}" for k, v in kernels.most_common(8)) or
                                  "none (the step ran outside oneDNN)"))
    print("  self time: " + ", ".join(f"{op} {share:.0%}" for op, share in ops))
