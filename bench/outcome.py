"""Not applicable, with the reason: :mod:`registry.outcome`, re-exported for the harness's own modules."""

from registry.outcome import NotApplicable

__all__ = ["NotApplicable"]
