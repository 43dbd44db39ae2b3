"""Numeric precision of the reference CNN: ``fp32`` (the default) or ``bf16`` (bfloat16 autocast with
channels-last tensors). bf16 runs only where the hardware has bfloat16 arithmetic: elsewhere PyTorch
emulates it, which on an AVX2 CPU made the CNN's training step eight times slower than fp32."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from registry import BenchError

if TYPE_CHECKING:  # torch is imported where a device is asked about: fp32 on the CPU needs no question
    import torch

PRECISIONS = ("fp32", "bf16")  # what a cell runs at
CHOICES = (*PRECISIONS, "auto")  # what a user may ask for: auto is bf16 where the hardware has it, else fp32


def _cpu_has_bf16() -> bool:
    import torch

    check = getattr(getattr(torch.ops, "mkldnn", None), "_is_mkldnn_bf16_supported", None)
    if check is not None:
        try:
            return bool(check())
        except (RuntimeError, AttributeError):
            pass
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def bf16_supported(device: torch.device | str) -> bool:
    """Whether ``device`` computes in bfloat16 natively (CUDA: compute capability 8.0 or newer; CPU:
    AVX512-BF16 or AMX)."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
    return _cpu_has_bf16()


def resolve_precision(precision: str, device: torch.device | str) -> str:
    """The precision cells run at (one of :data:`PRECISIONS`) for what the user asked (one of
    :data:`CHOICES`): ``auto`` is bf16 where ``device`` has native bfloat16, else fp32. One line for a
    precision that is not a choice, or bf16 on a device that cannot run it."""
    if precision == "auto":
        return "bf16" if bf16_supported(device) else "fp32"
    check_precision(precision, device)
    return precision


def check_precision(precision: str, device: torch.device | str) -> None:
    """One line for a precision that is not one of :data:`CHOICES` or that ``device`` cannot run."""
    if precision not in CHOICES:
        raise BenchError(f"--precision takes one of {', '.join(CHOICES)}. Got {precision!r} instead.")
    if precision == "bf16" and not bf16_supported(device):
        import torch

        from .provenance import cpu_name

        device = torch.device(device)
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"the CPU '{cpu_name()}'"
        raise BenchError(f"--precision bf16: {name} ({device.type}) has no native bfloat16 arithmetic (it needs "
                         "AVX512-BF16 or AMX on a CPU, compute capability 8.0 on a GPU); emulated it runs several "
                         "times slower than fp32. Use --precision fp32")


@contextlib.contextmanager
def autocast(precision: str, device: torch.device | str) -> Iterator[None]:
    """bfloat16 autocast under ``bf16``; nothing under ``fp32``."""
    import torch

    device = torch.device(device)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        yield
