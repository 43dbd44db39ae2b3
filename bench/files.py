"""Files other processes may read or write at the same time: one atomic write and one lock, for every cache,
checkpoint and document bench writes (docs/ARCHITECTURE.md, "Concurrency"), and one reader of JSON caches.

The lock is :mod:`filelock`'s (``fcntl`` on POSIX, ``msvcrt`` on Windows: every platform has one); the write
goes to a unique temporary file in the target's directory, is flushed to disk and replaces the target, so a
reader sees the old file or the new one, never half of one, and a killed writer leaves no partial file under
the final name.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator

from filelock import FileLock


def atomic_write(path: Path | str, data: bytes | str | Callable[[BinaryIO], object]) -> Path:
    """Write ``data`` (bytes, text as UTF-8, or a function writing to a binary file) to ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            if callable(data):
                data(handle)
            else:
                handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


@contextmanager
def locked(path: Path | str, timeout: float = -1) -> Iterator[None]:
    """Hold the lock file ``path`` (created with its directory) against every other process and thread;
    ``timeout`` seconds at most (-1: wait as long as it takes), then :class:`filelock.Timeout`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(path, timeout=timeout):
        yield


def read_cache(path: Path, then: str) -> dict[str, Any]:
    """A JSON cache file as a dict: {} when there is none; a file that cannot be read or is not a JSON object is
    said once, in bench's words (``then``: what happens instead), and taken as {}."""
    import json
    import warnings

    try:
        found = json.loads(Path(path).read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        warnings.warn(f"cache {path} could not be read ({type(exc).__name__}: {exc}); {then}")
        return {}
    if not isinstance(found, dict):
        warnings.warn(f"cache {path} holds {type(found).__name__}, not the object bench writes; {then}")
        return {}
    return found
