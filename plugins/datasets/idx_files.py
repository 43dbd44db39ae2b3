"""Loading the MNIST-family datasets through torchvision, from system files when they are installed.

torchvision expects the uncompressed IDX files under ``<root>/<ClassName>/raw``. When a system package
ships the ``.gz`` files (Debian's ``dataset-fashion-mnist``), they are checked against torchvision's
checksums and extracted there; otherwise torchvision downloads them, and when that fails the user is
told where we looked and how to get the files.
"""

from __future__ import annotations

import os
import socket
import zlib
from pathlib import Path

import torch
from torchvision.datasets import MNIST
from torchvision.datasets.utils import extract_archive

from registry import Dataset, DatasetUnavailable

DOWNLOAD_TIMEOUT_S = 30


def _raw_files(cls: type[MNIST]) -> list[str]:
    return [os.path.splitext(name)[0] for name, _ in cls.resources]


def _have_raw(raw: Path, cls: type[MNIST]) -> bool:
    return all((raw / name).is_file() for name in _raw_files(cls))


def _system_dir(dirs: tuple[Path, ...], cls: type[MNIST]) -> Path | None:
    for d in dirs:
        if all((d / name).is_file() for name, _ in cls.resources):
            return d
    return None


def _extract_from(src: Path, raw: Path, cls: type[MNIST]) -> None:
    # Distributions recompress the archives, so torchvision's MD5s of the .gz files do not apply;
    # gzip's own CRC check and torchvision's IDX header check catch a corrupt file instead.
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


def _tensors(ds: MNIST) -> tuple[torch.Tensor, torch.Tensor]:
    return ds.data.unsqueeze(1).float().div_(255.0), ds.targets.long()


def load_idx_dataset(
    cls: type[MNIST], root: Path, *, name: str, system_dirs: tuple[Path, ...], how: str
) -> Dataset:
    """Load ``cls`` (a torchvision MNIST-family class) as float tensors ``[N, 1, 28, 28]`` in [0, 1].

    Looks in ``<root>/<cls>/raw``, then in ``system_dirs`` (``.gz`` files, verified and extracted into
    the root), then downloads into the root. ``how`` is the hint given when all of that fails.
    """
    root = Path(root)
    raw = root / cls.__name__ / "raw"
    if not _have_raw(raw, cls):
        src = _system_dir(system_dirs, cls)
        if src is not None:
            _extract_from(src, raw, cls)
        else:
            where = ", ".join(str(p) for p in (raw, *system_dirs))
            _download(root, cls, name, where, how)
    try:
        train, test = cls(str(root), train=True), cls(str(root), train=False)
    except Exception as exc:
        raise DatasetUnavailable(f"{name} files in {raw} could not be read ({exc}); delete them and rerun") from None
    train_x, train_y = _tensors(train)
    test_x, test_y = _tensors(test)
    return Dataset(train_x, train_y, test_x, test_y, tuple(train.classes))
