"""Seeds derived from a cell's seed and names, stable across processes and machines."""

from __future__ import annotations

import contextlib
import random
from typing import TYPE_CHECKING, Iterator

from .hashing import content_hash

if TYPE_CHECKING:
    import torch


def derive_seed(seed: int, *parts: object) -> int:
    """A 63-bit seed from ``seed`` and ``parts``; unlike ``hash()`` it does not change between runs."""
    text = "\x1f".join([str(seed), *map(str, parts)])
    return int(content_hash([text], chars=16, algorithm="blake2b"), 16) >> 1


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) so that what follows is reproducible."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextlib.contextmanager
def seeded(seed: int, device: torch.device | None = None) -> Iterator[None]:
    """Draw from torch's generator seeded by ``seed`` inside the block, leaving the outer state alone,
    so a result does not depend on what ran before it in the process."""
    import torch

    devices = [device] if device is not None and device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield
