"""The plugin kit runs on bench's own plugins, as scikit-learn runs its estimator checks on its own estimators:
every built-in model, noise, dataset, metric family and reporter keeps the contract a third party's must keep.
A check that does not apply (a model without samples, a dataset whose files are not here, a family that needs
a grid) is a pytest skip with the reason, never a pass."""

from __future__ import annotations

import pytest

from registry import load_registry
from registry.testing import CheckSkipped, checks_for, parametrize_with_checks, run_checks

BUILT_IN = [e.spec for kind in ("models", "noises", "datasets", "families", "reporters")
            for e in load_registry(autoload=False).list(kind)]


@pytest.fixture(autouse=True)
def _private_data_root(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("BENCH_DATA", str(tmp_path_factory.getbasetemp() / "kit-data"))
    monkeypatch.setenv("BENCH_OFFLINE", "1")  # MNIST: skipped where its files are not here, never downloaded


@parametrize_with_checks(BUILT_IN)
def test_every_built_in_plugin_keeps_the_contract(spec, check):
    check(spec)


def test_a_check_that_does_not_apply_is_reported_as_skipped_with_its_reason_not_as_passed():
    registry = load_registry(autoload=False)
    ae = registry.spec("models", "ae")  # a plain autoencoder: no prior to sample from
    (samples,) = [c for c in run_checks(ae) if c.check == "declared prior samples have the input shape in [0, 1]"]
    assert samples.skipped and samples.ok and "no 'sample' capability" in samples.detail
    check = next(c for c in checks_for(ae) if c.__name__ == "check_model_samples")
    with pytest.raises(CheckSkipped):
        check(ae)
    vae = registry.spec("models", "vae")
    assert not next(c for c in run_checks(vae) if c.check.startswith("declared prior samples")).skipped
