"""The harness's version, from the installed distribution's metadata (aebench)."""

from importlib import metadata

try:
    __version__ = metadata.version("aebench")
except metadata.PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+source"
