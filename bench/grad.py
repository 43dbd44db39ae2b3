"""torch's ``inference_mode`` as a decorator that imports torch when the function is called, not when its module
is imported: the metric and family modules are imported whenever the registry loads (for
``bench list``, a cached rerun), and only a computed cell needs torch."""

from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def inference_mode(fn: F) -> F:
    """``fn`` run under ``torch.inference_mode()``."""
    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        import torch

        with torch.inference_mode():
            return fn(*args, **kwargs)
    return run  # type: ignore[return-value]

