"""Figures drawn from stored results alone: accuracy against severity, the model's CNN against the
baseline CNN, per cell and per dataset × noise."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
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
        path = out_dir / "figures" / re.sub(r"[^A-Za-z0-9_.-]", "-", f"{dataset}_{noise}_accuracy.png")
        _save(fig, path)
        written.append(path)
    return written
