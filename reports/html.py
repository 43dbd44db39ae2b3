"""``report.html``: one self-contained page (figures embedded as data URIs, no scripts, no network) with
the leaderboards, training curves, reconstruction grids, the evaluation suite's figures, provenance per
cell and the cells skipped or failed. Every piece of text is escaped: plugin names, parameters and
failure reasons come from code the harness does not control."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from html import escape
from typing import Any

from bench.result import CellResult

from .glance import GLANCE_LEGEND
from .leaderboard import FAILED_TITLE, LEGEND, Table, shared_notes

CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 1500px; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; } h3 { font-size: 1.05em; }
table { border-collapse: collapse; margin: .5em 0 1em; font-size: 12px; }
th, td { border: 1px solid #ddd; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } tr:nth-child(even) td { background: #fafafa; }
td.best { font-weight: bold; background: #e8f4e8; } td.tied { color: #555; }
figure { display: inline-block; margin: .4em; vertical-align: top; } figcaption { font-size: 11px; color: #555; }
img { max-width: 100%; border: 1px solid #eee; } nav a { margin-right: .8em; }
.notes { font-size: 12px; color: #444; } .notice { background: #fff4d6; padding: .4em .8em; }
ul.verdict { font-size: 13px; } code { font-size: 12px; } details { margin: .5em 0; }
"""


@dataclass
class Figure:
    caption: str
    png: bytes


@dataclass
class ReportData:
    title: str
    store: str
    generated: str
    tables: list[Table]
    results: list[CellResult]
    runs: list[dict[str, Any]]
    per_noise: dict[tuple[str, str], list[Figure]] = field(default_factory=dict)  # (dataset, noise)
    per_dataset: dict[str, list[Figure]] = field(default_factory=dict)  # training curves
    per_model: dict[tuple[str, str], list[Figure]] = field(default_factory=dict)  # (dataset, model): suite
    timing: list[Table] = field(default_factory=list)  # inference timing, from ``bench time``
    verdict: list[Any] = field(default_factory=list)  # reports.verdict.VerdictBlock, at the top
    verdict_preamble: str = ""
    notices: list[str] = field(default_factory=list)  # said once, above everything
    ranking: list[Table] = field(default_factory=list)  # reports.ranking, at the very top
    ranking_figures: list[Figure] = field(default_factory=list)  # critical-difference diagrams
    pareto: list[Figure] = field(default_factory=list)  # quality against cost per dataset × family
    glance: list[Table] = field(default_factory=list)  # reports.glance: the answer, first on the page


def _anchor(*parts: str) -> str:
    return "s-" + "-".join("".join(ch if ch.isalnum() else "_" for ch in p) for p in parts)


