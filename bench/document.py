"""Results as a JSON document that travels: what ``bench report --format json`` writes (``results.json``)
and ``bench import`` merges into a store. Its JSON Schema ships with the package
(``bench/schema/results.schema.json``, :func:`schema`); an import validates against it and names the JSON
path of what is wrong, and every document written is validated too.

A document is one object::

    {"schema": "bench.results", "schema_version": 2, "bench": "0.1.0", "generated": "...",
     "cells": [CELL, ...], "timings": [TIMING, ...]}

A CELL is a stored record (:meth:`bench.result.CellResult.record`; a cell's families are kept in one record per
scope, :mod:`bench.keys`, and a document of schema_version 1, which kept a cell in one, is cut into them on
import): ``cell`` with its key and resolved parameters, ``status``, ``reason``, ``metrics``, ``provenance``,
``wall_s``, ``train``, ``families`` with each family's status, ..., and its ``outcome`` ("failed" when the cell
or any of its families failed) with its per-image values under ``items`` (``{name: {kind, items_id, n, data}}``,
``data`` the stored bytes in base64: ``bits`` packed per-image correctness, ``f4`` little-endian float32, both
zlib-compressed) and its figures under ``artifacts`` (``{name: base64}``). Each metric row may carry a
``leaderboard`` object (rank, the paired test against the best row and its p-values); those are derived, and an
import ignores them. A TIMING is one ``bench time`` measurement (:data:`bench.store.TIMING_FIELDS` and
``provenance``).
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from registry import BenchError

from .files import atomic_write
from .grid import key_of
from .keys import scopes_of, split
from .result import CellResult
from .store import (
    LEGACY_DOWNSTREAM,
    TIMING_FIELDS,
    Store,
    legacy_downstream,
    pack_items,
    renamed_entry,
    requalified,
    unpack_items,
    with_families,
)
from .version import __version__

SCHEMA = "bench.results"
#: 2: a cell's results kept per scope of its families (bench.keys), ``cnn_budget`` and ``precision`` null where
#: no family of the record reads them
SCHEMA_VERSION = 2


class DocumentError(BenchError):
    """A file that is not a bench results document this bench can read."""


@dataclass
class Document:
    cells: list[CellResult]
    timings: list[dict[str, Any]] = field(default_factory=list)
    catalogue: dict[str, dict[str, Any]] = field(default_factory=dict)  # what each family declares, by name


def _clean(value: Any) -> Any:
    """JSON has no NaN: non-finite floats become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        return _clean(value.item())
    return value


def _items_of(store: Store) -> dict[str, dict[str, dict[str, Any]]]:
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for (key, name), found in store.items().items():
        test = "mcnemar" if found.values.dtype == bool else "paired-t"
        kind, n, data = pack_items(test, found.values)
        out.setdefault(key, {})[name] = {"kind": kind, "items_id": found.items_id, "n": n,
                                         "data": base64.b64encode(data).decode("ascii")}
    return out


def export_document(store: Store, *, annotate: Callable[[CellResult, dict[str, Any]], dict[str, Any] | None]
                    | None = None, generated: str | None = None) -> dict[str, Any]:
    """Every result and timing of ``store`` as a document; ``annotate(result, metric_row)`` may add a
    ``leaderboard`` object to each metric row."""
    from datetime import datetime, timezone

    items = _items_of(store)
    artifacts: dict[str, dict[str, str]] = {}
    for key, name in store.artifact_names():
        blob = store.artifact(key, name)
        if blob is not None:
            artifacts.setdefault(key, {})[name] = base64.b64encode(blob).decode("ascii")
    cells = []
    for result in store.results():
        record = result.record()
        record.pop("run_id", None)
        record.pop("items", None)
        record["outcome"] = result.outcome  # the one status every output says (derived: an import ignores it)
        if annotate is not None:
            record["metrics"] = [{**m, **({"leaderboard": extra} if (extra := annotate(result, m)) else {})}
                                 for m in record["metrics"]]
        record["items"] = items.get(result.key, {})
        record["artifacts"] = artifacts.get(result.key, {})
        cells.append(record)
    timings = [{**{f: t[f] for f in TIMING_FIELDS}, "provenance": t.get("provenance") or {}} for t in store.timings()]
    return _clean({"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "bench": __version__,
                   "generated": generated or datetime.now(timezone.utc).isoformat(timespec="seconds"),
                   "cells": cells, "timings": timings, "catalogue": list(store.catalogue().values())})


