"""Claims about the latent, augmentation and likelihood families and the figures, on data where the
answer is known, and end to end on digits."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import CHEAP_CNN, EVERY_FAMILY, add_site, make_distribution

from bench import augmentation, cli, figures
from bench.metrics.latent import active_units, score_latent
from bench.metrics.likelihood import iw_nll, neg_elbo, score_likelihood
from bench.outcome import NotApplicable
from bench.seeding import seed_everything
from bench.train import train
from plugins.datasets.digits import load_digits
from registry.models import MLPVAE, MLPAutoencoder


def by_name(results):
    return {r.metric.name: r for r in results}


def clusters(n_per_class: int, classes: int, spread: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 10, (classes, 4))
    labels = np.repeat(np.arange(classes), n_per_class)
    return centres[labels] + rng.normal(0, spread, (len(labels), 4)), labels


def test_perfectly_separated_clusters_score_perfectly():
    train_codes, train_y = clusters(100, 5, 0.01, seed=0)
    test_codes, test_y = clusters(50, 5, 0.01, seed=0)
    s = by_name(score_latent(train_codes, train_y, test_codes, test_y))
    assert s["knn_acc"].value == 1.0 and s["probe_acc"].value == 1.0
    assert s["silhouette"].value > 0.95
    assert s["kmeans_nmi"].value == pytest.approx(1.0)
    assert s["davies_bouldin"].value < 0.05


def test_random_labels_score_near_chance():
    rng = np.random.default_rng(1)
    codes, labels = rng.normal(size=(4000, 4)), rng.integers(0, 10, 4000)
    s = by_name(score_latent(codes[:2000], labels[:2000], codes[2000:], labels[2000:]))
    assert s["knn_acc"].value == pytest.approx(0.1, abs=0.04)
    assert s["probe_acc"].value == pytest.approx(0.1, abs=0.04)
    assert abs(s["silhouette"].value) < 0.1
    assert s["kmeans_nmi"].value < 0.05


def test_nan_codes_make_every_latent_metric_not_applicable_with_the_reason():
    codes, labels = clusters(20, 3, 1.0)
    bad = codes.copy()
    bad[0, 0] = np.nan
    results = score_latent(codes, labels, bad, labels, noisy=True)
    assert {r.metric.name for r in results} >= {"knn_acc_noisy", "probe_acc_noisy"}
    assert all(np.isnan(r.value) and r.note == NotApplicable("codes contain NaN or inf") for r in results)


def test_a_class_with_one_sample_makes_davies_bouldin_not_applicable_and_the_rest_still_run():
    codes, labels = clusters(20, 3, 1.0)
    test_codes, test_y = np.vstack([codes, codes[:1] + 5]), np.append(labels, 7)
    s = by_name(score_latent(codes, labels, test_codes, test_y))
    assert str(s["davies_bouldin"].note) == "not applicable: class 7 has a single test sample"
    assert 0 <= s["knn_acc"].value <= 1 and not np.isnan(s["silhouette"].value)


def test_active_units_count_the_dimensions_that_vary_across_inputs():
    rng = np.random.default_rng(0)
    codes = np.column_stack([rng.normal(0, 1, 500), rng.normal(0, 0.01, 500), rng.normal(0, 0.5, 500)])
    assert active_units(codes).value == 2


def test_a_one_dimensional_latent_gets_its_figures_marked_not_applicable_in_the_leaderboard(tmp_path):
    # model parameters on the command line arrive with the selection syntax; drive the driver directly
    from bench.data import load
    from bench.driver import drive
    from bench.executors import ExecutorSpec
    from bench.grid import plan
    from bench.profiles import get_profile
    from bench.progress import Progress
    from bench.store import Store
    from registry import load_registry
    from reports import write_reports

    registry = load_registry()
    data = {"digits": load(registry.spec("datasets", "digits"))}
    cells = plan(registry, datasets=["digits"], models=[("ae", {})], noises=[("gaussian", {})], severities=[1], seeds=[0],
                 profile=get_profile("quick"), loaded=data, families=("reconstruction", "latent"))
    cells = [c if c.model == "baseline" else dataclasses.replace(c, model_params={"latent_dim": 1, "hidden": 128})
             for c in cells]
    store = Store(tmp_path / "results.db")
    drive(ExecutorSpec("local"), cells, store, registry=registry, datasets=data, rerun=None, run_id=None,
          progress=Progress(quiet=True), device="cpu", threads=1)
    record = next(r for r in store.records() if "latent" in r["families"])
    assert record["status"] == "done"
    assert record["figures"]["tsne"] == "not applicable: t-SNE needs codes of at least 2 dimensions, the model has 1"
    write_reports(store, tmp_path)
    markdown = (tmp_path / "leaderboard.md").read_text()
    assert "## Figures not drawn" in markdown and "t-SNE needs codes of at least 2 dimensions" in markdown


def test_tsne_and_traversal_say_why_they_do_not_apply_to_one_dimensional_codes():
    codes, labels = np.random.default_rng(0).normal(size=(50, 1)), np.zeros(50, dtype=int)
    with pytest.raises(figures.NotApplicable, match="at least 2 dimensions"):
        figures.tsne_png(codes, labels, ("a",), title="t", seed=0)
    with pytest.raises(figures.NotApplicable, match="needs 2 latent dimensions"):
        figures.traversal_png(MLPAutoencoder((1, 8, 8), latent_dim=1), codes, (1, 8, 8), title="t")


def test_traversal_and_tsne_produce_png_images():
    codes, labels = clusters(30, 3, 1.0)
    model = MLPAutoencoder((1, 8, 8))
    for png in (figures.tsne_png(codes, labels, ("a", "b", "c"), title="t", seed=0),
                figures.traversal_png(model, codes.astype(np.float32), (1, 8, 8), title="t")):
        assert png.startswith(b"\x89PNG")


def test_augmentation_returns_k_samples_per_image_with_their_labels():
    x, y = torch.rand(30, 1, 8, 8), torch.arange(30) % 10
    calls = []

    def corrupt(batch):
        calls.append(len(batch))
        return batch

    for model in (MLPVAE((1, 8, 8)), MLPAutoencoder((1, 8, 8))):
        calls.clear()
        gen_x, gen_y = augmentation.augment(model, x, y, k=2, corrupt=corrupt, generates=isinstance(model, MLPVAE))
        assert gen_x.shape == (60, 1, 8, 8) and gen_x.min() >= 0 and gen_x.max() <= 1
        assert torch.equal(gen_y, torch.cat([y, y]))
        # a VAE samples from its posterior; an autoencoder reconstructs freshly corrupted copies
        assert calls == ([] if isinstance(model, MLPVAE) else [30, 30])
    vae = MLPVAE((1, 8, 8))
    a, _ = augmentation.augment(vae, x, y, k=2, corrupt=corrupt, generates=True)
    assert not torch.equal(a[:30], a[30:])  # two different samples per image


@pytest.fixture(scope="module")
def trained_vae():
    data = load_digits(None)
    seed_everything(0)
    vae = MLPVAE((1, 8, 8))
    train(vae, data.train_x, epochs=30, batch_size=64, lr=1e-3)
    return vae, data.test_x


def test_importance_weighting_tightens_the_elbo(trained_vae):
    vae, x = trained_vae
    torch.manual_seed(0)
    elbo = neg_elbo(vae, x).mean().item()
    one = iw_nll(vae, x, k=1).mean().item()
    many = iw_nll(vae, x, k=200).mean().item()
    assert one == pytest.approx(elbo, rel=0.02)  # k=1 is the ELBO itself
    assert many < elbo - 0.05  # more samples: a tighter bound on -log p(x)
    assert many > 0


def test_likelihood_is_not_applicable_to_a_deterministic_autoencoder():
    results = score_likelihood(MLPAutoencoder((1, 8, 8)), torch.rand(10, 1, 8, 8), k=5, subset=10, posterior=False)
    assert all(r.note.reason.startswith("the model declares no Gaussian posterior") for r in results)


def test_likelihood_metrics_apply_only_to_a_declared_bernoulli_decoder():
    vae, x = MLPVAE((1, 8, 8)), torch.rand(10, 1, 8, 8)
    for declared in ("gaussian", None):
        results = score_likelihood(vae, x, k=5, subset=10, likelihood=declared)
        assert all(isinstance(r.note, NotApplicable) and r.n == 0 for r in results)
    assert all(r.n == 10 for r in score_likelihood(vae, x, k=5, subset=10, likelihood="bernoulli"))


def test_the_baseline_cnn_is_trained_once_per_dataset_and_seed_for_a_grid_of_models(tmp_path, monkeypatch):
    sizes = []
    real = augmentation.train_cnn

    def counting(x, y, classes, **budget):
        sizes.append(len(x))
        return real(x, y, classes, **budget)

    monkeypatch.setattr(augmentation, "train_cnn", counting)
    # the families that train CNNs (the generative one's on synthetic images must not train the baseline again)
    code = cli.main(["run", *EVERY_FAMILY, "--families", "reconstruction,augmentation,generative", "--datasets", "digits",
                     "--models", "ae,vae,dvae", "--noise", "gaussian,erasing", "--severities", "2", "--executor", "local",
                     "--out", str(tmp_path), "--quiet"])
    assert code == 0
    assert sizes.count(1347) == 1  # the baseline: the training split alone
    # augmented: ae per noise (it reconstructs corrupted copies), vae once, dvae per cell
    assert sizes.count(1347 * 3) == 2 + 1 + 2
    board = pd.read_csv(tmp_path / "leaderboard.csv")
    base = board[board.model == "baseline"]
    assert len(base) == 2 and (base["rel_ce"] == 1.0).all()
    assert base["acc_clean"].nunique() == 1  # one CNN behind every baseline row
    markdown = (tmp_path / "leaderboard.md").read_text()
    matched = markdown.split("## digits · every noise · acc_noisy ↑ by noise at matched severity")[1]
    assert "| severity   | model    | erasing   | gaussian   |" in matched.splitlines()[2]


NO_GENERATION = '''
from registry import ModelSpec, hookimpl
from registry.models import MLPAutoencoder


@hookimpl
def bench_models():
    return [ModelSpec("codes_only", MLPAutoencoder, "an encoder that cannot generate", generative=False,
                      epochs=2)]
'''


def test_a_model_that_cannot_generate_has_augmentation_not_applicable_and_the_rest_of_the_suite(tmp_path, monkeypatch):
    add_site(make_distribution(tmp_path / "site", "bench-codes", "0.1", "bench_codes", NO_GENERATION), monkeypatch)
    out = tmp_path / "out"
    assert cli.main(["run", *CHEAP_CNN, "--datasets", "digits", "--models", "codes_only", "--noise", "gaussian",
                     "--severities", "2", "--out", str(out), "--quiet"]) == 0
    results = pd.read_csv(out / "results.csv")
    mine = results[results.model == "codes_only"].set_index("metric")
    assert mine.loc["acc_clean", "note"] == "not applicable: model 'codes_only' cannot generate samples (its spec says so)"
    assert np.isnan(mine.loc["acc_clean", "value"])
    assert mine.loc[["psnr", "knn_acc", "probe_acc"], "value"].notna().all()
    assert "n/a for `codes_only`" in (out / "leaderboard.md").read_text()


def test_the_full_suite_on_digits_writes_every_family_and_three_figures_per_cell(tmp_path):
    code = cli.main(["run", *CHEAP_CNN, "--datasets", "digits", "--models", "vae,dae", "--noise", "gaussian",
                     "--severities", "3", "--out", str(tmp_path), "--quiet"])
    assert code == 0
    markdown = (tmp_path / "leaderboard.md").read_text()
    for family in ("reconstruction", "latent separability", "likelihood (VAEs)", "augmentation"):
        assert f"## digits · gaussian · {family}" in markdown
    board = pd.read_csv(tmp_path / "leaderboard.csv").set_index("model")
    assert board.loc["vae", "iw_nll"] <= board.loc["vae", "neg_elbo"]
    assert 0 < board.loc["baseline", "acc_clean"] <= 1
    for model in ("vae", "dae"):
        for kind in ("tsne", "traversal", "accuracy"):
            # the cheap equal-epochs protocol tags the figures of the family that trains CNNs under it
            tag = "_cnn-epochs" if kind == "accuracy" else ""
            assert (tmp_path / "figures" / f"digits_{model}_gaussian_s3_seed0{tag}_{kind}.png").read_bytes()[:4] \
                == b"\x89PNG"
    assert (tmp_path / "figures" / "digits_gaussian_cnn-epochs_accuracy.png").exists()
