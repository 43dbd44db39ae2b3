"""Inference latency of encode + decode per batch, on torch (eager, inference mode) and on onnxruntime
(the exported graphs), with the thread counts fixed so that the comparison is fair.

Each measurement rests (so that the other backend's threads are idle), warms up, then repeats the call
until it has at least ``repeats`` samples and :data:`MIN_SECONDS` of them, and keeps the median, the
95th percentile, the interquartile range (the spread), the fastest call and the throughput at the median.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

BACKENDS = ("torch", "onnxruntime")
BATCH_SIZES = (1, 64, 256)
MIN_SECONDS = 0.5
MAX_REPEATS = 20_000
#: Idle time before each measurement, so that the other backend's thread pool has stopped spinning (on a
#: small machine the spinning workers of one library take cores from the other).
IDLE_SECONDS = 0.2


def batch_of(images: torch.Tensor, size: int) -> torch.Tensor:
    """``size`` test images (repeated when there are fewer), contiguous on the CPU."""
    reps = -(-size // len(images))
    return images.cpu().repeat(reps, *([1] * (images.dim() - 1)))[:size].contiguous()


def torch_call(model: nn.Module, x: torch.Tensor) -> Callable[[], Any]:
    def call() -> Any:
        with torch.inference_mode():
            return model.decode(model.encode(x))

    return call


def onnxruntime_call(encoder: Any, decoder: Any, x: torch.Tensor) -> Callable[[], Any]:
    feed = x.numpy()

    def call() -> Any:
        return decoder.run(None, {"z": encoder.run(None, {"x": feed})[0]})[0]

    return call


def latencies(call: Callable[[], Any], *, warmup: int, repeats: int, min_seconds: float = MIN_SECONDS,
              idle: float = IDLE_SECONDS) -> np.ndarray:
    """Seconds per call after ``idle`` seconds of rest and ``warmup`` calls: at least ``repeats`` of them
    and ``min_seconds`` in all."""
    time.sleep(idle)
    for _ in range(warmup):
        call()
    samples: list[float] = []
    spent = 0.0
    while (len(samples) < repeats or spent < min_seconds) and len(samples) < MAX_REPEATS:
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
        spent += samples[-1]
    return np.asarray(samples)


def summarise(seconds: np.ndarray, batch_size: int) -> dict[str, float | int]:
    q25, median, q75, p95 = np.percentile(seconds, [25, 50, 75, 95])
    return {"repeats": int(len(seconds)), "median_ms": float(median * 1e3), "p95_ms": float(p95 * 1e3),
            "iqr_ms": float((q75 - q25) * 1e3), "min_ms": float(seconds.min() * 1e3),
            "images_per_s": float(batch_size / median)}
