"""torch's ``inference_mode`` and ``no_grad`` as decorators that import torch when the function is called, not
when its module is imported: the metric and family modules are imported whenever the registry loads (for
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


def no_grad(fn: F) -> F:
    """``fn`` run under ``torch.no_grad()``."""
    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        import torch

        with torch.no_grad():
            return fn(*args, **kwargs)
    return run  # type: ignore[return-value]
