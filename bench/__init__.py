"""bench: a plugin-based benchmarking harness for autoencoders on limited, noisy data.

``bench.run(...)`` computes a grid and returns its :class:`bench.api.Results` (see :mod:`bench.api`);
``bench.report(...)`` writes a store's reports;
``import bench`` itself stays light: the API module imports torch, pandas and the plugins only when a run
starts."""

from .api import report, run
from .version import __version__

__all__ = ["__version__", "report", "run"]
