"""The threads a cell computes with: torch's intra-op pool and the BLAS/OpenMP pools numpy, SciPy and
scikit-learn use (through threadpoolctl). Float rounding depends on them, so every executor fixes all of
them to the same ``--threads``."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator


def set_threads(n: int) -> None:
    """Use ``n`` threads from now on in this process (a worker's setting)."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(n)
    threadpool_limits(limits=n)


@contextmanager
def threads(n: int) -> Iterator[None]:
    """Use ``n`` threads inside the block, and what was used before after it."""
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        with threadpool_limits(limits=n):
            yield
    finally:
        torch.set_num_threads(before)