def write_document(store: Store, path: Path, **kwargs: Any) -> Path:
    path = Path(path)
    document = export_document(store, **kwargs)
    problem = schema_problem(document)
    if problem:  # what bench writes, bench import reads: a document that breaks the schema is a bug here
        raise AssertionError(f"bench wrote a results document that breaks its own schema, {problem}")
    return atomic_write(path, json.dumps(document, sort_keys=True, allow_nan=False))  # never half a document


def schema() -> dict[str, Any]:
    """The JSON Schema of a results document (``bench/schema/results.schema.json``, shipped with the package)."""
    from importlib import resources

    return json.loads(resources.files("bench").joinpath("schema", "results.schema.json").read_text(encoding="utf-8"))


def schema_problem(raw: Any) -> str | None:
    """What in ``raw`` breaks the schema, or None: the JSON path of the most relevant violation, what it
    breaks, and the rule (jsonschema's :func:`~jsonschema.exceptions.best_match`)."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    error = best_match(Draft202012Validator(schema()).iter_errors(raw))
    if error is None:
        return None
    rule = "/".join(str(p) for p in error.schema_path)
    return f"at {error.json_path}: {error.message} (schema rule {rule})"


def _cell(i: int, raw: Any, legacy: bool = False) -> CellResult:
    """A cell record the schema has checked; what the schema cannot say (base64, vector sizes) is checked here."""
    where = f"cell {raw['cell']['key']}"
    metrics = raw.get("metrics") or []
    record = {k: v for k, v in raw.items() if k not in ("items", "artifacts", "run_id", "outcome")}
    record["metrics"] = [{k: v for k, v in m.items() if k != "leaderboard"} for m in metrics]
    items = {}
    for name, v in (raw.get("items") or {}).items():
        values = unpack_items(v["kind"], int(v["n"]), base64.b64decode(v["data"], validate=True))
        if len(values) != int(v["n"]):
            raise ValueError(f"{where}: per-item vector {name} holds {len(values)} values, not {v['n']}")
        items[name] = {"test": "mcnemar" if v["kind"] == "bits" else "paired-t", "items_id": v["items_id"],
                       "values": values}
    record["items"] = items
    if legacy:  # a document of a bench that named the augmentation family "downstream" (the store's schema 6)
        record["metrics"] = [{**m, "family": LEGACY_DOWNSTREAM} if m.get("family") == "downstream" else m
                             for m in record["metrics"]]
        families = dict(record.get("families") or {})
        if "downstream" in families:
            families[LEGACY_DOWNSTREAM] = families.pop("downstream")
        record["families"] = families
    # a cell of the quick profile of before its CNNs converged in 10 epochs, under today's where that holds
    record["cell"] = requalified(record["cell"], record.get("families") or
                                 {m.get("family") for m in record["metrics"]})
    try:  # a document of a bench whose keys hashed a profile's prose: the key this bench gives the cell
        record["cell"] = {**record["cell"], "key": key_of(record["cell"])}
    except KeyError:
        pass  # a cell described without every column a key needs: kept under its own key
    artifacts = {name: base64.b64decode(data, validate=True) for name, data in (raw.get("artifacts") or {}).items()}
    return CellResult.from_record(record, artifacts)


def read_document(path: Path) -> Document:
    """The document at ``path``, checked whole before anything is imported: :class:`DocumentError` (one
    line) when it is not JSON, is truncated, is not a bench results document, or is of a newer schema."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DocumentError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DocumentError(f"{path} is not a bench results document: not valid JSON ({exc}); a truncated "
                            "file reads so too. Nothing was imported.") from None
    if not isinstance(raw, dict) or raw.get("schema") != SCHEMA:
        found = raw.get("schema") if isinstance(raw, dict) else type(raw).__name__
        raise DocumentError(f"{path} is not a bench results document: its schema is {found!r}, expected "
                            f"{SCHEMA!r} (write one with 'bench report --format json'). Nothing was imported.")
    version = raw.get("schema_version")
    if not isinstance(version, int) or version < 1:
        raise DocumentError(f"{path}: schema_version {version!r} is not a positive integer. Nothing was imported.")
    if version > SCHEMA_VERSION:
        raise DocumentError(f"{path} was written by a newer bench ({raw.get('bench', '?')}, results schema "
                            f"{version}); this bench ({__version__}) reads schema {SCHEMA_VERSION}: upgrade "
                            "bench to import it. Nothing was imported.")
    problem = schema_problem(raw)
    if problem:
        raise DocumentError(f"{path} is not a valid bench results document: {problem}. Nothing was imported.")
    catalogue = raw.get("catalogue") or []  # a list: the order of the families is the reports' order
    # "downstream" was the augmentation family's name until bench gave it to denoise-then-classify: a document
    # whose catalogue does not declare today's downstream family is of that time
    legacy = not any(e.get("name") == "downstream" and not legacy_downstream(e) for e in catalogue)
    renamed = [renamed_entry(e) for e in catalogue]
    scopes = scopes_of({e["name"]: e for e in renamed if isinstance(e, dict) and "name" in e})
    try:  # a cell of a document of schema_version 1, cut into the records of its families' scopes
        cells = [part for i, c in enumerate(raw.get("cells") or [])
                 for part in split(with_families(_cell(i, c, legacy)), scopes)]
        timings = [{**{f: t[f] for f in TIMING_FIELDS}, "provenance": t.get("provenance") or {}}
                   for t in raw.get("timings") or []]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        what = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
        raise DocumentError(f"{path} is not a valid bench results document: {what}. Nothing was imported.") from None
    return Document(cells, timings, {e["name"]: e for e in renamed})


