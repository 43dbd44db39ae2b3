"""bench: a plugin-based benchmarking harness for autoencoders on limited, noisy data."""

from importlib import metadata

try:
    __version__ = metadata.version("aebench")
except metadata.PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+source"
