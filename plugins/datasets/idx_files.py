"""Loading the MNIST-family datasets through torchvision, from system files when they are installed.

torchvision expects the uncompressed IDX files under ``<root>/<ClassName>/raw``. When a system package
ships the ``.gz`` files (Debian's ``dataset-fashion-mnist``), they are checked against torchvision's
checksums and extracted there; otherwise torchvision downloads them, and when that fails the user is
told where we looked and how to get the files.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from registry import Dataset, DatasetUnavailable

if TYPE_CHECKING:  # torchvision is imported when a dataset is read, not when the plugin is registered
    import torch
    from torchvision.datasets import MNIST

DOWNLOAD_TIMEOUT_S = 30
CHECKSUMS = "SHA256SUMS.json"  # beside the raw files: their digests when they were extracted or downloaded
RAW_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def raw_dir(root: Path, class_name: str) -> Path:
    """Where torchvision keeps the uncompressed IDX files of ``class_name`` ("MNIST", "FashionMNIST")."""
    return Path(root) / class_name / "raw"


def idx_sources(root: Path, class_name: str) -> list[Path]:
    """The four IDX files a loaded MNIST-family dataset is read from (its spec's ``sources``)."""
    return [raw_dir(root, class_name) / name for name in RAW_FILES]


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """Hold the lock file ``path`` (:mod:`filelock`): files are extracted and their digests recorded by one
    process at a time, so no process reads or digests a half-written file."""
    from filelock import FileLock

    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(path):
        yield


def _have_raw(raw: Path) -> bool:
    return all((raw / name).is_file() for name in RAW_FILES)


def _system_dir(dirs: tuple[Path, ...], cls: type[MNIST]) -> Path | None:
    for d in dirs:
        if all((d / name).is_file() for name, _ in cls.resources):
            return d
    return None


def _extract_from(src: Path, raw: Path, cls: type[MNIST]) -> None:
    # Distributions recompress the archives, so torchvision's MD5s of the .gz files do not apply;
    # gzip's own CRC check and torchvision's IDX header check catch a corrupt file instead.
    from torchvision.datasets.utils import extract_archive

    raw.mkdir(parents=True, exist_ok=True)
    for name, _ in cls.resources:
        try:
            extract_archive(str(src / name), str(raw))
        except (OSError, EOFError, zlib.error) as exc:
            (raw / os.path.splitext(name)[0]).unlink(missing_ok=True)  # no half-written file left behind
            raise DatasetUnavailable(
                f"{src / name} is corrupt ({exc}); reinstall the package that provides it"
            ) from None


def _download(root: Path, cls: type[MNIST], name: str, where: str, how: str) -> None:
    missing = f"{name} files not found in {where}"
    if os.environ.get("BENCH_OFFLINE", "").strip() not in {"", "0"}:
        raise DatasetUnavailable(f"{missing}, and BENCH_OFFLINE is set so nothing was downloaded. {how}")
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        cls(str(root), train=True, download=True)
    except Exception as exc:  # torchvision raises RuntimeError/URLError/OSError depending on the mirror
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatasetUnavailable(f"{missing}, and the download failed ({reason}). {how}") from None
    finally:
        socket.setdefaulttimeout(previous)


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def record_checksums(raw: Path) -> None:
    """Write the digests of the raw files, taken right after they were extracted (gzip's CRC checked) or
    downloaded (torchvision's MD5 checked)."""
    (raw / CHECKSUMS).write_text(json.dumps({name: _digest(raw / name) for name in RAW_FILES}, indent=1))


def verify_checksums(raw: Path) -> None:
    """Raise :class:`DatasetUnavailable` naming the first raw file whose digest changed since it was
    written (a corrupt or altered file); record them when there is no record yet (files copied in by hand)."""
    try:
        recorded = json.loads((raw / CHECKSUMS).read_text())
    except (OSError, ValueError):
        record_checksums(raw)
        return
    for name in RAW_FILES:
        if name in recorded and _digest(raw / name) != recorded[name]:
            raise DatasetUnavailable(
                f"{raw / name} fails its checksum (sha256 {recorded[name][:12]}... recorded when it was written): the "
                f"file is corrupt. Delete {raw} and run again to extract or download it afresh")


def _tensors(ds: MNIST) -> tuple[torch.Tensor, torch.Tensor]:
    return ds.data.unsqueeze(1).float().div_(255.0), ds.targets.long()


def load_idx_dataset(
    class_name: str, root: Path, *, name: str, system_dirs: tuple[Path, ...], how: str
) -> Dataset:
    """Load torchvision's MNIST-family class ``class_name`` as float tensors ``[N, 1, 28, 28]`` in [0, 1].

    Looks in ``<root>/<class_name>/raw``, then in ``system_dirs`` (``.gz`` files, verified and extracted
    into the root), then downloads into the root. ``how`` is the hint given when all of that fails.
    """
    import torchvision.datasets

    cls = getattr(torchvision.datasets, class_name)
    root = Path(root)
    raw = raw_dir(root, class_name)
    with _exclusive(root / f".{class_name}.lock"):  # two processes on one fresh data root extract it once
        if not _have_raw(raw):
            src = _system_dir(system_dirs, cls)
            if src is not None:
                _extract_from(src, raw, cls)
            else:
                where = ", ".join(str(p) for p in (raw, *system_dirs))
                _download(root, cls, name, where, how)
            record_checksums(raw)
        verify_checksums(raw)
    try:
        train, test = cls(str(root), train=True), cls(str(root), train=False)
    except Exception as exc:
        raise DatasetUnavailable(f"{name} files in {raw} could not be read ({exc}); delete them and rerun") from None
    train_x, train_y = _tensors(train)
    test_x, test_y = _tensors(test)
    return Dataset(train_x, train_y, test_x, test_y, tuple(train.classes))
