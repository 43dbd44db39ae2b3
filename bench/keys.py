"""What a stored result's key hashes: the cell's columns, and of its profile only the fields its family reads.

A profile's CNN protocol (the budget, the CNNs' epochs and steps, the precision) decides the results of the
families that train CNNs and of those that use the reference classifier, and of no other family. So a cell's
results are kept in up to three records, one per *scope*, each under a key that hashes what that scope reads:

- ``plain``: families that train no CNN (reconstruction, latent, likelihood): no CNN field;
- ``reference``: families that use the reference classifier (``FamilySpec.reference``; the downstream family):
  the converged schedule it is trained under and the precision, not the budget;
- ``cnn``: families that train CNNs under the cell's budget (``FamilySpec.trains_cnn``; augmentation,
  generative), and any family whose declaration the store lacks: every field, as every key hashed before.

A run under another ``--cnn-budget`` or ``--precision`` therefore reads the plain families' results back instead
of computing them again, and a family added later still computes only itself (its scope's record gains it).
:func:`split` cuts a cell's result into its records; :data:`bench.store.MIGRATIONS` (schema 9) did so once to
every result stored before.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from .hashing import content_hash
from .profiles import PROFILE_PROSE
from .result import CellResult, CnnSteps, Failure

PLAIN, REFERENCE, CNN = "plain", "reference", "cnn"
SCOPES = (PLAIN, REFERENCE, CNN)
#: The profile's fields that only the CNN-training families read (the augmentation protocol and its samples).
CNN_FIELDS = ("cnn_budget", "cnn_epochs", "cnn_matched_epochs", "augment_k", "cnn_converged_epochs", "cnn_min_steps",
              "precision", "cnn_lr", "cnn_batch")
#: Of those, what the reference classifier is trained under: the converged schedule, in the precision asked.
REFERENCE_FIELDS = ("cnn_converged_epochs", "cnn_min_steps", "precision", "cnn_lr", "cnn_batch")
_DROPPED = {PLAIN: CNN_FIELDS, REFERENCE: tuple(f for f in CNN_FIELDS if f not in REFERENCE_FIELDS), CNN: ()}


def scope_of(entry: Mapping[str, Any] | None) -> str:
    """The scope of a family from what it declares (:meth:`registry.FamilySpec.describe`, or a store's
    catalogue entry); a family nobody described is given every field (``cnn``)."""
    if entry is None or entry.get("trains_cnn"):
        return CNN
    return REFERENCE if entry.get("reference") else PLAIN


def scopes_of(catalogue: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Each described family's scope, by name. An entry of a bench that did not declare what a family trains
    (no ``trains_cnn``) is read as the installed family of its name and version declares it, and as ``cnn``
    (every field in its key) where none is installed: a result is never keyed by less than it read."""
    installed: dict[str, Any] | None = None
    out = {}
    for name, entry in catalogue.items():
        if "trains_cnn" not in entry:
            if installed is None:
                from registry import load_registry

                installed = {e.name: e.spec.describe() for e in load_registry().list("families")}
            same = installed.get(name)
            entry = same if same is not None and same.get("version") == entry.get("version") else None
        out[name] = scope_of(entry)
    return out


def narrowed(described: dict[str, Any], scope: str) -> dict[str, Any]:
    """A cell's columns (:meth:`bench.grid.Cell.describe`, without its key) as a record of ``scope`` keeps
    them: the profile's fields the scope does not read left out, and the ``cnn_budget`` and ``precision``
    columns None where it does not read them. A record of an earlier bench without those columns ran the
    equal-epochs protocol in fp32: its ``cnn`` record says so."""
    out = {k: v for k, v in described.items() if k != "key"}
    if scope == CNN:
        out.setdefault("cnn_budget", "epochs")
        out.setdefault("precision", "fp32")
        return out
    params = out.get("profile_params")
    if isinstance(params, dict):
        out["profile_params"] = {k: v for k, v in params.items() if k not in _DROPPED[scope]}
    out["cnn_budget"] = None
    if scope == PLAIN:
        out["precision"] = None
    else:
        out.setdefault("precision", "fp32")
    return out


