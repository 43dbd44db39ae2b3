"""A spec's callable named by where it lives (``"package.module:Name"``) and imported when first called.

A plugin module is imported whenever the registry loads, for every ``bench`` command: ``bench list``, a
cached rerun that computes nothing, ``bench report``. Its specs only describe; the torch code behind them
is needed only when a cell is computed. ``ModelSpec(factory=deferred("mypkg.nets:MyVAE"))`` (or a noise's
``function``, a dataset's ``loader``, a family's ``score``) keeps the plugin's import as light as its
specs: the module named is imported on the first call, once, by :func:`pkgutil.resolve_name`.

A deferred factory is not a class at load, so its capabilities are checked when it builds a model, as a
factory function's are; its signature is the target's (the plugin kit checks declared parameters on it).
"""

from __future__ import annotations

import inspect
import re
from pkgutil import resolve_name
from typing import Any

_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


class Deferred:
    """A callable standing for the object at ``path``: calling it imports that object and calls it."""

    __slots__ = ("path", "_target")

    def __init__(self, path: str):
        if not isinstance(path, str) or not _PATH.match(path):
            raise ValueError(f"a deferred callable is named 'package.module:Name'. Got {path!r} instead.")
        self.path = path
        self._target: Any = None

    @property
    def target(self) -> Any:
        """The object named, imported on first use."""
        if self._target is None:
            self._target = resolve_name(self.path)
        return self._target

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.target(*args, **kwargs)

    @property
    def __signature__(self) -> inspect.Signature:
        return inspect.signature(self.target)

    @property
    def __name__(self) -> str:  # without importing: the last part of the path
        return self.path.rpartition(":")[2].rpartition(".")[2]

    def __reduce__(self) -> tuple[Any, tuple[str]]:  # pickled by path: a worker imports it on its own first call
        return Deferred, (self.path,)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Deferred) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    def __repr__(self) -> str:
        return f"deferred({self.path!r})"


def deferred(path: str) -> Deferred:
    """The callable at ``path`` (``"package.module:Name"``), imported when first called."""
    return Deferred(path)
