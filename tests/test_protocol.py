"""Claims about the downstream protocol: under the converged protocol (the default) every CNN takes the
epochs of its own training set and the minimum steps, and the CNNs of a seed start from the same weights;
under the compute-matched budget every CNN of a comparison takes the same optimizer steps; the equal-epochs
budget is the protocol as published before; the budget and
the precision are checked, recorded and part of the cell key."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
import torch
from torch.nn import functional as F

from bench import augmentation, cli, cnn, features, precision
from bench.cnn import ReferenceCNN, cosine_lr, train_classifier
from bench.data import load
from bench.precision import bf16_supported
from bench.profiles import PROFILES, get_profile
from bench.store import open_store
from bench.train import adam
from registry import load_registry

DIGITS_TRAIN = 1347  # scikit-learn's digits, less the test quarter


@pytest.fixture
def counted_steps(monkeypatch):
    """Every CNN optimizer of the grid built during the test, as [steps taken, learning rates used] (the
    generative family's feature network, trained once per dataset and cached, is trained before counting)."""
    loaded = load(load_registry().spec("datasets", "digits"))
    features.domain_features(loaded.data, "digits", loaded.fingerprint, device=torch.device("cpu"))
    built: list[list] = []
    real = cnn.adam

    def counting(params, lr):
        optimizer = real(params, lr)
        record = [0, [], torch.cat([p.detach().flatten().clone() for p in params])]
        built.append(record)
        step = optimizer.step

        def counted_step():
            record[0] += 1
            record[1].append(optimizer.lr if hasattr(optimizer, "lr") else optimizer.param_groups[0]["lr"])
            step()

        optimizer.step = counted_step
        return optimizer

    monkeypatch.setattr(cnn, "adam", counting)
    return built


def _run(tmp_path, *extra: str) -> int:
    """A digits grid of the families that train CNNs under the run's protocol (and the cheap ones), one seed."""
    return cli.main(["run", "--seeds", "1", "--families", "reconstruction,latent,likelihood,augmentation,generative",
                     "--datasets", "digits", "--models", "ae,vae",
                     "--noise", "gaussian", "--severities", "2", "--executor", "local", "--format", "csv", "--out",
                     str(tmp_path), "--quiet", *extra])


def test_the_compute_matched_baseline_takes_exactly_as_many_optimizer_steps_as_each_augmented_and_synthetic_cnn(
        tmp_path, counted_steps):
    assert _run(tmp_path, "--cnn-budget", "steps") == 0
    expected = get_profile("quick").with_protocol(cnn_budget="steps").cnn_steps(DIGITS_TRAIN)
    # the baseline; ae's and vae's augmented CNNs (3x the images each) and their train-on-synthetic CNNs (2x)
    assert len(counted_steps) == 5
    assert [steps for steps, _, _ in counted_steps] == [expected] * 5
    for _, rates, _ in counted_steps:  # decaying to zero: final weights do not depend on where noise left them
        assert rates[0] == pytest.approx(get_profile("quick").cnn_lr) and rates[-1] < 1e-3 * rates[0]
        assert all(a >= b for a, b in zip(rates, rates[1:]))
    records = {r["cell"]["model"]: r for r in open_store(tmp_path).records()}
    assert records["vae"]["cnn_steps"] == {"augmented": expected, "baseline": expected}
    assert records["baseline"]["cnn_steps"] == {"baseline": expected}


def test_the_converged_protocol_gives_every_cnn_its_own_epochs_and_the_minimum_steps_from_shared_initial_weights(
        tmp_path, counted_steps, monkeypatch):
    quick = get_profile("quick")
    assert quick.cnn_budget == "converged"  # the default protocol
    assert quick.cnn_steps(250) == quick.cnn_min_steps == 500  # small subsets get the minimum
    # without the minimum, which binds for every CNN on digits, each budget shows
    monkeypatch.setitem(PROFILES, "quick", dataclasses.replace(quick, cnn_min_steps=0))
    assert _run(tmp_path, "--models", "vae") == 0
    own = {n: quick.cnn_converged_epochs * -(-n // 128) for n in (DIGITS_TRAIN, 3 * DIGITS_TRAIN, 2 * DIGITS_TRAIN)}
    # the baseline; vae's augmented CNN (3x the images) and train-on-synthetic CNN (2x): more images, more steps
    assert sorted(steps for steps, _, _ in counted_steps) == sorted(own.values())
    assert own[DIGITS_TRAIN] < own[2 * DIGITS_TRAIN] < own[3 * DIGITS_TRAIN]
    # the paper profile's 20 epochs give the augmented CNN more than the baseline even with the minimum
    paper = get_profile("paper")
    assert paper.cnn_steps(DIGITS_TRAIN, 3 * DIGITS_TRAIN) > paper.cnn_steps(DIGITS_TRAIN, DIGITS_TRAIN)
    first = counted_steps[0][2]
    assert all(torch.equal(first, weights) for _, _, weights in counted_steps)  # common random numbers
    records = {r["cell"]["model"]: r for r in open_store(tmp_path).records()}
    assert records["vae"]["cnn_steps"] == {"augmented": own[3 * DIGITS_TRAIN], "baseline": own[DIGITS_TRAIN]}
    # the subset is the whole training split: no validation images outside it, and the record says so
    assert records["vae"]["cnn_validation"] == {"images": 0}
    board = pd.read_csv(tmp_path / "leaderboard.csv")
    assert set(board["cnn_budget"]) == {"converged"}


def test_equal_epochs_gives_augmented_cnns_1_plus_k_times_the_baseline_steps_and_each_cnn_records_its_validation_accuracy(
        tmp_path, counted_steps):
    size = 1000  # a subset: the training split outside it gives the validation images
    assert _run(tmp_path, "--cnn-budget", "epochs", "--train-sizes", str(size)) == 0
    baseline, augmented = -(-size // 128), -(-3 * size // 128)  # an epoch of 1 + k = 3 times the images
    synthetic = -(-2 * size // 128)  # train on synthetic: an epoch of the k = 2 samples per image alone
    assert sorted(steps for steps, _, _ in counted_steps) == [baseline, synthetic, synthetic, augmented, augmented]
    assert all(set(rates) == {1e-3} for _, rates, _ in counted_steps)
    board = pd.read_csv(tmp_path / "leaderboard.csv")
    assert set(board["cnn_budget"]) == {"epochs"}

    records = {r["cell"]["model"]: r for r in open_store(tmp_path).records()}  # every protocol records it
    found = records["vae"]["cnn_validation"]
    assert found["images"] == DIGITS_TRAIN - size  # the training split outside the subset, never the test set
    assert 0 <= found["baseline"] <= 1 and 0 <= found["augmented"] <= 1  # one epoch: far from converged
    assert records["baseline"]["cnn_validation"]["baseline"] == found["baseline"]


def _published_train_classifier(model, x, y, *, epochs, batch_size, lr=1e-3):
    """The reference CNN's training loop before the compute-matched protocol existed (bench 0.1, commit
    745eef6), kept here verbatim as the definition of the equal-epochs protocol."""
    optimizer = adam([p for p in model.parameters() if p.requires_grad], lr)
    n = len(x)
    history = []
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(n, device=x.device)
        total = torch.zeros((), device=x.device)
        for start in range(0, n, batch_size):
            idx = perm[start : start + batch_size]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach() * len(idx)
        history.append((total / n).item())
    model.eval()
    return history


def test_the_equal_epochs_budget_reproduces_the_published_protocol_bit_for_bit():
    x, y = torch.rand(300, 1, 8, 8), torch.randint(0, 10, (300,))
    profile = get_profile("quick").with_protocol(cnn_budget="epochs")
    profile = dataclasses.replace(profile, cnn_epochs=2)
    torch.manual_seed(3)
    ours, fit = augmentation.train_cnn(x, y, 10, profile=profile, baseline_size=100)
    torch.manual_seed(3)
    published = ReferenceCNN((1, 8, 8), 10)
    history = _published_train_classifier(published, x, y, epochs=2, batch_size=128)
    assert fit.history == history and fit.steps == 2 * 3
    assert all(torch.equal(a, b) for a, b in zip(ours.state_dict().values(), published.state_dict().values()))


def test_a_compute_matched_cnn_takes_its_steps_whatever_the_size_of_its_training_set():
    for n in (100, 300, 1000):
        x, y = torch.rand(n, 1, 8, 8), torch.randint(0, 10, (n,))
        assert train_classifier(ReferenceCNN((1, 8, 8), 10), x, y, batch_size=128, steps=17).steps == 17
    assert cosine_lr(2e-3, 0, 10) == 2e-3 and cosine_lr(2e-3, 9, 10) < 1e-4


def test_the_budget_and_precision_are_part_of_the_cell_key_and_of_every_leaderboard_row(tmp_path):
    assert _run(tmp_path, "--models", "vae", "--cnn-budget", "steps,epochs") == 0
    records = open_store(tmp_path).records()
    keys = {(r["cell"]["model"], r["cell"]["cnn_budget"]): r["cell"]["key"] for r in records}
    assert keys[("vae", "steps")] != keys[("vae", "epochs")]
    trained = {r["cell"]["cnn_budget"]: (r.get("train") or {}).get("checkpoint") for r in records
               if r["cell"]["model"] == "vae"}
    assert trained["steps"] == trained["epochs"]  # one autoencoder serves both protocols
    board = pd.read_csv(tmp_path / "leaderboard.csv")
    assert sorted(board["cnn_budget"]) == ["epochs", "epochs", "steps", "steps"]
    assert set(board["precision"]) == {"fp32"}


@pytest.mark.parametrize("args, expected", [
    (["--cnn-budget", "flops"], "--cnn-budget takes converged, steps, epochs, or several separated by commas. "
                                "Got 'flops'"),
    (["--precision", "fp16"], "--precision takes one of fp32, bf16, auto. Got 'fp16' instead."),
])
def test_an_unknown_budget_or_precision_is_one_line_and_exit_2(args, expected, tmp_path, capsys):
    assert _run(tmp_path, *args) == 2
    err = capsys.readouterr().err
    assert err.startswith("bench: error: ") and expected in err and err.count("\n") == 1
    assert not (tmp_path / "results.db").exists()


def test_bf16_on_a_cpu_without_bfloat16_arithmetic_is_refused_naming_the_device(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(precision, "_cpu_has_bf16", lambda: False)  # an AVX2-only CPU, whatever this one is
    assert _run(tmp_path, "--precision", "bf16") == 2
    err = capsys.readouterr().err
    assert err.startswith("bench: error: --precision bf16: the CPU '") and "(cpu) has no native bfloat16" in err
    assert err.count("\n") == 1 and not (tmp_path / "results.db").exists()


@pytest.mark.parametrize("native", [True, False], ids=["bfloat16 CPU", "AVX2-only CPU"])
def test_auto_precision_runs_bf16_where_the_cpu_has_it_and_fp32_elsewhere(native, monkeypatch, tmp_path):
    monkeypatch.setattr(precision, "_cpu_has_bf16", lambda: native)
    assert precision.resolve_precision("auto", "cpu") == ("bf16" if native else "fp32")
    assert precision.resolve_precision("fp32", "cpu") == "fp32"
    assert precision.resolve_precision("auto", "cpu") == ("bf16" if bf16_supported("cpu") else "fp32")
    from bench.api import prepare

    plan = prepare("ae", "gaussian", "digits", severities=[1], seeds=1, precision="auto", store=tmp_path)
    assert {cell.profile.precision for cell in plan.cells} == {"bf16" if native else "fp32"}  # what the cells ran at


def test_bf16_training_runs_under_autocast_with_channels_last_and_predicts():
    x, y = torch.rand(64, 1, 8, 8), torch.randint(0, 10, (64,))
    model = ReferenceCNN((1, 8, 8), 10)
    fit = train_classifier(model, x, y, batch_size=32, steps=3, precision="bf16")
    assert fit.steps == 3 and all(map(torch.isfinite, map(torch.tensor, fit.history)))
    assert model.features[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert cnn.predict(model, x, precision="bf16").shape == (64,)
