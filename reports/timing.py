"""The inference-timing leaderboard, ``timing.md`` and ``timing.csv``, from the timings in the store: the
latest measurement per machine × threads × dataset × model variant × backend × batch size."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.store import Store

from .leaderboard import Table, _escape

KEY = ["machine", "threads", "dataset", "variant", "batch_size"]
LEGEND = ("Encode + decode of one batch, after warm-up: median latency in ms with the 95th percentile and the "
          "interquartile range (spread) in brackets, and images/s at the median. ort/torch is how many times "
          "faster onnxruntime runs the exported graphs than torch eager (above 1: onnxruntime is faster). "
          "Both backends use the same number of intra-op threads (inter-op: 1).")


def timing_frame(rows: list[dict[str, Any]]):
    """One row per measurement kept (the latest of each key and backend), with ``ort_over_torch``: the
    torch median over the onnxruntime median of the same key (on the onnxruntime rows)."""
    import pandas as pd

    columns = [c for c in rows[0] if c != "provenance"] if rows else []
    frame = pd.DataFrame([{c: r[c] for c in columns} for r in rows], columns=columns or None)
    if frame.empty:
        return frame
    frame = frame.drop_duplicates(KEY + ["backend"], keep="last").reset_index(drop=True)
    torch_median = frame[frame.backend == "torch"].set_index(KEY)["median_ms"]
    ratio = [torch_median.get(tuple(r[k] for k in KEY)) / r["median_ms"]
             if r["backend"] == "onnxruntime" and tuple(r[k] for k in KEY) in torch_median.index else None
             for _, r in frame.iterrows()]
    frame["ort_over_torch"] = ratio
    return frame.sort_values(KEY + ["backend"]).reset_index(drop=True)


def timing_tables(frame) -> list[Table]:
    tables = []
    if frame.empty:
        return tables
    backends = [b for b in ("torch", "onnxruntime") if b in set(frame.backend)]
    for (machine, threads, dataset), group in frame.groupby(["machine", "threads", "dataset"], sort=True):
        header = ["model", "batch"]
        for b in backends:
            header += [f"{b} ms (p95, IQR)", f"{b} images/s"]
        header += ["ort/torch"] if len(backends) == 2 else []
        rows = []
        for (name, batch), cells in group.groupby(["variant", "batch_size"], sort=True):
            by = {r.backend: r for r in cells.itertuples()}
            row = [(str(name), ""), (str(batch), "")]
            for b in backends:
                r = by.get(b)
                row += ([(f"{r.median_ms:.3f} ({r.p95_ms:.3f}, {r.iqr_ms:.3f})", ""), (f"{r.images_per_s:,.0f}", "")]
                        if r is not None else [("-", ""), ("-", "")])
            if len(backends) == 2:
                ratio = by["onnxruntime"].ort_over_torch if "onnxruntime" in by else None
                row.append((f"{ratio:.2f}×" if ratio is not None and ratio == ratio else "-",
                            "best" if ratio is not None and ratio >= 1 else ""))
            rows.append(row)
        tables.append(Table(f"{dataset} · {machine} · {threads} threads", header, rows, dataset=str(dataset)))
    return tables


def render_timing_markdown(tables: list[Table]) -> str:
    from tabulate import tabulate

    lines = ["# Inference timing", "", LEGEND if tables else "No timing measured yet: run 'bench time'.", ""]
    for table in tables:
        rows = [[_escape(text) for text, _ in row] for row in table.rows]
        lines += [f"## {table.title}", "", tabulate(rows, headers=table.header, tablefmt="github",
                                                   disable_numparse=True), ""]
    return "\n".join(lines)


def write_timing(store: Store, out_dir: Path, formats: tuple[str, ...]) -> list[Path]:
    """``timing.md`` and ``timing.csv`` (as ``formats`` asks) when the store holds timings."""
    rows = store.timings()
    if not rows:
        return []
    frame = timing_frame(rows)
    paths = []
    if "csv" in formats:
        frame.to_csv(Path(out_dir) / "timing.csv", index=False)
        paths.append(Path(out_dir) / "timing.csv")
    if "md" in formats:
        (Path(out_dir) / "timing.md").write_text(render_timing_markdown(timing_tables(frame)), encoding="utf-8")
        paths.append(Path(out_dir) / "timing.md")
    return paths
