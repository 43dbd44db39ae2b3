"""The ``mlflow`` reporter: one MLflow run per cell, nested under one run per bench run (the run that first
stored the cell), in an experiment (default ``bench``) of the tracking server or store ``tracking_uri``.

A cell's run holds its identity as params (dataset, model, noise, severity, seed, protocol, parameters, key),
each metric's value and the bounds of its 95% interval as metrics (``psnr``, ``psnr_ci_low``,
``psnr_ci_high``), its protocol and provenance as tags, and as artifacts its figures and its stored JSON record.
The cell's key identifies its run (tag ``bench.key``) and a digest of what is stored for it (tag
``bench.state``): logging a store again adds no run, and a cell whose stored state changed (a family added or
recomputed) has its run brought up to date, metrics only where their values changed.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Mapping

from bench.hashing import content_hash
from bench.outcome import NotApplicable
from bench.result import CellResult
from registry import BenchError

from .report import Report

EXPERIMENT = "bench"
PARAMS = ("dataset", "model", "noise", "severity", "seed", "profile", "cnn_budget", "precision", "train_noise",
          "train_size", "model_params", "noise_params", "key")
_BATCH = 900  # MLflow takes at most 1,000 metrics per log_batch


def tracking_uri(options: Mapping[str, Any]) -> str | None:
    return options.get("tracking_uri") or os.environ.get("MLFLOW_TRACKING_URI") or None


def check_tracking(options: Mapping[str, Any]) -> None:
    """A tracking server named by an http(s) URI answers its health check within 10 s; otherwise one line
    (:class:`registry.BenchError`), before any work. A local store (``file:``, a path, ``sqlite:``) is created
    by MLflow where missing."""
    uri = tracking_uri(options)
    if not uri or not uri.startswith(("http://", "https://")):
        return
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=10) as answer:
            ok = answer.status == 200
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise BenchError(f"--tracking-uri {uri!r}: no MLflow tracking server answers ({reason}); start one "
                         "('mlflow server --host 127.0.0.1 --port 5000') or give another URI. Nothing was "
                         "computed or logged.") from None
    if not ok:
        raise BenchError(f"--tracking-uri {uri!r}: the server's health check failed; is it an MLflow tracking "
                         "server?")


def log_report(report: Report) -> list[Path]:
    """Log every stored cell of ``report`` (:mod:`reports.mlflow_runs`); returns no files."""
    import sys

    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")  # a line per run; bench says one
    uri = tracking_uri(report.options)
    try:
        client = MlflowClient(tracking_uri=uri)
        name = report.options.get("experiment") or EXPERIMENT
        found = client.get_experiment_by_name(name)
        experiment = found.experiment_id if found is not None else client.create_experiment(name)
        logger = _Logger(client, experiment, report)
        logger.log()
        print(f"bench: mlflow: {logger.counts['added']} cell runs added, {logger.counts['updated']} brought up to "
              f"date, {logger.counts['current']} already logged (experiment {name!r} at "
              f"{client.tracking_uri})", file=sys.stderr)
    except MlflowException as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BenchError(f"--format mlflow: MLflow refused ({first}); the results are kept in "
                         f"{report.store.path}: run 'bench report --format mlflow' again") from None
    return []


class _Logger:
    def __init__(self, client: Any, experiment: str, report: Report):
        self.client, self.experiment, self.report = client, experiment, report
        self.runs = {r["id"]: r for r in report.store.runs()}
        self.counts = {"added": 0, "updated": 0, "current": 0}
        self.existing = self._existing()

    def _existing(self) -> dict[str, Any]:
        """The experiment's runs logged by bench, by their ``bench.key`` (a cell's) or ``bench.run`` tag."""
        found: dict[str, Any] = {}
        token = None
        while True:
            page = self.client.search_runs([self.experiment], filter_string="tags.`bench.kind` != ''",
                                           max_results=1000, page_token=token)
            for run in page:
                tag = run.data.tags.get("bench.key") or run.data.tags.get("bench.run")
                found.setdefault(tag, run)
            token = page.token
            if not token:
                return found

    def log(self) -> None:
        cells = [r for r in self.report.stored if r.status != "skipped"]
        if not cells:
            return
        self.report.figures  # noqa: B018  (a cell's figures are logged as artifacts)
        for result in cells:
            self._cell(result, self._parent(self._first_run(result)))

    def _first_run(self, result: CellResult) -> int | None:
        ids = [f.run_id for f in result.families.values() if f.run_id is not None] or [result.run_id]
        return min((i for i in ids if i is not None), default=None)

    def _parent(self, run_id: int | None) -> str | None:
        run = self.runs.get(run_id)
        if run is None:
            return None
        identity = f"{run['started']}#{run['id']}"
        if identity in self.existing:
            return self.existing[identity].info.run_id
        tags = {"bench.kind": "run", "bench.run": identity, "bench.store": str(self.report.store.path),
                "bench.argv": " ".join(run["argv"])[:5000], "bench.started": run["started"] or "",
                "bench.ended": run["ended"] or ""}
        tags.update({f"bench.provenance.{k}": str(v)[:5000] for k, v in (run["provenance"] or {}).items()})
        created = self.client.create_run(self.experiment, tags=tags, run_name=f"bench run {run['id']}")
        self.client.set_terminated(created.info.run_id, "FINISHED")
        self.existing[identity] = created
        return created.info.run_id

    def _cell(self, result: CellResult, parent: str | None) -> None:
        from mlflow.entities import Metric, Param, RunTag

        key = result.key
        state = content_hash([result.outcome, sorted((n, f.version, f.status, f.run_id) for n, f in result.families.items())],
                             chars=16)
        run = self.existing.get(key)
        if run is not None and run.data.tags.get("bench.state") == state:
            self.counts["current"] += 1
            return
        self.counts["updated" if run is not None else "added"] += 1
        cell = result.cell
        if run is None:
            tags = {"bench.kind": "cell", "bench.key": key, **({"mlflow.parentRunId": parent} if parent else {})}
            run = self.client.create_run(self.experiment, tags=tags, run_name=_name(cell))
            logged: dict[str, float] = {}
            params = [Param(p, _text(_param(cell, p))) for p in PARAMS]
        else:
            logged, params = dict(run.data.metrics), []
        run_id = run.info.run_id
        now = int(time.time() * 1000)
        metrics = [Metric(name, value, now, 0) for name, value in _metrics(result).items()
                   if name not in logged or logged[name] != value]
        tags = [RunTag(k, _text(v)[:5000]) for k, v in _tags(result, state).items()]
        for i in range(0, max(len(metrics), 1), _BATCH):
            self.client.log_batch(run_id, metrics=metrics[i:i + _BATCH], params=params if i == 0 else [],
                                  tags=tags if i == 0 else [])
        self._artifacts(run_id, result)
        self.client.set_terminated(run_id, "FINISHED" if result.outcome == "done" else "FAILED")
        self.existing[key] = run

    def _artifacts(self, run_id: str, result: CellResult) -> None:
        record = result.record()
        record.pop("items", None)
        self.client.log_dict(run_id, record, "cell.json")
        out_dir = self.report.out_dir
        with tempfile.TemporaryDirectory() as tmp:
            for kind, rel in sorted(result.figures.items()):
                path = out_dir / str(rel)
                if NotApplicable.parse(rel) is None and path.is_file():
                    target = Path(tmp) / f"{kind}{path.suffix}"
                    target.write_bytes(path.read_bytes())
                    self.client.log_artifact(run_id, str(target), "figures")


def _name(cell: dict[str, Any]) -> str:
    return f"{cell['dataset']}/{cell['model']}/{cell['noise']}@{cell['severity']}/seed{cell['seed']}"


def _param(cell: dict[str, Any], name: str) -> Any:
    if name == "train_size":
        from .leaderboard import cell_size

        return cell_size(cell)
    return cell.get(name)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _metrics(result: CellResult) -> dict[str, float]:
    """Each metric with a value, and the bounds of its 95% interval where it has one."""
    out: dict[str, float] = {}
    for m in result.metrics:
        value, ci = m.get("value"), m.get("ci95")
        if value is None or not math.isfinite(value):
            continue
        out[m["metric"]] = float(value)
        if ci is not None and math.isfinite(ci):
            out[f"{m['metric']}_ci_low"] = float(value - ci)
            out[f"{m['metric']}_ci_high"] = float(value + ci)
    return out


def _tags(result: CellResult, state: str) -> dict[str, Any]:
    cell = result.cell
    failures = result.failures()
    tags = {"bench.state": state, "bench.status": result.outcome, "bench.reason": result.reason or "",
            "bench.failed": "; ".join(f"{f.what}: {f.reason}" for f in failures),  # "" clears an earlier one
            "bench.profile": cell.get("profile"), "bench.cnn_budget": cell.get("cnn_budget", ""),
            "bench.precision": cell.get("precision", "fp32"),
            "bench.families": ", ".join(f"{n} v{f.version} ({f.status})" for n, f in sorted(result.families.items())),
            "bench.wall_s": result.timings.wall_s}
    tags.update({f"bench.provenance.{k}": v for k, v in (result.provenance or {}).items()})
    return {k: v for k, v in tags.items() if v is not None}
