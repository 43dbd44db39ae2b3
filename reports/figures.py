"""Figures drawn from stored results alone: accuracy against severity (the model's CNN against the
baseline CNN, per cell and per dataset × noise), training curves and reconstruction grids."""

from __future__ import annotations

import io
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

BASELINE = "baseline"
_SEVERITY = re.compile(r"^acc_sev(\d+)$")


def _curve(rows: pd.DataFrame) -> pd.Series:
    """Accuracy by severity (mean over seeds) from rows of ``acc_sevN`` metrics."""
    sev = rows["metric"].str.extract(_SEVERITY, expand=False).astype(int)
    return rows.assign(severity_level=sev).groupby("severity_level")["value"].mean().sort_index()


def _save(fig: plt.Figure, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def noise_figure_path(out_dir: Path, dataset: str, noise: str) -> Path:
    """Where the accuracy-at-matched-severity figure of one dataset × noise goes."""
    return out_dir / "figures" / re.sub(r"[^A-Za-z0-9_.-]", "-", f"{dataset}_{noise}_accuracy.png")


def write_accuracy_figures(results: pd.DataFrame, out_dir: Path, figure_paths: dict[str, str]) -> list[Path]:
    """Per model cell (``figure_paths``: cell key → relative path): its CNN's accuracy at each severity
    of the noise against the baseline's. Per dataset × noise: accuracy at the severity each cell was
    made for, one line per model. Returns the files written."""
    done = results[(results["status"] == "done") & results["metric"].fillna("").str.match(_SEVERITY)]
    done = done[done["value"].notna()]
    written = []
    base = done[done["model"] == BASELINE]
    for key, rel in figure_paths.items():
        rows = done[done["key"] == key]
        if rows.empty:
            continue
        first = rows.iloc[0]
        same = (base["dataset"] == first["dataset"]) & (base["noise"] == first["noise"]) & (
            base["seed"] == first["seed"]) & (base["profile"] == first["profile"])
        fig, ax = plt.subplots(figsize=(5, 3.5))
        model_curve = _curve(rows)
        ax.plot(model_curve.index, model_curve.values, marker="o", label=f"{first['model']} (augmented)")
        if same.any():
            base_curve = _curve(base[same & (base["severity"] == base.loc[same, "severity"].iloc[0])])
            ax.plot(base_curve.index, base_curve.values, marker="s", linestyle="--", color="grey", label="baseline")
        ax.set(xlabel=f"{first['noise']} severity", ylabel="test accuracy",
               title=f"{first['dataset']}: {first['model']} ({first['noise']} s{first['severity']}) vs baseline")
        ax.title.set_fontsize(9)
        ax.set_xticks(model_curve.index)
        ax.legend(fontsize=8)
        _save(fig, out_dir / rel)
        written.append(out_dir / rel)

    matched = results[(results["status"] == "done") & (results["metric"] == "acc_noisy") & results["value"].notna()]
    for (dataset, noise), rows in matched.groupby(["dataset", "noise"]):
        fig, ax = plt.subplots(figsize=(5, 3.5))
        for model, mrows in rows.groupby("model"):
            curve = mrows.groupby("severity")["value"].mean().sort_index()
            style = {"linestyle": "--", "color": "grey", "marker": "s"} if model == BASELINE else {"marker": "o"}
            ax.plot(curve.index, curve.values, label=model, **style)
        ax.set(xlabel=f"{noise} severity (of training and test)", ylabel="test accuracy",
               title=f"{dataset} · {noise}: CNN accuracy at matched severity")
        ax.title.set_fontsize(9)
        ax.legend(fontsize=8)
        path = noise_figure_path(out_dir, dataset, noise)
        _save(fig, path)
        written.append(path)
    return written


def training_curves_png(records: list[dict], dataset: str) -> bytes | None:
    """Training loss per epoch of every model trained on ``dataset`` (first seed), one panel per model
    (losses of different models are on different scales: BCE sums, per-pixel MSE); a model trained on
    noisy inputs has one line per noise and severity."""
    trained = [r for r in records if r["cell"]["dataset"] == dataset and (r.get("train") or {}).get("loss")]
    if not trained:
        return None
    seed = min(r["cell"]["seed"] for r in trained)
    trained = [r for r in trained if r["cell"]["seed"] == seed]
    checkpoints: dict[str, set] = {}
    for r in trained:
        checkpoints.setdefault(r["cell"]["model"], set()).add(r["train"].get("checkpoint"))
    curves: dict[str, dict[str, list[float]]] = {}
    for r in trained:
        cell = r["cell"]
        label = f"{cell['noise']} s{cell['severity']}" if len(checkpoints[cell["model"]]) > 1 else "trained once"
        curves.setdefault(cell["model"], {}).setdefault(label, r["train"]["loss"])
    cols = min(4, len(curves))
    rows = -(-len(curves) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    for ax, (model, lines) in zip(axes.flat, sorted(curves.items())):
        for label, loss in sorted(lines.items()):
            ax.plot(range(1, len(loss) + 1), loss, label=label, linewidth=1)
        ax.set_title(model, fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
        ax.tick_params(labelsize=7)
        if len(lines) > 1:
            ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(curves):]:
        ax.axis("off")
    fig.suptitle(f"{dataset}: training loss per epoch (seed {seed})", fontsize=10)
    fig.tight_layout()
    return _png(fig)


def reconstruction_grid_png(samples: dict[int, np.ndarray], title: str) -> bytes:
    """Rows: clean, then noisy and reconstructed per severity (``samples``: severity → uint8 array
    (3, n, C, H, W) of clean / noisy / reconstructed images)."""
    first = samples[min(samples)]
    rows = [("clean", first[0])]
    for severity in sorted(samples):
        rows += [(f"noisy s{severity}", samples[severity][1]), (f"recon s{severity}", samples[severity][2])]
    n, c, h, w = first[0].shape
    pad = 2
    mosaic = np.full((len(rows) * (h + pad), n * (w + pad), c), 255, dtype=np.uint8)
    for i, (_, images) in enumerate(rows):
        for j, image in enumerate(images):
            mosaic[i * (h + pad):i * (h + pad) + h, j * (w + pad):j * (w + pad) + w] = image.transpose(1, 2, 0)
    fig, ax = plt.subplots(figsize=(n * 0.6 + 1.2, len(rows) * 0.6 + 0.4))
    ax.imshow(mosaic.squeeze(-1) if c == 1 else mosaic, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_yticks([i * (h + pad) + h / 2 for i in range(len(rows))], [label for label, _ in rows], fontsize=7)
    ax.set_xticks([])
    ax.set_title(title, fontsize=8)
    return _png(fig)


def _png(fig: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()