def key_of(described: dict[str, Any]) -> str:
    """The key of a record from its columns (:meth:`bench.grid.Cell.describe`, or :func:`narrowed`): a hash of
    what decides its results and of nothing else (no prose: a profile's summary is not in it; the families are
    kept per record, not in it). The store's migrations re-key records stored under earlier keys with it."""
    profile = {k: v for k, v in described["profile_params"].items() if k not in PROFILE_PROSE}
    params = described.get("dataset_params") or {}
    return content_hash([{
        "dataset": [described["dataset"], described["dataset_fingerprint"], *([params] if params else [])],
        "model": [described["model_name"], described["model_params"]],
        "noise": [described["noise_name"], described["noise_params"], described["severity"]],
        "seed": described["seed"],
        "train_noise": described["train_noise"],
        "profile": profile,
        "versions": described["versions"],
    }], chars=20)


def scoped(described: dict[str, Any], scope: str) -> dict[str, Any]:
    """The columns of the record of ``scope``, with its key (the cell's own when the columns cannot be keyed:
    a record of a bench that did not describe every column a key needs)."""
    columns = narrowed(described, scope)
    try:
        key = key_of(columns)
    except KeyError:
        key = described["key"] if scope == CNN else f"{described['key']}-{scope}"
    return {"key": key, **columns}


def split(result: CellResult, scopes: Mapping[str, str]) -> list[CellResult]:
    """``result`` as the records it is stored in: one per scope of its families (``scopes``: each family's, a
    family it lacks being ``cnn``), each with that scope's columns and key and the families, metrics, per-item
    values, figures and artifacts of its families. What the cell shares (its status and reason, provenance,
    wall time, training, footprint, input PSNR) is in each; the CNN steps only where a family used a CNN. A
    result that names no family is kept whole in the ``cnn`` record, under the key it always had."""
    if not result.families:  # a skipped cell of an earlier bench, or a result that names no family
        return [dataclasses.replace(result, cell=scoped(result.cell, CNN))]
    families = list(result.families)
    by_scope: dict[str, list[str]] = {}
    for name in families:
        by_scope.setdefault(scopes.get(name, CNN), []).append(name)
    parts = []
    for scope in SCOPES:
        if scope not in by_scope:
            continue
        names = set(by_scope[scope])
        runs = {n: r for n, r in result.families.items() if n in names}
        metrics = [m for m in result.metrics if m.get("family") in names]
        vectors = {m["items"] for m in metrics if m.get("items")}
        figures = {kind: path for kind, path in result.figures.items() if any(kind in r.figures for r in runs.values())}
        made = {a for r in runs.values() for a in r.artifacts}
        artifacts = {n: d for n, d in result.artifacts.items() if n in made}
        cnn = result.cnn if scope != PLAIN else None
        if cnn is not None and scope == REFERENCE:  # the reference classifier's steps, source and validation
            seen = {k: v for k, v in (cnn.validation or {}).items() if k == "reference"}
            cnn = CnnSteps(baseline_source=cnn.reference_source or cnn.baseline_source, validation=seen or None,
                           validation_images=cnn.validation_images if seen else None,
                           reference=cnn.reference) if cnn.reference is not None else None
        parts.append(dataclasses.replace(
            result, cell=scoped(result.cell, scope), metrics=metrics,
            items={n: v for n, v in result.items.items() if n in vectors},
            figures=figures, artifacts=artifacts, cnn=cnn, families=runs))
    return parts


def cell_identity(described: dict[str, Any]) -> str:
    """What the records of one cell share whatever their scope: the key of its ``plain`` record (cells that
    differ only in the CNN protocol are one cell here)."""
    return scoped(described, PLAIN)["key"]


def distinct_failures(results: list[CellResult]) -> list[Failure]:
    """The failures of ``results`` (records), each once: a family that failed, once per record (a record shown
    under several protocols is one); a cell that failed whole (each of its records says so), once per cell,
    named by its first record's key."""
    seen: set[tuple] = set()
    out = []
    for r in results:
        for f in r.failures():
            which = (cell_identity(r.cell), None, f.reason) if f.family is None else (f.key, f.family)
            if which not in seen:
                seen.add(which)
                out.append(f)
    return out
