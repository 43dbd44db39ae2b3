"""Claims about the downstream family (denoise, then classify): one reference classifier per split, trained on
the clean limited subset and shared by every model and family, classifies the clean, the noisy and the
reconstructed test images; and about the augmentation family that held the name "downstream" before."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import bench
from bench import augmentation
from bench.families.downstream import DOWNSTREAM
from bench.store import open_store


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """ae, dae and vae on digits under Gaussian noise at severities 1 and 3, one seed, reconstruction and
    downstream, counting the reference classifiers trained."""
    out = tmp_path_factory.mktemp("downstream")
    trained = []
    real = augmentation.train_cnn

    def counting(*args, **kwargs):
        trained.append(kwargs.get("baseline_size"))
        return real(*args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(augmentation, "train_cnn", counting)
        mp.setenv("BENCH_EXECUTOR", "local")
        results = bench.run(models="ae,dae,vae", noises="gaussian", datasets="digits", severities=[1, 3], seeds=1,
                            families="reconstruction,downstream", store=out)
    return out, results, trained


def _values(results) -> dict[tuple, dict[str, float]]:
    return {(r.cell["model"], r.cell["severity"]): {m["metric"]: m["value"] for m in r.metrics}
            for r in results.results() if r.status == "done"}


def test_every_model_is_scored_by_one_reference_classifier_trained_once_on_the_clean_subset(digits):
    out, results, trained = digits
    values = _values(results)
    assert len(values) == 6 and len(trained) == 1  # one split: one classifier for six cells
    assert len({v["clf_clean"] for v in values.values()}) == 1  # the same classifier on the same clean images
    for severity in (1, 3):  # the noisy input is the same images for every model
        assert len({v["clf_noisy"] for (m, s), v in values.items() if s == severity}) == 1
    for v in values.values():
        assert 0.8 < v["clf_clean"] <= 1.0  # a converged CNN on digits
        assert math.isclose(v["clf_gain"], v["clf_denoised"] - v["clf_noisy"], abs_tol=1e-9)
    noisier = [v["clf_noisy"] for (m, s), v in sorted(values.items(), key=lambda kv: kv[0][1]) if m == "ae"]
    assert noisier[0] >= noisier[1]  # stronger noise costs the classifier accuracy
    steps = {r.cnn.reference for r in results.results() if "downstream" in r.families}  # its records (bench.keys)
    assert steps == {500}  # the converged protocol's minimum on digits' 1,347 images


def test_the_downstream_family_keeps_per_image_values_for_paired_tests(digits):
    out, results, _ = digits
    items = open_store(out).items()
    names = {name for (_, name) in items}
    assert {"clf_clean", "clf_noisy", "clf_denoised", "clf_gain"} <= names
    gain = next(v for (k, name), v in items.items() if name == "clf_gain")
    assert set(gain.values.tolist()) <= {-1.0, 0.0, 1.0}  # per image: restored, unchanged or lost


def test_the_reference_classifier_is_the_augmentation_baseline_s_checkpoint(digits, tmp_path):
    out, _, _ = digits
    store = tmp_path / "results.db"
    shutil.copy(out / "results.db", store)
    shutil.copytree(out / "checkpoints", tmp_path / "checkpoints")
    results = bench.run(models="ae", noises="gaussian", datasets="digits", severities=[1], seeds=1,
                        families="augmentation", cnn_budget="converged", store=store)
    baseline = next(r for r in results.results() if r.cell["model"] == "baseline")
    assert baseline.cnn.baseline_source == "checkpoint" and baseline.cnn.baseline == 500


def test_tabular_data_gets_a_small_mlp_as_its_reference_classifier(tmp_path):
    results = bench.run(models="linear_dae", noises="gaussian", datasets="tabular", severities=[1], seeds=1,
                        families="downstream", store=tmp_path)
    (cell,) = results.results()
    values = {m["metric"]: m["value"] for m in cell.metrics}
    assert cell.status == "done" and values["clf_clean"] > 0.6  # well above chance on two classes


def test_a_dataset_with_one_class_has_the_downstream_family_not_applicable_with_the_reason():
    ctx = SimpleNamespace(classes=("only",), train_y=torch.zeros(5, dtype=torch.long),
                          cell=SimpleNamespace(dataset="flat"))
    found = DOWNSTREAM.score(ctx)
    assert [r.metric.name for r in found] == ["clf_clean", "clf_noisy", "clf_denoised", "clf_gain"]
    assert all(math.isnan(r.value) for r in found)
    assert "no labels to classify" in str(found[0].note) and "flat" in str(found[0].note)


def test_a_results_document_that_named_the_augmentation_family_downstream_imports_under_its_name(digits, tmp_path):
    from bench.document import import_document, read_document, write_document

    store = tmp_path / "v4.db"
    shutil.copy(Path(__file__).parent / "data" / "store_v4.db", store)  # has the augmentation family's results
    path = write_document(open_store(store), tmp_path / "results.json")
    raw = json.loads(path.read_text())
    for entry in raw["catalogue"]:  # as the bench of that time wrote it
        if entry["name"] == "augmentation":
            entry["name"] = "downstream"
    for cell in raw["cells"]:
        for m in cell.get("metrics") or []:
            m["family"] = "downstream" if m["family"] == "augmentation" else m["family"]
        families = cell.get("families") or {}
        if "augmentation" in families:
            families["downstream"] = families.pop("augmentation")
    path.write_text(json.dumps(raw))
    fresh = open_store(tmp_path / "fresh.db")
    import_document(read_document(path), fresh)
    cells = {r.cell["model"]: r for r in fresh.results()}
    assert "augmentation" in cells["baseline"].families and "downstream" not in cells["baseline"].families
    assert {m["family"] for m in cells["baseline"].metrics} == {"augmentation"}
    assert "augmentation" in fresh.catalogue() and "downstream" not in fresh.catalogue()


def test_cells_stored_before_the_quick_profile_converged_in_10_epochs_keep_counting_unless_they_depend_on_it():
    from bench.grid import key_of
    from bench.store import requalified

    old = {"profile": "quick", "cnn_budget": "converged", "profile_params": {"cnn_converged_epochs": 20}}
    moved = requalified(old, ["reconstruction", "latent", "likelihood"])
    assert moved["profile_params"]["cnn_converged_epochs"] == 10  # re-keyed: its results do not depend on it
    assert requalified(old, ["reconstruction", "augmentation"]) is old  # its augmented CNNs trained 20 epochs
    assert requalified({**old, "cnn_budget": "epochs"}, ["augmentation"])["profile_params"]["cnn_converged_epochs"] == 10
    assert requalified({**old, "profile": "paper"}, []) == {**old, "profile": "paper"}
    # today's quick cell and a re-keyed one of before share their key
    today = {"dataset": "digits", "dataset_name": "digits", "dataset_params": {}, "dataset_fingerprint": "f",
             "model_name": "ae", "model_params": {}, "noise_name": "gaussian", "noise_params": {}, "severity": 1,
             "seed": 0, "train_noise": False, "versions": {}, "profile": "quick", "cnn_budget": "converged",
             "profile_params": {"cnn_converged_epochs": 10, "train_size": 5000}}
    before = {**today, "profile_params": {"cnn_converged_epochs": 20, "train_size": 5000}}
    assert key_of(requalified(before, ["reconstruction"])) == key_of(today) != key_of(before)


@pytest.mark.parametrize("channels_last", [False, True], ids=["default layout", "channels-last"])
def test_the_reference_cnn_pools_before_its_second_relu_and_changes_no_number(channels_last):
    """The reference CNN runs its second ReLU after the max-pool (a quarter of the elements): its outputs and
    gradients are bit for bit those of the published order (conv, ReLU, conv, ReLU, pool), in both layouts."""
    from torch import nn
    from torch.nn import functional as F

    from bench.cnn import ReferenceCNN

    torch.manual_seed(0)
    ours = ReferenceCNN((1, 28, 28), 10)
    published = ReferenceCNN((1, 28, 28), 10)
    published.load_state_dict(ours.state_dict())  # the checkpoints of either order load into the other
    f = published.features
    published.features = nn.Sequential(f[0], f[1], f[2], nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
    assert [type(m).__name__ for m in ours.features] == ["Conv2d", "ReLU", "Conv2d", "MaxPool2d", "ReLU", "Flatten"]
    x, y = torch.rand(16, 1, 28, 28) - 0.3, torch.randint(0, 10, (16,))
    if channels_last:
        ours, published = ours.to(memory_format=torch.channels_last), published.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    a, b = ours(x), published(x)
    F.cross_entropy(a, y).backward()
    F.cross_entropy(b, y).backward()
    assert torch.equal(a, b)
    assert all(torch.equal(p.grad, q.grad) for p, q in zip(ours.parameters(), published.parameters()))
