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


def test_the_cell_that_trained_the_feature_network_says_so_and_later_cells_of_the_process_found_it(
        tmp_path, monkeypatch):
    import dataclasses

    from bench import evaluator as module
    from bench.features import DomainFeatures

    registry = load_registry()
    data = {"digits": load(registry.spec("datasets", "digits"))}
    entry = registry.entry("families", "reconstruction")  # as if it scored in the feature space
    monkeypatch.setitem(registry.entries["families"], "reconstruction",
                        dataclasses.replace(entry, spec=dataclasses.replace(entry.spec, features=True)))
    cells = [c for c in plan(registry, datasets=["digits"], models=[("ae", {})], noises=[("gaussian", {})],
                             severities=[1, 3], seeds=[0], profile=dataclasses.replace(get_profile("quick"), max_epochs=1),
                             loaded=data, families=("reconstruction",)) if c.model == "ae"]
    trained = []

    def train_once(*args, **kwargs):  # the network itself is the generative tests' business
        trained.append(args[1])
        return DomainFeatures(None, source="trained")

    monkeypatch.setattr(module, "domain_features", train_once)
    evaluator = Evaluator(registry, data, Checkpoints(tmp_path / "checkpoints"))
    first, second = (evaluator.evaluate(c) for c in cells)
    assert trained == ["digits"]  # once per process, by the first cell, before its other work
    assert first.features_source == "trained"  # the progress moves its charge to this cell (cost.sources)
    assert second.features_source == "memory"
    plain = evaluator.evaluate(dataclasses.replace(cells[0], families=("latent",)))
    assert plain.features_source is None  # a cell whose families do not use it