def _table(header: list[str], rows: list[list[tuple[str, str]]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for text, mark in row:
            shown = f"{text} ≈" if mark == "tied" else f"{text} (untested)" if mark == "untested" else text
            cls = f' class="{mark}"' if mark else ""
            cells.append(f"<td{cls}>{escape(shown)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _figure(fig: Figure) -> str:
    data = base64.b64encode(fig.png).decode("ascii")
    return (f'<figure><img alt="{escape(fig.caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{escape(fig.caption)}</figcaption></figure>")


def _leaderboard_table(table: Table, level: str = "h3") -> str:
    notes = "".join(f"<li>{escape(n)}</li>" for n in table.notes)
    anchor = ' id="failed"' if table.title.startswith(f"{FAILED_TITLE}:") else ""  # the notice on top links here
    return (f"<{level}{anchor}>{escape(table.title)}</{level}>" + _table(table.header, table.rows)
            + (f'<ul class="notes">{notes}</ul>' if notes else ""))


def _runs(runs: list[dict[str, Any]]) -> str:
    rows = []
    for run in runs:
        prov = run["provenance"]
        rows.append([(str(run["id"]), ""), (run["started"], ""), (str(run.get("ended") or "not finished"), ""),
                     (" ".join(run["argv"]), ""),
                     *((("-" if run.get(k) is None else str(run[k])), "") for k in ("computed", "reused", "failed")),
                     (f"{prov.get('host')} · {prov.get('cpu')}", ""),
                     (f"bench {prov.get('bench')} ({prov.get('git_commit') or 'no git'}), torch {prov.get('torch')}",
                      "")])
    return _table(["run", "started", "ended", "command", "computed", "reused", "failed", "host", "software"], rows)


def _provenance(results: list[CellResult]) -> str:
    rows = []
    for r in results:
        cell, prov = r.cell, r.provenance
        params = {"model": cell.get("model_params"), "noise": cell.get("noise_params"),
                  "profile": cell.get("profile_params", cell.get("profile"))}
        rows.append([(str(v), "") for v in (
            cell["key"], cell["dataset"], cell["model"], cell["noise"], cell["severity"], cell["seed"], r.status,
            f"{r.timings.wall_s:.1f}", prov.get("started"), prov.get("ended"), prov.get("host"),
            f"{prov.get('cpu')} ({prov.get('threads')} threads{', ' + prov['gpu'] if prov.get('gpu') else ''})",
            f"bench {prov.get('bench')} {prov.get('git_commit') or ''} · torch {prov.get('torch')} · "
            f"torchvision {prov.get('torchvision')}",
            ", ".join(f"{k} {v}" for k, v in sorted((cell.get("versions") or {}).items())),
            json.dumps(params, sort_keys=True, default=str))])
    header = ["key", "dataset", "model", "noise", "severity", "seed", "status", "wall s", "started", "ended",
              "host", "machine", "software", "plugin distributions", "resolved parameters"]
    return _table(header, rows)


def _ranking(data: ReportData) -> list[str]:
    if not data.ranking:
        return []
    from .ranking import RANKING_LEGEND

    tables, common = shared_notes(data.ranking)
    parts = ['<h2 id="ranking">Ranking across conditions</h2>']
    parts += [_leaderboard_table(t) for t in tables]
    parts += [_notes(common), f'<p class="notes">{escape(RANKING_LEGEND)}</p>']
    parts += [_figure(f) for f in data.ranking_figures]
    return parts


def _notes(notes: list[str]) -> str:
    return f'<ul class="notes">{"".join(f"<li>{escape(n)}</li>" for n in notes)}</ul>' if notes else ""


def _glance(data: ReportData) -> list[str]:
    if not data.glance:
        return []
    legend = escape(GLANCE_LEGEND.replace("**bold**", "bold"))
    return [*(_leaderboard_table(t, "h2") for t in data.glance), f'<p class="notes">{legend}</p>']


def _verdict(data: ReportData) -> list[str]:
    if not data.verdict:
        return []
    parts = ['<h2 id="verdict">Verdict</h2>', f'<p class="notes">{escape(data.verdict_preamble)}</p>']
    for block in data.verdict:
        items = "".join(f"<li>{escape(line)}</li>" for line in block.lines)
        parts.append(f'<h3>{escape(block.title)}</h3><ul class="verdict">{items}</ul>')
    return parts


def render_html(data: ReportData) -> str:
    from bench.keys import cell_identity, distinct_failures

    outcomes: dict[str, set[str]] = {}  # a cell's records (one per scope of its families) by the cell
    for r in data.results:
        outcomes.setdefault(cell_identity(r.cell), set()).add(r.outcome)
    failed = sum("failed" in o for o in outcomes.values())
    done = sum("failed" not in o and "done" in o for o in outcomes.values())
    skipped = sum(o == {"skipped"} for o in outcomes.values())
    runs = len(distinct_failures(data.results))
    by_noise: dict[tuple[str, str], list[Table]] = {}
    other: list[Table] = []
    tables, common = shared_notes(data.tables)
    for table in tables:
        if table.noise:
            by_noise.setdefault((table.dataset, table.noise), []).append(table)
        else:
            other.append(table)
    groups = sorted(set(by_noise) | set(data.per_noise))
    nav = "".join(f'<a href="#{_anchor(d, n)}">{escape(d)} · {escape(n)}</a>' for d, n in groups)
    nav = ('<a href="#ranking">ranking</a>' if data.ranking else "") + nav
    nav = ('<a href="#failed">failed</a>' if any(t.title.startswith(f"{FAILED_TITLE}:") for t in tables) else "") + nav
    nav += '<a href="#cost">quality against cost</a>' if data.pareto else ""
    nav += '<a href="#training">training curves</a><a href="#suite">evaluation figures</a>'
    nav += '<a href="#timing">inference timing</a>' if data.timing else ""
    nav += ('<a href="#legend">legend</a>' if data.tables else "") + '<a href="#provenance">provenance</a>'
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(data.title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{escape(data.title)}</h1>",
        f"<p>From <code>{escape(data.store)}</code>, generated {escape(data.generated)}: {done} cells done, "
        f"{failed} failed" + (f" ({runs} cell × family run{'s' * (runs != 1)}, whole or in part)" if failed else "")
        + f", {skipped} skipped.</p>",
        *(f'<p class="notice">{escape(n)}</p>' for n in data.notices),
        *_glance(data), f"<nav>{nav}</nav>", *_ranking(data), *_verdict(data),
        '<h2 id="runs">Runs</h2>', _runs(data.runs),
    ]
    for dataset, noise in groups:
        parts.append(f'<h2 id="{_anchor(dataset, noise)}">{escape(dataset)} · {escape(noise)}</h2>')
        parts += [_figure(f) for f in data.per_noise.get((dataset, noise), [])]
        parts += [_leaderboard_table(t) for t in by_noise.get((dataset, noise), [])]
    for table in other:
        parts.append(_leaderboard_table(table, "h2"))
    if data.tables:
        parts += ['<h2 id="legend">Legend of the tables</h2>', _notes(common),
                  f'<p class="notes">{escape(LEGEND.replace("**bold**", "bold"))}</p>']
    if data.pareto:
        parts.append('<h2 id="cost">Quality against cost</h2>')
        parts += [_figure(f) for f in data.pareto]
    parts.append('<h2 id="training">Training curves</h2>')
    parts += [_figure(f) for figs in data.per_dataset.values() for f in figs] or ["<p>No model was trained.</p>"]
    parts.append('<h2 id="suite">Figures of the evaluation suite</h2>')
    for (dataset, model), figs in sorted(data.per_model.items()):
        parts.append(f"<h3>{escape(dataset)} · {escape(model)}</h3>")
        parts += [_figure(f) for f in figs]
    if data.timing:
        from .timing import LEGEND as TIMING_LEGEND

        parts += ['<h2 id="timing">Inference timing</h2>', f'<p class="notes">{escape(TIMING_LEGEND)}</p>']
        parts += [_leaderboard_table(t) for t in data.timing]
    parts += ['<h2 id="provenance">Provenance per cell</h2>',
              f"<details><summary>{len(data.results)} stored records (a cell keeps its families in one per "
              f"scope): versions, machine, times and resolved parameters</summary>{_provenance(data.results)}"
              "</details>", "</body></html>"]
    return "\n".join(parts)