def _same(a: CellResult, a_items: dict[str, Any], b: CellResult, b_items: dict[str, Any]) -> bool:
    """Whether two results of one key agree: status, every metric's value and interval, per-image values."""
    def metrics(r: CellResult) -> dict[str, tuple]:
        return {m["metric"]: tuple(None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)
                                   for v in (m.get("value"), m.get("ci95"))) for m in r.metrics}

    if a.status != b.status or metrics(a) != metrics(b) or set(a_items) != set(b_items):
        return False
    return all(a_items[n].items_id == b_items[n]["items_id"]
               and np.array_equal(np.asarray(a_items[n].values, float), np.asarray(b_items[n]["values"], float))
               for n in a_items)


@dataclass
class ImportSummary:
    added: list[str] = field(default_factory=list)
    same: list[str] = field(default_factory=list)  # already there, identical
    conflicts: list[CellResult] = field(default_factory=list)  # already there, different: kept unless replaced
    replaced: list[str] = field(default_factory=list)
    timings: int = 0


def import_document(document: Document, store: Store, *, replace: bool = False,
                    argv: list[str] | None = None) -> ImportSummary:
    """Merge ``document`` into ``store``: keys decide what is already there. A result whose key is not in
    the store is added; one that is, identical, is left; a different one is a conflict, kept as it is
    unless ``replace``. Timings not already stored are added. The import is a run of the store."""
    from .provenance import environment, now

    summary = ImportSummary()
    existing = {r.key: r for r in store.results()}
    stored_items = store.items(list(existing)) if existing else {}
    todo = []
    for result in document.cells:
        old = existing.get(result.key)
        if old is None:
            todo.append(result)
            summary.added.append(result.key)
            continue
        mine = {name: v for (key, name), v in stored_items.items() if key == result.key}
        if _same(old, mine, result, result.items):
            summary.same.append(result.key)
        elif replace:
            todo.append(result)
            summary.replaced.append(result.key)
        else:
            summary.conflicts.append(result)
    known = {json.dumps({f: t[f] for f in TIMING_FIELDS}, sort_keys=True, default=str) for t in store.timings()}
    new_timings = [t for t in document.timings
                   if json.dumps({f: t[f] for f in TIMING_FIELDS}, sort_keys=True, default=str) not in known]
    if not todo and not new_timings:
        return summary
    run_id = store.begin_run(argv or ["bench", "import"], environment("cpu"), now())
    known_families = store.catalogue()
    store.describe_families([e for f, e in document.catalogue.items() if f not in known_families or replace])
    for result in todo:
        store.add(result, run_id=run_id)
    if todo:
        store.record_used_sizes()
    by_provenance: dict[str, list[dict[str, Any]]] = {}
    for t in new_timings:
        by_provenance.setdefault(json.dumps(t["provenance"], sort_keys=True), []).append(t)
    for prov, rows in by_provenance.items():
        store.add_timings(rows, json.loads(prov), run_id=run_id)
    summary.timings = len(new_timings)
    store.end_run(run_id, now(), computed=len(todo), reused=len(summary.same), failed=0)
    return summary
