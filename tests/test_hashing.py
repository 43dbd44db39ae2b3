"""Identities derived from content keep their values: a store, a checkpoint directory or a seed written by
an earlier version is found again by this one."""

import pytest
import torch

from bench.checkpoints import training_key
from bench.data import Dataset, LoadedDataset
from bench.evaluator import per_item
from bench.grid import Cell
from bench.hashing import content_hash
from bench.profiles import get_profile
from bench.seeding import derive_seed


def _cell(profile):
    return Cell(dataset="digits", model="vae", noise="gaussian", severity=3, seed=1, profile=profile,
                model_params={"latent_dim": 4, "hidden": 128}, noise_params={"sigma": 0.25},
                versions={"bench": "0.1.0"}, dataset_fingerprint="abc123")


def test_a_cell_key_is_stable_for_one_profile():
    # the key hashes what of the profile decides results: leaving its prose out changed every key once
    # (9e6a6ef77b40a28839cc before; the store's schema 5 re-keys stored cells), and so did the quick profile's
    # CNNs converging in 10 epochs instead of 20 (271d53a18717f8f0def2 before; schema 7 re-keys the cells whose
    # families do not depend on it); this pins the value so that an accidental change fails
    assert _cell(get_profile("quick")).key == "d6ba34aab0498878f5f4"


def test_one_space_more_in_a_profiles_summary_or_other_default_families_leave_every_key_as_it_was():
    from dataclasses import replace

    quick = get_profile("quick")
    assert _cell(replace(quick, summary=quick.summary + " ")).key == _cell(quick).key
    assert _cell(replace(quick, families=("reconstruction",))).key == _cell(quick).key
    assert _cell(replace(quick, train_size=quick.train_size + 1)).key != _cell(quick).key


def test_a_checkpoint_key_and_a_derived_seed_are_the_ones_earlier_versions_used():
    assert training_key(model=["vae", {"latent_dim": 4}], seed=1) == "f4c5ae4e8edf2590c748c316"
    assert derive_seed(7, "augment") == 9043644956624636051


def test_a_dataset_fingerprint_is_the_one_earlier_versions_computed():
    x = (torch.arange(12, dtype=torch.float32) / 12).reshape(3, 1, 2, 2)
    data = Dataset(x, torch.arange(3), x, torch.arange(3), ("a", "b", "c"))
    assert LoadedDataset.of("t", data).fingerprint == "dcce557887e1491542ac744b"
    changed = Dataset(x, torch.arange(3), x.flip(0), torch.arange(3), ("a", "b", "c"))
    assert LoadedDataset.of("t", changed).fingerprint != "dcce557887e1491542ac744b"


def test_a_per_item_vector_id_is_the_one_earlier_versions_stored():
    from bench.metrics.metric import Metric, MetricResult

    metric = Metric("mse", "reconstruction", higher_is_better=False, unit="", summary="", test="paired_t")
    vector = per_item([MetricResult(metric, 0.1, float("nan"), 10, per_item=torch.zeros(10))], "split")
    assert vector["mse"]["items_id"] == "d06afe5a1ea62788"


def test_content_hash_reads_arrays_in_place_and_refuses_odd_lengths():
    import numpy as np

    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert content_hash([a], chars=16) == content_hash([a.tobytes()], chars=16)
    assert content_hash([a.T], chars=16) == content_hash([np.ascontiguousarray(a.T).tobytes()], chars=16)
    with pytest.raises(ValueError, match="even number"):
        content_hash(["x"], chars=5)
