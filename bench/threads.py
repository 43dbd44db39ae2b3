"""The threads a cell computes with: torch's intra-op pool and the BLAS/OpenMP pools numpy, SciPy and
scikit-learn use (through threadpoolctl).

Float rounding depends on the number of threads, and training amplifies rounding: on the digits grid, one
run at 2 threads and one at 1 thread disagreed on 377 of 1,350 metric values, some by more than a seed's
spread. So a cell computes with :data:`DEFAULT_THREADS` wherever it runs (this process, a worker process,
a Dask worker, any machine) unless ``--threads`` says otherwise: the same cell gives the same numbers
everywhere, and more cores are used by running cells side by side (``--executor processes:N``)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

DEFAULT_THREADS = 1


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
