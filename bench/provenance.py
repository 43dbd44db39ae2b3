"""Where a result came from: versions, source commit, machine and threads, recorded with every cell."""

from __future__ import annotations

import functools
import os
import platform
import socket
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .version import __version__

if TYPE_CHECKING:
    import torch


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The commit of the bench source tree (``+dirty`` with uncommitted changes); None outside git."""
    source = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10)
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(source), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit.stdout.strip() + ("+dirty" if dirty else "")


@functools.lru_cache(maxsize=1)
def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)  # not the module: importing torchvision costs a second of startup
    except metadata.PackageNotFoundError:
        return None


def environment(device: torch.device | str) -> dict[str, Any]:
    """The software and machine a cell ran on (plugin distributions' versions are in the cell key). torch is
    asked only where it is loaded (every computed cell loads it; a run that finds every cell stored does not,
    and records the installed torch's version and no thread count: its run record names the threads asked)."""
    loaded = sys.modules.get("torch")
    if loaded is None and str(device).startswith("cuda"):
        import torch as loaded
    device = str(device) if loaded is None else loaded.device(device)
    return {
        "bench": __version__,
        "git_commit": git_commit(),
        "torch": loaded.__version__ if loaded is not None else _version("torch"),
        "torchvision": _version("torchvision"),
        "python": platform.python_version(),
        "host": socket.gethostname(),
        "os": platform.platform(),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "gpu": loaded.cuda.get_device_name(device) if loaded is not None and device.type == "cuda" else None,
        "device": str(device),
        "threads": loaded.get_num_threads() if loaded is not None else None,
        "pid": os.getpid(),
    }
