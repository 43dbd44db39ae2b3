"""One content hash for every identity the harness derives from content: cell keys, checkpoint keys,
dataset fingerprints, ids of per-item vectors and derived seeds.

Each identity keeps the algorithm and length it was first stored with, so stores, checkpoints and seeds
written before this module existed keep their keys: SHA-256 for the keys of cells and checkpoints (files
on disk name them), BLAKE2b for the rest. ``tests/test_hashing.py`` pins one digest of each.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Iterable, Literal

import numpy as np

Algorithm = Literal["sha256", "blake2b"]


def canonical(value: Any) -> bytes | memoryview:
    """``value`` as the bytes that are hashed: bytes as they are, a contiguous array's buffer (no copy), a
    str in UTF-8, anything else as sorted-key JSON (objects JSON cannot hold as their ``str``)."""
    if isinstance(value, (bytes, memoryview)):
        return value
    if isinstance(value, np.ndarray):
        return memoryview(np.ascontiguousarray(value)).cast("B")
    if isinstance(value, str):
        return value.encode()
    return json.dumps(value, sort_keys=True, default=str).encode()


def content_hash(parts: Iterable[Any], *, chars: int, algorithm: Algorithm = "sha256") -> str:
    """The first ``chars`` hex digits of the digest of ``parts``, hashed one after another (a generator of
    large arrays is hashed without holding them all)."""
    if chars < 2 or chars % 2 or chars > 64:
        raise ValueError(f"chars takes an even number of hex digits from 2 to 64; got {chars}")
    h = hashlib.sha256() if algorithm == "sha256" else hashlib.blake2b(digest_size=chars // 2)
    for part in parts:
        h.update(canonical(part))
    return h.hexdigest()[:chars]
