"""Warnings in bench's words: one line ``bench: warning: ...`` on stderr, never a Python warning with its source
line, and each said once per process (every load of the registry meets a plugin that fails to import: it is
said once)."""

from __future__ import annotations

import sys
import warnings

_SAID: set[str] = set()


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # warnings.showwarning's
    text = str(message)
    if text in _SAID:
        return
    _SAID.add(text)
    print(f"bench: warning: {text}", file=sys.stderr, flush=True)


def say_warnings_in_bench_words(*, plugin_loads: bool = True) -> None:
    """From now on this process says its warnings in bench's words, once each; ``plugin_loads=False`` (a worker
    process: the run that started it has said them) leaves out what the registry warns of a plugin."""
    warnings.showwarning = show_warning
    if not plugin_loads:
        from registry.manager import CapabilityWarning, PluginLoadWarning

        warnings.simplefilter("ignore", PluginLoadWarning)
        warnings.simplefilter("ignore", CapabilityWarning)
