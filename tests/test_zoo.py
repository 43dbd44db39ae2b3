"""Claims about the wider plugin zoo: convolutional, β and linear models, the tabular and MNIST
datasets, and grids that skip impossible model × dataset pairs with a reason."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch
from conftest import CHEAP_CNN, EVERY_FAMILY, FASHION_SYSTEM_DIR

from bench import cli
from bench.seeding import seed_everything
from bench.store import open_store
from bench.train import train
from plugins.datasets import mnist
from plugins.datasets.tabular import load_tabular
from registry import DatasetUnavailable, load_registry


@pytest.mark.parametrize("shape", [(1, 28, 28), (1, 8, 8), (3, 32, 32)])
@pytest.mark.parametrize("name", ["conv_ae", "conv_dae", "conv_vae"])
def test_conv_models_reconstruct_inputs_of_their_exact_shape(name, shape):
    spec = load_registry().spec("models", name)
    model = spec.factory(shape, **spec.resolve())
    x = torch.rand(3, *shape)
    assert model(x).shape == x.shape and model.encode(x).shape == (3, 16)
    assert 0 <= model(x).min() and model(x).max() <= 1


@pytest.mark.skipif(not (FASHION_SYSTEM_DIR / "train-images-idx3-ubyte.gz").exists(),
                    reason="Debian package dataset-fashion-mnist is not installed (CI installs it)")
@pytest.mark.parametrize("name", ["conv_ae", "conv_vae"])
def test_conv_models_train_and_reduce_their_loss_on_fashion_mnist(name, tmp_path):
    from plugins.datasets.fashion_mnist import load_fashion_mnist

    x = load_fashion_mnist(tmp_path).train_x[:1000]
    spec = load_registry().spec("models", name)
    seed_everything(0)
    history = train(spec.factory((1, 28, 28), **spec.resolve()), x, epochs=3, batch_size=128, lr=spec.lr)
    assert history[-1] < 0.85 * history[0]


def test_beta_weighs_the_kl_term():
    spec = load_registry().spec("models", "beta_vae")
    assert spec.resolve()["beta"] == 4.0
    x = torch.rand(16, 1, 8, 8)
    losses = []
    for beta in (0.0, 4.0):
        torch.manual_seed(0)
        model = spec.factory((1, 8, 8), **spec.resolve({"beta": beta}))
        torch.manual_seed(1)
        losses.append(model.loss(x, x).item())
    assert losses[1] > losses[0]


def test_linear_dae_is_one_layer_each_way_with_an_8_unit_code():
    spec = load_registry().spec("models", "linear_dae")
    model = spec.factory((20,), **spec.resolve())
    assert model.encode(torch.rand(5, 20)).shape == (5, 8)
    assert sum(p.numel() for p in model.parameters()) == 20 * 8 + 8 + 8 * 20 + 20
    assert spec.denoising and spec.epochs == 50 and spec.inputs == ("vector",)


def test_tabular_is_1000_by_20_two_classes_scaled_to_the_unit_range():
    data = load_tabular(None)
    assert data.train_x.shape == (750, 20) and data.test_x.shape == (250, 20)
    assert data.train_x.min() == 0 and data.train_x.max() == 1
    assert 0 <= data.test_x.min() and data.test_x.max() <= 1
    assert set(data.train_y.tolist()) == {0, 1}


def test_missing_mnist_without_network_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_OFFLINE", "1")
    with pytest.raises(DatasetUnavailable, match=r"MNIST files not found in .*MNIST/raw.*BENCH_OFFLINE is set"):
        mnist.load_mnist(tmp_path)


def test_a_grid_skips_impossible_pairs_with_reasons_and_runs_the_rest(tmp_path):
    code = cli.main(["run", *CHEAP_CNN, "--datasets", "tabular,digits", "--models", "conv_ae,linear_dae,ae",
                     "--noise", "gaussian", "--severities", "2", "--out", str(tmp_path), "--quiet"])
    assert code == 0
    results = pd.read_csv(tmp_path / "results.csv")
    status = results.drop_duplicates("cell").set_index(["dataset", "model"])["status"]
    assert status[("tabular", "conv_ae")] == "skipped" and status[("digits", "linear_dae")] == "skipped"
    assert status[("tabular", "linear_dae")] == "done" and status[("digits", "conv_ae")] == "done"
    assert status[("tabular", "ae")] == "done" and status[("tabular", "baseline")] == "skipped"
    markdown = (tmp_path / "leaderboard.md").read_text()
    assert "model 'conv_ae' takes image inputs; dataset 'tabular' has vectors" in markdown
    tab = results[(results.dataset == "tabular") & (results.model == "linear_dae")].set_index("metric")
    assert tab.loc["ssim", "note"] == "not applicable: the inputs are vectors, not images"
    assert not math.isnan(tab.loc["psnr", "value"]) and not math.isnan(tab.loc["knn_acc", "value"])


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--models", "beta_vae:bta=4"], "model 'beta_vae' has no parameter 'bta'. Allowed: latent_dim, hidden, beta."),
        (["--models", "beta_vae:beta=-1"],
         "The 'beta' parameter of model 'beta_vae' must be a float in [0, 1000]. Got '-1' instead."),
        (["--noise", "gaussian:sigma=abc"],
         "The 'sigma' parameter of noise 'gaussian' must be a float in [0, 10]. Got 'abc' instead."),
        (["--noise", "gaussian:sigma"], "bad noise parameter 'sigma' in 'gaussian:sigma': write NAME:KEY=VALUE"),
        (["--models", "vae:latent_dim=2.5"], "The 'latent_dim' parameter of model 'vae' must be an int in [1, 4096]. Got '2.5'"),
    ],
)
def test_the_parameter_syntax_rejects_unknown_keys_and_out_of_range_values(args, expected, tmp_path, capsys):
    code = cli.main(["run", "--datasets", "digits", "--out", str(tmp_path), *args])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and expected in err, err
    assert not (tmp_path / "results.db").exists()


def test_parameters_select_variants_and_a_native_noise_value_runs_once_at_severity_zero(tmp_path):
    code = cli.main(["run", *CHEAP_CNN, "--datasets", "digits", "--models", "beta_vae:beta=1,beta_vae:beta=8",
                     "--noise", "gaussian:sigma=0.3,erasing:value=1", "--severities", "2", "--out", str(tmp_path),
                     "--quiet"])
    assert code == 0
    results = pd.read_csv(tmp_path / "results.csv").drop_duplicates("key")
    models = results[results.model != "baseline"]
    assert sorted(models["model"].unique()) == ["beta_vae:beta=1", "beta_vae:beta=8"]
    gaussian = models[models.noise == "gaussian:sigma=0.3"]
    assert set(gaussian["severity"]) == {0} and set(gaussian["noise_params"]) == {'{"sigma": 0.3}'}
    erasing = models[models.noise == "erasing:value=1"]
    assert set(erasing["severity"]) == {2} and all('"value": 1.0' in p for p in erasing["noise_params"])
    assert set(models["model_params"]) == {'{"beta": 1.0, "hidden": 128, "latent_dim": 4}',
                                           '{"beta": 8.0, "hidden": 128, "latent_dim": 4}'}


def test_train_noise_corrupts_the_training_set_and_labels_the_rows(tmp_path):
    common = ["run", *EVERY_FAMILY, "--datasets", "digits", "--models", "ae", "--noise", "gaussian", "--severities", "5",
              "--out", str(tmp_path), "--quiet"]
    assert cli.main(common) == 0
    assert cli.main([*common, "--train-noise"]) == 0
    records = open_store(tmp_path).records()
    trained = {r["cell"]["model"]: r for r in records if r["cell"]["model"] != "baseline"}
    assert set(trained) == {"ae", "ae@noisy-train"}
    assert trained["ae@noisy-train"]["cell"]["train_noise"] is True
    # noisy targets cannot be fitted as well as clean ones
    assert trained["ae@noisy-train"]["train"]["loss"][-1] > 1.2 * trained["ae"]["train"]["loss"][-1]
    board = pd.read_csv(tmp_path / "leaderboard.csv")
    assert {"ae", "ae@noisy-train", "baseline"} == set(board["model"])
    # the report says whether the samples inherit the noise: FID against the noisy and the clean test images
    noisy_train = board.set_index("model").loc["ae@noisy-train"]
    assert noisy_train["fid_aug_noisy"] > 0 and noisy_train["fid_aug"] > 0
    assert pd.isna(board.set_index("model").loc["ae", "fid_aug_noisy"])
    verdict = (tmp_path / "leaderboard.md").read_text()
    assert "augmentation samples of ae@noisy-train: fid_aug_noisy" in verdict and "(one seed: not tested" in verdict
