"""Claims about the generative family: its metrics on constructed distributions, the domain feature network,
and what a run reports for each kind of model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import EVERY_FAMILY

from bench import cli, features
from bench.metrics import generative
from bench.metrics.generative import fid, kid, prdc, score_generative
from plugins.datasets.digits import load_digits


@pytest.fixture(scope="module")
def digits_data(tmp_path_factory):
    return load_digits(tmp_path_factory.mktemp("digits")), tmp_path_factory.mktemp("features")


@pytest.fixture(scope="module")
def digits_features(digits_data):
    data, directory = digits_data
    space = features.domain_features(data, "digits", "test", device=torch.device("cpu"), directory=directory)
    x, y = torch.cat([data.train_x, data.test_x]), torch.cat([data.train_y, data.test_y])
    return space, space(x), y


def test_a_cell_that_finds_the_feature_network_in_training_elsewhere_goes_on_instead_of_waiting(digits_data,
                                                                                              digits_features):
    from bench.checkpoints import Checkpoints

    data, directory = digits_data
    cpu = torch.device("cpu")
    with Checkpoints(directory).lock(features.feature_key("digits", "test")):  # another worker is training it
        assert features.domain_features(data, "digits", "test", device=cpu, directory=directory, wait=False) is None
    loaded = features.domain_features(data, "digits", "test", device=cpu, directory=directory, wait=False)
    assert loaded.source == "checkpoint" and loaded.test_accuracy == digits_features[0].test_accuracy


def test_the_digits_feature_network_classifies_its_test_split_well(digits_features):
    space, feats, _ = digits_features
    assert space.source == "trained" and space.test_accuracy > 0.9
    assert feats.shape[1] == 128  # the penultimate layer of the reference CNN


def test_fid_of_two_disjoint_samples_of_one_class_is_near_zero_and_far_against_another_class(digits_features):
    _, feats, y = digits_features
    for c in (0, 1, 2):
        same = feats[y == c]
        n = len(same) // 2
        other = feats[y == (c + 1)][:n]
        within, across = fid(same[:n], same[n : 2 * n]), fid(same[:n], other)
        assert within < 0.02 * across, (c, within, across)


def test_fid_of_two_large_samples_of_one_gaussian_is_near_zero_and_a_unit_shift_gives_the_dimension():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(5000, 16, generator=g), torch.randn(5000, 16, generator=g)
    assert fid(a, b) < 0.1
    assert fid(a, b + 1) == pytest.approx(16, rel=0.05)  # |Δμ|² = 16, equal covariances


def test_kid_is_unbiased_on_small_sets_where_fid_is_not():
    torch.manual_seed(0)
    kids, fids = [], []
    for _ in range(300):
        p, q = torch.randn(50, 16), torch.randn(50, 16)  # one distribution: both distances are 0
        kids.append(kid(p, q, subsets=20)[0])
        fids.append(fid(p, q))
    kids, fids = np.array(kids), np.array(fids)
    se = kids.std() / np.sqrt(len(kids))
    assert abs(kids.mean()) < 3 * se
    assert fids.mean() > 20 * fids.std() / np.sqrt(len(fids))  # FID on 50 samples is far above 0


def test_a_subset_of_one_mode_has_precision_one_and_recall_and_coverage_of_that_mode_only():
    g = torch.Generator().manual_seed(0)
    modes = torch.zeros(1000, 8)
    modes[500:, 0] = 50.0  # two far-apart clusters of 500 real points
    real = torch.randn(1000, 8, generator=g) + modes
    fake = real[:250]  # half of the first cluster: every sample is real, the second mode is dropped
    found = {k: v.mean().item() for k, v in prdc(real, fake).items()}
    assert found["precision"] == 1.0
    assert 0.3 < found["recall"] <= 0.5 and found["coverage"] <= 0.5
    identical = {k: v.mean().item() for k, v in prdc(real, real).items()}
    assert identical["precision"] == identical["recall"] == identical["coverage"] == 1.0


@pytest.mark.parametrize("chunk", [generative.CHUNK, 128])  # in one block of real images, and in several
def test_precision_recall_density_and_coverage_equal_the_authors_implementation(chunk, monkeypatch):
    prdc_reference = pytest.importorskip("prdc")
    monkeypatch.setattr(generative, "CHUNK", chunk)
    g = torch.Generator().manual_seed(1)
    real, fake = torch.randn(600, 8, generator=g), torch.randn(500, 8, generator=g) * 1.3 + 0.2
    ours = {k: v.mean().item() for k, v in prdc(real, fake).items()}
    theirs = prdc_reference.compute_prdc(real.numpy(), fake.numpy(), nearest_k=5)
    assert ours == pytest.approx({k: float(v) for k, v in theirs.items()}, abs=1e-12)


def test_scores_keep_per_real_image_indicators_for_the_paired_test_and_kids_subset_spread_is_not_an_interval():
    g = torch.Generator().manual_seed(2)
    real, fake = torch.randn(400, 8, generator=g), torch.randn(400, 8, generator=g) + 0.3
    torch.manual_seed(0)
    found = {r.metric.name: r for r in score_generative(real, fake, "prior")}
    assert found["recall_prior"].per_item.shape == (400,) and found["coverage_prior"].per_item.shape == (400,)
    assert found["precision_prior"].per_item is None  # per generated sample: not paired between models
    assert np.isnan(found["kid_prior"].ci95) and np.isnan(found["fid_prior"].ci95)
    assert found["kid_prior_subset_sd"].value > 0 and found["kid_prior_subset_sd"].metric.detail
    with pytest.raises(ValueError, match="as many"):
        score_generative(real, fake[:300], "prior")


@pytest.fixture(scope="module")
def generative_runs(tmp_path_factory):
    """Two runs, on two stores, with an empty data cache: ae and vae at two severities, then dvae (trained at
    each severity); the feature network's training counted."""
    out, other = tmp_path_factory.mktemp("gen"), tmp_path_factory.mktemp("gen-other")
    trained = []
    original = features.train_classifier
    mp = pytest.MonkeyPatch()
    mp.setenv("BENCH_DATA", str(tmp_path_factory.mktemp("data-cache")))
    mp.setattr(features, "train_classifier", lambda *a, **k: trained.append(1) or original(*a, **k))
    try:
        # the generative family alone (its samples, feature network and CNNs on synthetic images are its own)
        common = [*EVERY_FAMILY, "--families", "generative", "--datasets", "digits", "--noise", "gaussian", "--executor",
                  "local", "--quiet"]
        assert cli.main(["run", "--models", "ae,vae", "--severities", "1,3", *common, "--out", str(out)]) == 0
        first = len(trained)
        assert cli.main(["run", "--models", "vae", "--severities", "1", *common, "--out", str(other)]) == 0
        assert cli.main(["run", "--models", "dvae", "--severities", "1,3", *common, "--out", str(out)]) == 0
    finally:
        mp.undo()
    return out, first, len(trained)


