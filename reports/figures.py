"""Figures drawn from stored results alone: what the metric families declare to draw against severity
(:attr:`registry.FamilySpec.severity_figure`, per cell against the baseline cell and per dataset × noise;
:attr:`registry.FamilySpec.plots`), training curves and reconstruction grids."""

from __future__ import annotations

import io
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bench.result import CellResult  # noqa: E402
from registry import BASELINE  # noqa: E402

from .leaderboard import cell_size, default_size, default_sized, size_text  # noqa: E402


def _save(fig: plt.Figure, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def noise_figure_path(out_dir: Path, dataset: str, noise: str, profile: str = "quick", budget: str = "converged",
                      precision: str = "fp32", size: int | None = None, figure: str = "accuracy") -> Path:
    """Where a family's ``figure`` at matched severity of one dataset × noise × protocol goes (the default
    protocol's keeps the plain name; a training-set size other than the profile's is tagged)."""
    tags = "".join(f"_{t}" for t, default in ((profile, "quick"), (f"n{size}", f"n{default_size(profile)}"),
                                              (f"cnn-{budget}", "cnn-converged"), (precision, "fp32"))
                   if t != default and t not in ("nNone", "n0"))
    return out_dir / "figures" / re.sub(r"[^A-Za-z0-9_.-]", "-", f"{dataset}_{noise}{tags}_{figure}.png")


def _level_psnr(results: list[CellResult]) -> dict[tuple, dict[int, float]]:
    """Input PSNR of every evaluated severity level per (dataset, noise), averaged over the cells."""
    sums: dict[tuple, dict[int, list[float]]] = {}
    for r in results:
        for level, psnr in r.eval_psnr.items():
            sums.setdefault((r.cell["dataset"], r.cell["noise"]), {}).setdefault(int(level), []).append(psnr)
    return {k: {level: float(np.mean(v)) for level, v in by.items()} for k, by in sums.items()}


def _axis(ax: plt.Axes, levels: dict[int, float], noise: str) -> None:
    """Severity levels placed at their input PSNR (stronger noise to the right): a custom level falls
    among the calibrated ones."""
    if levels:
        ax.invert_xaxis()
        ax.set_xticks(list(levels.values()), [f"s{s}\n{p:.0f} dB" if s else f"custom\n{p:.1f} dB"
                                              for s, p in levels.items()], fontsize=7)
        ax.set_xlabel(f"{noise}: severity, input PSNR (stronger noise →)", fontsize=8)
    else:
        ax.set_xlabel(f"{noise} severity", fontsize=8)


def _errorbar(ax: plt.Axes, x: list[float], y: list[float], low: list[float], high: list[float], **style) -> None:
    """A line through the points in the order of ``x`` (input PSNR), with asymmetric error bars."""
    order = np.argsort(np.asarray(x, float))
    x = np.asarray(x, float)[order]
    y, low, high = (np.asarray(v, float)[order] for v in (y, low, high))
    err = np.vstack([np.nan_to_num(y - low), np.nan_to_num(high - y)])
    ax.errorbar(x, y, yerr=err, capsize=3, linewidth=1.2, markersize=4, **style)


def _x(level: int, levels: dict[int, float]) -> float:
    return levels.get(level, float(level))


def severity_families(catalogue: dict[str, dict]) -> list[dict]:
    """The families that declare a figure of their matched metric against severity (``severity_figure``,
    ``by_severity``), in the catalogue's order."""
    return [f for f in catalogue.values()
            if f.get("severity_figure") and f.get("by_severity") and f.get("matched")]


def _label(family: dict, metric: str) -> str:
    return next((m.get("label") or metric for m in family.get("metrics", ()) if m.get("name") == metric), metric)


def write_severity_figures(board: pd.DataFrame, results: list[CellResult], out_dir: Path,
                           catalogue: dict[str, dict]) -> list[Path]:
    """For each family of ``catalogue`` that declares a severity figure (:func:`severity_families`): per model
    cell, the family's metric at each evaluated severity (``by_severity``) against the baseline cell's, with
    95% intervals over test images, at the path the cell's figure names; per dataset × noise × protocol, every
    model's first ``matched`` metric at the severity it was made for, with the leaderboard's intervals (over
    seeds, or over test images with one seed); a noise run at a custom value (severity 0) shows every
    calibrated level and the custom one. Returns the files written."""
    written: list[Path] = []
    levels_of = _level_psnr(results)
    plain = default_sized(results)
    done = [r for r in results if r.status == "done"]
    protocol = lambda c: (c["dataset"], c["noise"], c["seed"], c["profile"], cell_size(c),  # noqa: E731
                          c.get("cnn_budget", "epochs"), c.get("precision", "fp32"))
    baselines = {protocol(r.cell): r for r in done if r.cell["model"] == BASELINE}
    for family in severity_families(catalogue):
        figure, matched = family["severity_figure"], family["matched"][0]
        pattern = re.compile("^" + re.escape(family["by_severity"]).replace(re.escape("{}"), r"(\d+)") + "$")
        at = family["by_severity"].format
        label = _label(family, matched)

        def curve(result: CellResult) -> tuple[list[int], list[float], list[float]]:
            found = sorted((int(m_.group(1)), m["value"], m["ci95"]) for m in result.metrics  # noqa: B023
                           if (m_ := pattern.match(m["metric"])) and m["value"] == m["value"])  # noqa: B023
            return [f[0] for f in found], [f[1] for f in found], [f[2] if f[2] == f[2] else 0.0 for f in found]

        for result in done:
            rel = result.figures.get(figure)
            if not rel or result.cell["model"] == BASELINE:
                continue
            cell = result.cell
            levels = levels_of.get((cell["dataset"], cell["noise"]), {})
            fig, ax = plt.subplots(figsize=(5, 3.5))
            drawn = False
            for r, style in ((result, {"marker": "o", "label": f"{cell['model']}"}),
                             (baselines.get(protocol(cell)), {"marker": "s", "linestyle": "--", "color": "grey",
                                                              "label": "baseline"})):
                if r is None:
                    continue
                sev, value, ci = curve(r)
                if sev:
                    drawn = True
                    _errorbar(ax, [_x(s, levels) for s in sev], value, np.subtract(value, ci), np.add(value, ci),
                              **style)
            if not drawn:
                plt.close(fig)
                continue
            ax.axvline(_x(int(cell["severity"]), levels), color="#ccc", linewidth=0.8, zorder=0)
            _axis(ax, dict(levels), cell["noise"])
            ax.set(ylabel=f"{label} (95% CI over images)",
                   title=f"{cell['dataset']}: {cell['model']} ({cell['noise']} s{cell['severity']}) vs baseline")
            ax.title.set_fontsize(9)
            ax.legend(fontsize=8)
            _save(fig, out_dir / rel)
            written.append(out_dir / rel)

        if board.empty or matched not in board:
            continue
        for (dataset, profile, size, budget, precision, noise), block in board.groupby(
                ["dataset", "profile", "train_size", "cnn_budget", "precision", "noise"]):
            block = block[block[matched].notna()]
            if block.empty:
                continue
            levels = levels_of.get((dataset, noise), {})
            fig, ax = plt.subplots(figsize=(5.5, 3.8))
            custom = (block["severity"] == 0).all()
            for model, rows in block.groupby("model"):
                style = {"linestyle": "--", "color": "grey", "marker": "s"} if model == BASELINE else {"marker": "o"}
                if custom:  # one custom level: every calibrated level too, the custom one starred
                    row = rows.iloc[0]
                    sev = sorted(int(m_.group(1)) for c in row.index
                                 if (m_ := pattern.match(str(c))) and pd.notna(row[c]))
                    names = [at(s) for s in sev]
                    _errorbar(ax, [_x(s, levels) for s in sev], row[names], row[[f"{n}_ci_low" for n in names]],
                              row[[f"{n}_ci_high" for n in names]], label=model, **style)
                    if 0 in sev:
                        ax.plot([_x(0, levels)], [row[at(0)]], marker="*", markersize=12,
                                color=ax.lines[-1].get_color(), linestyle="none")
                else:
                    rows = rows.sort_values("severity")
                    x = [row["input_psnr"] if pd.notna(row["input_psnr"]) else _x(int(row["severity"]), levels)
                         for _, row in rows.iterrows()]
                    _errorbar(ax, x, rows[matched], rows[f"{matched}_ci_low"], rows[f"{matched}_ci_high"],
                              label=model, **style)
            shown = levels if custom else {int(r["severity"]): r["input_psnr"] for _, r in
                                           block.drop_duplicates("severity").iterrows() if pd.notna(r["input_psnr"])}
            _axis(ax, dict(sorted(shown.items(), key=lambda kv: -kv[1])), noise)
            interval = "over seeds" if block["seeds"].max() > 1 else "over images"
            ax.set(ylabel=f"{label} (95% CI {interval})",
                   title=f"{dataset} · {noise}: {label} at matched severity ({profile}, {size_text(size)}, "
                         f"CNN {budget})")
            ax.title.set_fontsize(9)
            ax.legend(fontsize=8)
            path = noise_figure_path(out_dir, dataset, noise, profile, budget, precision,
                                     None if (dataset, profile, int(size)) in plain else int(size), figure)
            _save(fig, path)
            written.append(path)
    return written


def headline_figures_pngs(board: pd.DataFrame, catalogue: dict[str, dict]) -> list[tuple[str, str, str, bytes]]:
    """Per family and per dataset × noise × protocol: the family's headline metric against the severity (at
    each level's input PSNR), one line per model, its 95% interval as a band (over seeds where the run has
    several, else over test images). A family that trains no CNN is drawn once whatever the CNN budgets, as
    its table is. Returns (dataset, noise, title, PNG), the families in the catalogue's order."""
    from .leaderboard import TABLE, trains_cnn

    out: list[tuple[str, str, str, bytes]] = []
    if board.empty:
        return out
    for family in catalogue.values():
        metric = family.get("headline")
        if not metric or metric not in board:
            continue
        declared = {m["name"]: m for m in family.get("metrics", ())}
        higher = bool(declared.get(metric, {}).get("higher_is_better", True))
        label = _label(family, metric)
        cnn = trains_cnn(family)
        drawn: set[tuple] = set()
        for (dataset, profile, size, budget, precision, noise), block in board.groupby(TABLE, sort=True, dropna=False):
            block = block[block[metric].notna() & (block["severity"] > 0)]
            if block["severity"].nunique() < 2:
                continue
            same = (dataset, profile, size, precision, noise, *(() if not cnn else (budget,)))
            if same in drawn:
                continue
            drawn.add(same)
            fig, ax = plt.subplots(figsize=(5.5, 3.8))
            levels = (block.groupby("severity")["input_psnr"].mean()).to_dict()
            for i, (model, rows) in enumerate(sorted(block.groupby("model"), key=lambda kv: str(kv[0]))):
                rows = rows.sort_values("severity")
                x = [levels.get(s, float(s)) for s in rows["severity"]]
                style = {"linestyle": "--", "color": "grey"} if model == BASELINE else {"color": f"C{i}"}
                ax.plot(x, rows[metric], marker="o", markersize=4, linewidth=1.4, label=str(model), **style)
                low, high = rows[f"{metric}_ci_low"], rows[f"{metric}_ci_high"]
                if low.notna().all() and high.notna().all():
                    ax.fill_between(x, low, high, alpha=0.18, color=style["color"], linewidth=0)
            _axis(ax, {int(s): p for s, p in sorted(levels.items(), key=lambda kv: -kv[1]) if pd.notna(p)}, noise)
            seeds = int(block["seeds"].max())
            interval = f"95% CI over {seeds} seeds" if seeds > 1 else "95% CI over test images, one seed"
            ax.set(ylabel=f"{metric} {'↑' if higher else '↓'} ({interval})")
            protocol = f", CNN {budget}{', ' + precision if precision != 'fp32' else ''}" if cnn else ""
            title = (f"{dataset} · {noise}: {family.get('title') or family['name']}: {label} against severity "
                     f"({profile}, {size_text(size)}{protocol})")
            ax.set_title(title, fontsize=8, wrap=True)
            ax.legend(fontsize=8)
            out.append((dataset, noise, title, _png(fig)))
    return out


def severity_plots_pngs(board: pd.DataFrame, catalogue: dict[str, dict]) -> list[tuple[str, str, str, bytes]]:
    """Per family that declares ``plots``, and per dataset × noise × protocol where some model's values of
    them depend on the severity (a denoising model, trained at each one, or a noisy training set): each
    declared metric against the severity, one panel each, a line per model. Returns (dataset, noise, title,
    PNG)."""
    from .leaderboard import TABLE

    out: list[tuple[str, str, str, bytes]] = []
    for family in catalogue.values():
        panels = [m for m in family.get("plots") or () if m in board]
        if not panels:
            continue
        lower = {m["name"] for m in family.get("metrics", ()) if not m.get("higher_is_better")}
        for (dataset, profile, size, budget, precision, noise), block in board.groupby(TABLE, sort=True,
                                                                                      dropna=False):
            block = block[block[panels].notna().any(axis=1)]
            if block["severity"].nunique() < 2 or not any(
                    (block.groupby("model")[m].nunique() > 1).any() for m in panels):
                continue
            cols = min(3, len(panels))
            fig, axes = plt.subplots(-(-len(panels) // cols), cols, figsize=(4 * cols, 3.25 * -(-len(panels) // cols)),
                                     squeeze=False)
            colours = {model: f"C{i}" for i, model in enumerate(sorted(block["model"].unique()))}
            for ax, metric in zip(axes.flat, panels):
                for model, rows in block.groupby("model"):
                    rows = rows.sort_values("severity")
                    if rows[metric].isna().all():
                        continue
                    _errorbar(ax, list(rows["severity"]), rows[metric], rows[f"{metric}_ci_low"],
                              rows[f"{metric}_ci_high"], label=model, marker="o", color=colours[model])
                ax.set_title(f"{metric} {'↓' if metric in lower else '↑'}", fontsize=9)
                ax.set_xlabel(f"{noise} severity", fontsize=8)
                ax.set_xticks(sorted(block["severity"].unique()))
            for ax in list(axes.flat)[len(panels):]:
                ax.axis("off")
            handles = {label: h for ax in axes.flat for h, label in zip(*ax.get_legend_handles_labels())}
            fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=len(handles), fontsize=8)
            title = (f"{dataset} · {noise}: {family.get('title') or family['name']} against severity ({profile}, "
                     f"{size_text(size)}, CNN {budget}{', ' + precision if precision != 'fp32' else ''}); 95% "
                     "intervals where the metric has one")
            fig.suptitle(title, fontsize=9)
            fig.tight_layout(rect=(0, 0.05, 1, 1))
            out.append((dataset, noise, title, _png(fig)))
    return out


def training_curves_png(results: list[CellResult], dataset: str) -> bytes | None:
    """Training loss per epoch of every model trained on ``dataset`` (first seed), one panel per model
    (losses of different models are on different scales: BCE sums, per-pixel MSE); a model trained on
    noisy inputs has one line per noise and severity."""
    trained = [r for r in results if r.cell["dataset"] == dataset and r.training is not None and r.training.loss]
    if not trained:
        return None
    seed = min(r.cell["seed"] for r in trained)
    trained = [r for r in trained if r.cell["seed"] == seed]
    checkpoints: dict[str, set] = {}
    for r in trained:
        checkpoints.setdefault(r.cell["model"], set()).add(r.training.checkpoint)
    curves: dict[str, dict[str, list[float]]] = {}
    for r in trained:
        cell = r.cell
        label = f"{cell['noise']} s{cell['severity']}" if len(checkpoints[cell["model"]]) > 1 else "trained once"
        curves.setdefault(cell["model"], {}).setdefault(label, r.training.loss)
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
    return image_rows_png(rows, title)


def prior_grid_png(samples: dict[int, np.ndarray], title: str, per_row: int = 16) -> bytes:
    """Images decoded from the prior: rows of ``per_row`` per severity (``samples``: severity → uint8 array
    (n, C, H, W)); one set of rows when every severity holds the same images (a model trained without noise)."""
    same = all(np.array_equal(samples[s], samples[min(samples)]) for s in samples)
    rows = []
    for severity in [min(samples)] if same else sorted(samples):
        images = samples[severity]
        label = "prior" if same else f"prior s{severity}"
        rows += [(label if i == 0 else "", images[i : i + per_row]) for i in range(0, len(images), per_row)]
    return image_rows_png(rows, title)


def image_rows_png(rows: list[tuple[str, np.ndarray]], title: str) -> bytes:
    """A mosaic of labelled rows of uint8 images (each row an array (n, C, H, W))."""
    n = max(len(images) for _, images in rows)
    _, c, h, w = rows[0][1].shape
    pad = 2
    mosaic = np.full((len(rows) * (h + pad), n * (w + pad), c), 255, dtype=np.uint8)
    for i, (_, images) in enumerate(rows):
        for j, image in enumerate(images):
            mosaic[i * (h + pad):i * (h + pad) + h, j * (w + pad):j * (w + pad) + w] = image.transpose(1, 2, 0)
    fig, ax = plt.subplots(figsize=(n * 0.6 + 1.2, len(rows) * 0.6 + 0.4))
    ax.imshow(mosaic.squeeze(-1) if c == 1 else mosaic, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    # a label names its row and the unlabelled rows below it: one tick, centred on them
    starts = [i for i, (label, _) in enumerate(rows) if label]
    ends = [*starts[1:], len(rows)]
    ax.set_yticks([(start + end) / 2 * (h + pad) - pad / 2 for start, end in zip(starts, ends)],
                  [rows[start][0] for start in starts], fontsize=7)
    ax.set_xticks([])
    ax.set_title(title, fontsize=8)
    return _png(fig)


def _png(fig: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()
