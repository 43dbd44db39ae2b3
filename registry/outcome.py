"""What a metric or a figure of a cell can be instead of a value: not applicable, with the reason.

A type, not a string prefix: the evaluator returns :class:`NotApplicable`, the store keeps its text
(``"not applicable: <reason>"``), and readers turn stored text back with :meth:`NotApplicable.parse`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class NotApplicable:
    """Why a metric or figure has no value for a cell (a 1-D latent has no t-SNE; an autoencoder without a
    posterior has no likelihood). Never a zero: leaderboards show the reason."""

    reason: str
    PREFIX: ClassVar[str] = "not applicable: "

    def __str__(self) -> str:
        return self.PREFIX + self.reason

    @classmethod
    def parse(cls, stored: Any) -> NotApplicable | None:
        """The NotApplicable a stored value holds, or None when it holds something else (a value, a path)."""
        if isinstance(stored, NotApplicable):
            return stored
        if isinstance(stored, str) and stored.startswith(cls.PREFIX):
            return cls(stored[len(cls.PREFIX):])
        return None
