"""A cell's result does not depend on which cells ran before it in the process."""

from __future__ import annotations

import math

from bench.checkpoints import Checkpoints
from bench.data import load
from bench.evaluator import Evaluator
from bench.grid import plan
from bench.profiles import get_profile
from bench.result import CellResult
from registry import load_registry


def _values(results: list[CellResult]) -> dict[tuple[str, str], float]:
    return {(r.key, m["metric"]): m["value"] for r in results for m in r.metrics}


def test_cells_evaluated_in_reverse_order_give_the_same_metrics_and_figures(tmp_path):
    registry = load_registry()
    data = {"digits": load(registry.spec("datasets", "digits"))}
    cells = plan(registry, datasets=["digits"], models=[("ae", {}), ("vae", {})], noises=[("gaussian", {})],
                 severities=[1, 3], seeds=[0], profile=get_profile("quick").with_protocol(cnn_budget="epochs"),
                 loaded=data)
    checkpoints = Checkpoints(tmp_path / "checkpoints")  # the second order loads what the first trained
    first, second = Evaluator(registry, data, checkpoints), Evaluator(registry, data, checkpoints)
    forward = [first.evaluate(c) for c in cells]
    backward = [second.evaluate(c) for c in reversed(cells)][::-1]
    assert all(r.status == "done" for r in forward + backward)
    a, b = _values(forward), _values(backward)
    assert a.keys() == b.keys() and len(a) > 50
    assert all(a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])) for k in a)
    assert [r.artifacts for r in forward] == [r.artifacts for r in backward]  # the same figures, byte for byte
    assert [r.figures for r in forward] == [r.figures for r in backward]
    # the stored form reads back as the same typed result
    assert all(CellResult.from_record(r.record()).record() == r.record() for r in forward)
