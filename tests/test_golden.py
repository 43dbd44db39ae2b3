"""Each built-in metric family gives pinned values on a tiny fixed cell: changing what a family computes
without raising its version fails here. After a deliberate change, raise the family's version and rewrite
the pins: ``BENCH_WRITE_GOLDEN=1 pytest tests/test_golden.py``."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
import torch

from bench import augmentation
from bench.families import BUILTIN
from bench.features import DomainFeatures
from registry.kit_context import KitContext

GOLDEN = Path(__file__).parent / "data" / "golden_families.json"
#: Relative tolerance: the same arithmetic on another CPU (AVX2 or AVX-512) differs in the last bits only.
RTOL = 1e-4


class GoldenContext(KitContext):
    """The plugin kit's cell, with what only a grid provides made small: the augmentation samples (one
    generated per image), the reference CNN (two epochs) and a feature space (standardised pixels)."""

    def __init__(self) -> None:
        super().__init__()
        self.profile.__dict__.update(cnn_epochs=2, cnn_batch=16, cnn_lr=1e-3, augment_k=1)
        self._baseline = None

    def augmentation(self):
        def draw():
            with self.seeded("augment"):
                return augmentation.augment(self.model, self.train_x, self.train_y, k=1, corrupt=None, generates=True)

        return ("kit", *self.memo(["augmentation"], draw))

    def baseline_cnn(self):
        if self._baseline is None:
            with self.seeded("cnn"):
                cnn, fit = augmentation.train_cnn(self.train_x, self.train_y, 3, profile=self.profile,
                                                baseline_size=len(self.train_x))
            self._baseline = (cnn.eval(), fit, "trained")
        return self._baseline

    def baseline_accuracy(self):
        return augmentation.accuracy(self.baseline_cnn()[0], self.eval_x, self.eval_y, self.corrupted_eval_sets())

    def domain_features(self):
        flat = self.train_x.flatten(1)
        return DomainFeatures(None, flat.mean(0), flat.std(0) + 1e-3)

    def real_features(self):
        return self.domain_features()(self.eval_x)

    def noisy_features(self):
        return self.domain_features()(self.noisy_test)


def _values(family) -> dict[str, float | None]:
    torch.manual_seed(0)
    results = family.score(GoldenContext().for_family(family.name))
    return {r.metric.name: (None if math.isnan(r.value) else r.value) for r in results}


def _pins() -> dict:
    return json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}


def test_the_pins_were_written_for_every_built_in_family():
    if os.environ.get("BENCH_WRITE_GOLDEN"):
        GOLDEN.write_text(json.dumps({f.name: {"version": f.version, "values": _values(f)} for f in BUILTIN},
                                     indent=1, sort_keys=True) + "\n")
    assert sorted(_pins()) == sorted(f.name for f in BUILTIN)


@pytest.mark.parametrize("family", BUILTIN, ids=lambda f: f.name)
def test_a_family_gives_its_pinned_values_unless_its_version_was_raised(family):
    pin = _pins().get(family.name)
    assert pin is not None, "no pins: BENCH_WRITE_GOLDEN=1 pytest tests/test_golden.py"
    assert pin["version"] == family.version, (
        f"the {family.name} family is at version {family.version}, its pins at {pin['version']}: rewrite them with "
        "BENCH_WRITE_GOLDEN=1 pytest tests/test_golden.py")
    values = _values(family)
    assert values.keys() == pin["values"].keys()
    changed = {name: (pin["values"][name], value) for name, value in values.items()
               if not (value == pin["values"][name] or (value is not None and pin["values"][name] is not None
                                                        and math.isclose(value, pin["values"][name], rel_tol=RTOL,
                                                                         abs_tol=1e-9)))}
    assert not changed, (f"the {family.name} family computes other values at the same version {family.version} "
                         f"(pinned, now): {changed}; raise its version if the change is meant")
