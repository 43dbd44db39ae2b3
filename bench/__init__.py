"""bench: a plugin-based benchmarking harness for autoencoders on limited, noisy data.

``bench.run(...)`` computes a grid and returns its :class:`bench.api.Results` (see :mod:`bench.api`);
``import bench`` itself stays light: the API loads on first use."""

from .version import __version__


def run(*args, **kwargs):
    """Compute a grid (cells already stored are read back) and return its Results: see :func:`bench.api.run`."""
    from .api import run as _run

    return _run(*args, **kwargs)


__all__ = ["__version__", "run"]