def test_the_feature_network_is_trained_once_and_reused_across_cells_runs_and_stores(generative_runs):
    out, first, total = generative_runs
    assert (first, total) == (1, 1)
    board = pd.read_csv(out / "leaderboard.csv")
    assert board["feature_acc"].dropna().nunique() == 1  # one network for every cell of the dataset


def test_a_run_reports_the_generative_family_with_prior_metrics_not_applicable_for_the_autoencoder(generative_runs):
    out, _, _ = generative_runs
    results = pd.read_csv(out / "results.csv")
    gen = results[results["family"] == "generative"].set_index(["model", "severity", "metric"])
    for metric in ("fid_prior", "kid_prior", "precision_prior", "recall_prior", "density_prior", "coverage_prior"):
        assert "no prior to sample" in gen.loc[("ae", 1, metric), "note"]
        assert np.isfinite(gen.loc[("vae", 1, metric), "value"]) and np.isfinite(gen.loc[("dvae", 3, metric), "value"])
    for model in ("ae", "vae", "dvae"):
        severity = 3
        for metric in ("fid_aug", "kid_aug", "recall_aug", "tstr_acc"):
            assert np.isfinite(gen.loc[(model, severity, metric), "value"]), (model, metric)
    # FID has no interval but keeps its sample size: it is biased in n, so rows compare at equal n only
    assert gen.loc[("vae", 1, "fid_prior"), "n"] == gen.loc[("vae", 1, "recall_prior"), "n"] > 0
    assert gen.loc[("ae", 3, "fid_aug"), "n"] == gen.loc[("dvae", 3, "fid_aug"), "n"] > 0
    # a VAE trained without noise makes one set of samples: the same numbers at every severity
    assert gen.loc[("vae", 1, "fid_prior"), "value"] == gen.loc[("vae", 3, "fid_prior"), "value"]
    assert gen.loc[("vae", 1, "tstr_acc"), "value"] == gen.loc[("vae", 3, "tstr_acc"), "value"]
    board = Path(out / "leaderboard.md").read_text()
    assert "generative quality (domain features)" in board and "tstr_acc" in board


def test_the_report_shows_prior_samples_per_model_and_how_a_denoising_models_samples_move_with_severity(
        generative_runs):
    out, _, _ = generative_runs
    page = (out / "report.html").read_text()
    assert "vae: samples from the prior, z ~ N(0, I) (seed 0)" in page  # one grid: the same samples at every severity
    assert "dvae: samples from the prior, z ~ N(0, I) (seed 0, trained on gaussian)" in page  # a row per severity
    assert "digits · ae: samples from the prior" not in page
    assert "digits · gaussian: generative quality (domain features) against severity" in page
