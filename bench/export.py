"""ONNX export of trained models: the encoder (the deterministic code, a VAE's mean) and the decoder as
two graphs with a dynamic batch axis, each checked against torch with onnxruntime before it ships.

Files go to ``<out>/onnx/<dataset>-<profile>-seed<seed>/<variant>.{encoder,decoder}.onnx`` with a
``<variant>.json`` beside them: opset, input and output shapes, the checkpoint the weights come from and
the largest absolute difference from torch. An export whose difference exceeds :data:`TOLERANCE` is
reported as failed and its graphs are removed.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import re
import warnings
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from registry import BenchError

from .files import atomic_write
from .grid import Cell

OPSET = 20
TOLERANCE = 1e-4
PARITY_IMAGES = 64
EXPORT_DIR = "onnx"


class MissingBackend(BenchError):
    """onnx, onnxscript or onnxruntime is not installed."""


def require(module: str) -> Any:
    """Import ``module`` (an inference library), or say how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingBackend(f"{module} is not installed; it comes with bench's dependencies: "
                             f"pip install {module}") from None


class _Half(nn.Module):
    """One half of an autoencoder as a module of its own: ``forward`` is the model's ``encode`` or ``decode``."""

    def __init__(self, model: nn.Module, method: str):
        super().__init__()
        self.model, self.method = model, method

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return getattr(self.model, self.method)(x)


@dataclass
class Exported:
    """One model's export: where its graphs are, how they compare with torch, or why it failed."""

    dataset: str
    model: str
    variant: str  # the model as selected, with the training noise of a denoising model
    checkpoint: str
    status: str  # "exported" | "failed"
    reason: str | None = None
    encoder: str | None = None
    decoder: str | None = None
    opset: int | None = None
    input_shape: list[int] = field(default_factory=list)  # without the batch axis
    latent_dim: int | None = None
    max_abs_diff: dict[str, float] = field(default_factory=dict)  # encoder, decoder, autoencoder
    tolerance: float = TOLERANCE
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "exported"


def variant(cell: Cell, denoising: bool) -> str:
    """The model as the user selected it, with the noise it was trained on where that matters."""
    return cell.model_label + (f"@{cell.noise_label}-s{cell.severity}" if denoising or cell.train_noise else "")


def export_dir(out: Path, cell: Cell) -> Path:
    return Path(out) / EXPORT_DIR / f"{cell.dataset}-{cell.profile.name}-seed{cell.seed}"


def file_stem(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.@=-]", "-", name)


def _graph(module: nn.Module, example: torch.Tensor, path: Path, input_name: str, output_name: str) -> None:
    batch = torch.export.Dim("batch", min=1, max=1 << 20)
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's progress and deprecation chatter
        torch.onnx.export(module.eval(), (example,), str(path), dynamo=True, opset_version=OPSET,
                          input_names=[input_name], output_names=[output_name],
                          dynamic_shapes=({0: batch},), external_data=False, verbose=False)


def session(path: Path | str, threads: int | None = None) -> Any:
    """An onnxruntime CPU session; ``threads`` fixes its intra-op threads (inter-op: 1, sequential)."""
    ort = require("onnxruntime")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def parity(model: nn.Module, encoder: Path, decoder: Path, x: torch.Tensor) -> dict[str, float]:
    """Largest absolute differences between onnxruntime and torch on ``x`` and on its first image alone
    (so that the dynamic batch axis is exercised)."""
    enc, dec = session(encoder), session(decoder)
    diffs = {"encoder": 0.0, "decoder": 0.0, "autoencoder": 0.0}
    for batch in (x, x[:1]):
        with torch.inference_mode():
            z = model.encode(batch)
            recon = model.decode(z)
        z_ort = enc.run(None, {"x": batch.numpy()})[0]
        recon_ort = dec.run(None, {"z": z.numpy()})[0]
        both = dec.run(None, {"z": z_ort})[0]
        for name, got, want in (("encoder", z_ort, z), ("decoder", recon_ort, recon), ("autoencoder", both, recon)):
            if got.shape != tuple(want.shape):
                raise ValueError(f"{name} gives shape {got.shape} from onnxruntime, {tuple(want.shape)} from torch")
            diffs[name] = max(diffs[name], float(np.abs(got - want.numpy()).max()))
    return diffs


def _why(exc: Exception) -> str:
    """One line from an exporter error: the cause its "Exception summary" names, else its first line."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if "## Exception summary" in lines:
        summary = lines[lines.index("## Exception summary") + 1:]
        if summary:
            return re.sub(r"^<class '(?:[\w.]+\.)?(\w+)'>: ", r"\1: ", summary[0])[:300]
    return f"{type(exc).__name__}: {lines[0][:300] if lines else ''}"


def versions() -> dict[str, str]:
    found = {"torch": torch.__version__}
    for dist in ("onnx", "onnxscript", "onnxruntime"):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return found


def export_model(model: nn.Module, images: torch.Tensor, directory: Path, *, dataset: str, model_name: str,
                 variant_name: str, checkpoint: str) -> Exported:
    """Export ``model``'s encoder and decoder into ``directory`` and check them on ``images`` (a batch of
    test images); returns the outcome and writes it as JSON beside the graphs."""
    require("onnxscript")
    require("onnxruntime")
    directory.mkdir(parents=True, exist_ok=True)
    stem = file_stem(variant_name)
    enc_path, dec_path = directory / f"{stem}.encoder.onnx", directory / f"{stem}.decoder.onnx"
    model = model.cpu().eval()
    x = images[:PARITY_IMAGES].cpu().contiguous()
    result = Exported(dataset, model_name, variant_name, checkpoint, "failed", input_shape=list(x.shape[1:]),
                      versions=versions())
    try:
        with torch.inference_mode():
            z = model.encode(x)
        result.latent_dim = int(z.shape[1])
        _graph(_Half(model, "encode"), x, enc_path, "x", "z")
        _graph(_Half(model, "decode"), z.clone(), dec_path, "z", "x")
        onnx = require("onnx")
        result.opset = next(o.version for o in onnx.load(str(enc_path)).opset_import if o.domain in ("", "ai.onnx"))
        result.max_abs_diff = parity(model, enc_path, dec_path, x)
    except MissingBackend:
        raise
    except Exception as exc:  # an architecture the exporter or onnxruntime cannot handle
        result.reason = f"cannot be exported to ONNX: {_why(exc)}"
    else:
        worst = max(result.max_abs_diff.values())
        if worst > TOLERANCE:
            result.reason = f"onnxruntime differs from torch by {worst:.3g} (more than {TOLERANCE:g}); not shipped"
        else:
            result.status, result.encoder, result.decoder = "exported", str(enc_path), str(dec_path)
    if not result.ok:
        enc_path.unlink(missing_ok=True)
        dec_path.unlink(missing_ok=True)
    atomic_write(directory / f"{stem}.json", json.dumps(asdict(result), indent=1, sort_keys=True))
    return result


def previous(directory: Path, variant_name: str, checkpoint: str) -> Exported | None:
    """The export of ``variant_name`` already in ``directory`` when it holds the same checkpoint's weights."""
    path = directory / f"{file_stem(variant_name)}.json"
    try:
        found = Exported(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None
    if found.ok and found.checkpoint == checkpoint and Path(found.encoder).is_file() and Path(found.decoder).is_file():
        return found
    return None
