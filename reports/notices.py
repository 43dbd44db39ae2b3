"""Notices every report format carries above its tables: what about the stored cells limits the claims."""

from __future__ import annotations

from bench.result import CellResult, one_line


def untested_notice(cells: list[CellResult]) -> str | None:
    """One line when the store holds cells from before per-image values were kept: their rows' marks can
    only come from a test over seeds."""
    old = [r for r in cells if r.status == "done" and r.metrics
           and all(m.get("test") is None and m.get("items") is None for m in r.metrics)]
    if not old:
        return None
    return (f"{len(old)} of the stored cells were computed by a bench that did not keep per-image values: their "
            "rows are compared only over seeds (a paired t-test, no mark with one seed) and their CNNs ran "
            "the equal-epochs protocol. Run their grid again to get the per-image tests and the "
            "compute-matched protocol.")


def precision_notice(cells: list[CellResult]) -> str | None:
    """One line when the store's cells ran their CNNs at more than one precision: their rows are in separate
    tables, never compared with one another."""
    done = [r for r in cells if r.status == "done" and r.cell.get("precision", "fp32") is not None]  # read one
    found = sorted({r.cell.get("precision", "fp32") for r in done})
    if len(found) < 2:
        return None
    counts = {p: sum(r.cell.get("precision", "fp32") == p for r in done) for p in found}
    return (f"This store mixes CNN precisions ({', '.join(f'{p}: {n} cells' for p, n in counts.items())}): each "
            "precision has its own tables, and no row is compared with a row of another precision.")


def failed_notice(cells: list[CellResult]) -> str | None:
    """One line when something failed, above everything else: how many cells, which model and family, why
    (``cells``: the stored records, up to one per scope of a cell's families, :mod:`bench.keys`)."""
    from bench.keys import cell_identity

    failed = [r for r in cells if r.outcome == "failed"]
    if not failed:
        return None
    groups: dict[tuple[str, str], dict[str, str]] = {}
    for r in failed:
        for f in r.failures():
            groups.setdefault((r.cell["model"], f.what), {}).setdefault(cell_identity(r.cell), one_line(f.reason))
    parts = [f"{model} {'' if what == 'every family' else what + ' '}in {len(reasons)} cell{'s' * (len(reasons) != 1)}"
             f" ({next(iter(reasons.values()))})" for (model, what), reasons in sorted(groups.items())]
    n_failed, n_cells = len({cell_identity(r.cell) for r in failed}), len({cell_identity(r.cell) for r in cells})
    return (f"{n_failed} of {n_cells} cells failed, whole or in part: {'; '.join(parts)}. What failed is "
            "missing from the tables; the Failed section names each cell with its reason, and 'bench show KEY' "
            "prints its traceback.")
