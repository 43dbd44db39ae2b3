"""Trained models kept on disk beside the results store, so that a resumed run, ``bench export`` and
``bench time`` reuse them instead of training again. Files hold plain state dicts and are loaded with
``torch.load(..., weights_only=True)``: a checkpoint cannot run code."""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import torch

from .files import atomic_write, locked
from .hashing import content_hash

FORMAT = 1


@dataclass
class Checkpoint:
    history: list[float]
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. the optimizer steps a CNN took


def training_key(**parts: Any) -> str:
    """A content hash of everything that determines the trained weights."""
    return content_hash([parts], chars=24)


class Checkpoints:
    def __init__(self, directory: Path | str):
        self.directory = Path(directory)

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.pt"

    @contextmanager
    def lock(self, key: str, timeout: float = -1) -> Iterator[None]:
        """Hold ``key`` against other processes (a file lock, :func:`bench.files.locked`): the first to take
        it trains and saves, the others wait and then load the file it wrote (``timeout``: seconds at most, then
        :class:`filelock.Timeout`; 0 to take it only if no one holds it)."""
        with locked(self.directory / f"{key}.lock", timeout):
            yield

    def save(self, key: str, model: torch.nn.Module, history: list[float], seconds: float,
             extra: dict[str, Any] | None = None) -> Path:
        """Write atomically (a kill mid-write leaves no half file under the final name)."""
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        payload = {"format": FORMAT, "state_dict": state, "history": [float(h) for h in history],
                   "seconds": float(seconds), "extra": dict(extra or {})}
        return atomic_write(self.path(key), lambda handle: torch.save(payload, handle))

    def load(self, key: str, model: torch.nn.Module) -> Checkpoint | None:
        """Load the weights of ``key`` into ``model``; None when there is no usable checkpoint (an
        unreadable one is reported and ignored: the model is trained again)."""
        path = self.path(key)
        if not path.exists():
            return None
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
            model.load_state_dict(payload["state_dict"])
            return Checkpoint(list(payload["history"]), float(payload["seconds"]), dict(payload.get("extra") or {}))
        except Exception as exc:  # truncated, foreign or from another architecture
            why = (str(exc).strip().splitlines() or [""])[0]  # one line: torch's own message runs to a page
            warnings.warn(f"checkpoint {path} could not be read ({type(exc).__name__}: {why}); its model is trained "
                          "again and the file replaced")
            return None
