"""``bench list``: the installed models, noises, datasets, metric families and report formats with their
distributions and parameters (a family: its version and metrics; a reporter: its options, whether its extra is
installed)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from .options import KINDS, OK


def _param_rows(params) -> list[dict]:
    return [{"name": p.name, "type": p.type.__name__, "default": p.default, "allowed": p.allowed(), "help": p.help}
            for p in params]


def cmd_list(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from bench.calibration import TARGET_PSNR, calibrate
    from bench.data import load
    from registry import BenchError, load_registry, select

    registry = load_registry()
    kinds = [args.kind] if args.kind else list(KINDS)
    if args.dataset and kinds != ["noises"]:
        raise BenchError("--dataset goes with 'bench list noises': it shows the calibrated value per severity")
    ds_spec = registry.spec("datasets", select(args.dataset, registry.names("datasets"), "dataset")[0]) \
        if args.dataset else None
    dataset = load(ds_spec, version=registry.entry("datasets", ds_spec.name).version) if ds_spec else None
    rows = []
    for kind in kinds:
        for e in registry.list(kind):
            row = {"name": e.name, "kind": e.kind, "distribution": e.distribution, "version": e.version,
                   "summary": e.summary, "parameters": _param_rows(getattr(e.spec, "params", ()))}
            if kind == "models":  # what the model can do: which families and protocols apply to it
                row.update(capabilities=list(e.spec.capabilities), denoising=e.spec.denoising,
                           likelihood=e.spec.likelihood, inputs=list(e.spec.inputs))
            if kind == "families":
                row.update(family_version=e.spec.version, headline=e.spec.headline,
                           metrics=[m.name for m in e.spec.metrics if not m.detail])
            if kind == "reporters":
                missing = e.spec.missing()
                row.update(default=e.spec.default, files=list(e.spec.files), options=list(e.spec.options),
                           installed=not missing,
                           extra=e.spec.extra or None)
            if dataset is not None:
                table = calibrate(e, dataset) if ds_spec.kind in e.spec.inputs else {}
                row["calibration"] = {str(s): v for s, v in table.items()}
            rows.append(row)
    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return OK
    text = []
    for row in rows:
        params = ", ".join(f"{p['name']}={p['default']} ({p['allowed']})" for p in row["parameters"])
        if "installed" in row:  # a reporter: whether it is ready, its options
            params = ("default; " if row["default"] else "") + (
                ", ".join(f"--{o.replace('_', '-')}" for o in row["options"]) or "-") + (
                "" if row["installed"] else f"; needs pip install \"aebench[{row['extra']}]\"")
        if "metrics" in row:  # a family: its version and metrics, the headline first
            params = f"version {row['family_version']}: " + ", ".join(
                sorted(row["metrics"], key=lambda m: m != row["headline"]))
        if "capabilities" in row:  # a model: what it can do, after its parameters
            can = (["denoising"] if row["denoising"] else []) + row["capabilities"] + (
                [f"{row['likelihood']} likelihood"] if row["likelihood"] else [])
            params = f"{params or '-'}; can: {', '.join(can) or 'reconstruct'}; inputs: {', '.join(row['inputs'])}"
        line = [row["name"], row["kind"], row["distribution"], row["version"], params or "-", row["summary"]]
        if "calibration" in row:
            line[4:4] = [f"{v['value']:.4g} ({v['psnr']:.1f} dB)" if (v := row["calibration"].get(str(s))) else "-"
                         for s in range(1, 6)]
        text.append(line)
    headers = ["name", "kind", "distribution", "version", "parameters", "summary"]
    if dataset is not None:
        headers[4:4] = [f"s{s} ({t:g} dB)" for s, t in sorted(TARGET_PSNR.items())]
    print(tabulate(text, headers=headers, tablefmt="simple"))
    return OK


def add_parser(verbs: Any) -> None:
    lst = verbs.add_parser("list", help="list installed models, noises, datasets, metric families and report formats",
                           description="List installed plugins' specs, sorted, with their distributions.")
    lst.add_argument("kind", nargs="?", choices=KINDS, help="only this kind")
    lst.add_argument("--format", default="text", choices=("text", "json"), help="(default: text)")
    lst.add_argument("--dataset", metavar="NAME",
                     help="with 'noises': the calibrated native value of each severity on this dataset")
    lst.set_defaults(func=cmd_list)
