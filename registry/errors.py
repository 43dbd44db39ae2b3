"""Errors a user can act on: each carries one line that says what was given, what is allowed, and a hint.

The CLI prints the message of any :class:`BenchError` as one line on stderr and exits with code 2.
"""


class BenchError(Exception):
    """Base class of every error caused by the user's input or environment (never by a bug)."""


class SelectionError(BenchError):
    """A name or pattern on the command line matched no installed plugin."""


class ParameterError(BenchError, ValueError):
    """A parameter value is outside what a spec declares."""


class PluginError(BenchError):
    """A plugin failed to load or two plugins claim one name."""


class DatasetUnavailable(BenchError):
    """A dataset's files are missing and could not be obtained; the message says where it looked."""
