"""Claims about the noises and their calibration: each noise does what its definition says, and at
each severity every noise reaches the same PSNR of corrupted against clean input."""

from __future__ import annotations

import pytest
import torch
from conftest import FASHION_SYSTEM_DIR

from bench import calibration
from bench.data import load
from bench.metrics.reconstruction import psnr_of, squared_error
from registry import load_registry

NOISES = ["blur", "erasing", "gaussian", "salt_pepper", "shot", "speckle"]
DATASETS = ["digits", pytest.param("fashion_mnist", marks=pytest.mark.skipif(
    not (FASHION_SYSTEM_DIR / "train-images-idx3-ubyte.gz").exists(),
    reason="Debian package dataset-fashion-mnist is not installed (CI installs it)"))]


@pytest.fixture(autouse=True)
def _private_calibration_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_DATA", str(tmp_path))
    monkeypatch.setattr(calibration, "_MEMORY", {})


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("noise", NOISES)
def test_calibration_reaches_the_target_psnr_within_half_a_decibel(noise, dataset, tmp_path, monkeypatch):
    if dataset == "fashion_mnist":  # the search is the same on fewer images; blur's 55x55 kernels made it 50 s
        monkeypatch.setattr(calibration, "SAMPLE", 250)
    registry = load_registry()
    spec = registry.spec("datasets", dataset)
    loaded = load(spec) if dataset == "digits" else _fashion(tmp_path)
    table = calibration.calibrate(registry.entry("noises", noise), loaded)
    assert sorted(table) == [1, 2, 3, 4, 5]
    for severity, row in table.items():
        assert row["psnr"] == pytest.approx(calibration.TARGET_PSNR[severity], abs=0.5), (severity, row)
    values = [table[s]["value"] for s in range(1, 6)]
    assert values == (sorted(values, reverse=True) if noise == "shot" else sorted(values))


def _fashion(root):
    from bench.data import LoadedDataset
    from plugins.datasets.fashion_mnist import load_fashion_mnist

    return LoadedDataset.of("fashion_mnist", load_fashion_mnist(root))


def test_calibration_is_cached_on_disk_and_reused(tmp_path):
    registry = load_registry()
    loaded = load(registry.spec("datasets", "digits"))
    first = calibration.calibrate(registry.entry("noises", "gaussian"), loaded)
    assert list((tmp_path / "calibration").glob("digits-*.json"))
    calibration._MEMORY.clear()
    calls = []
    original = calibration.search
    calibration.search = lambda *a, **k: calls.append(a) or original(*a, **k)
    try:
        assert calibration.calibrate(registry.entry("noises", "gaussian"), loaded) == first
    finally:
        calibration.search = original
    assert calls == []


CALIBRATE_ONE = """
import sys, time
from pathlib import Path

from bench import calibration
from bench.data import load
from registry import load_registry

noise, here = sys.argv[1], Path(sys.argv[2])
registry = load_registry()
loaded = load(registry.spec("datasets", "digits"))
real = calibration.atomic_write


def write_together(path, data):
    # each process writes only once the other is about to write too, or after 3 s: without a lock both have
    # read the cache before either wrote it; with one, the second waits for the first's lock meanwhile
    (here / f"writing-{noise}").touch()
    start = time.monotonic()
    while len(list(here.glob("writing-*"))) < 2 and time.monotonic() - start < 3:
        time.sleep(0.01)
    return real(path, data)


calibration.atomic_write = write_together
(here / f"ready-{noise}").touch()
while len(list(here.glob("ready-*"))) < 2:  # both start calibrating together
    time.sleep(0.01)
calibration.calibrate(registry.entry("noises", noise), loaded)
"""


def test_two_processes_calibrating_one_dataset_at_once_both_finish_and_the_cache_keeps_both_noises(tmp_path):
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "BENCH_DATA": str(tmp_path)}
    procs = [subprocess.Popen([sys.executable, "-c", CALIBRATE_ONE, noise, str(tmp_path)], env=env,
                              stderr=subprocess.PIPE, text=True) for noise in ("gaussian", "erasing")]
    for proc in procs:
        _, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
    (cache,) = (tmp_path / "calibration").glob("digits-*.json")
    assert sorted(key.split("@")[0] for key in json.loads(cache.read_text())) == ["erasing", "gaussian"]


def noise(name):
    return load_registry().spec("noises", name).function


def test_salt_and_pepper_touches_about_amount_of_the_pixels():
    x = torch.full((200, 1, 28, 28), 0.5)
    torch.manual_seed(0)
    y = noise("salt_pepper")(x, amount=0.1)
    touched = (y != 0.5).float().mean().item()
    assert touched == pytest.approx(0.1, abs=0.005)
    assert set(y.unique().tolist()) == {0.0, 0.5, 1.0}


def test_speckle_error_scales_with_intensity():
    torch.manual_seed(0)
    dark, bright = torch.full((100, 1, 28, 28), 0.1), torch.full((100, 1, 28, 28), 0.4)
    f = noise("speckle")
    err_dark = (f(dark, sigma=0.2) - dark).std().item()
    err_bright = (f(bright, sigma=0.2) - bright).std().item()
    assert err_bright / err_dark == pytest.approx(4.0, rel=0.05)
    assert torch.equal(f(torch.zeros(10, 5), sigma=1.0), torch.zeros(10, 5))


def test_shot_noise_variance_is_intensity_over_photons():
    torch.manual_seed(0)
    x = torch.full((400, 1, 28, 28), 0.3)
    y = noise("shot")(x, photons=50.0)
    assert y.var().item() == pytest.approx(0.3 / 50.0, rel=0.05)
    assert y.mean().item() == pytest.approx(0.3, abs=0.005)


def test_blur_keeps_the_mean_of_a_smooth_image_and_removes_detail():
    x = torch.zeros(1, 1, 28, 28)
    x[..., 14, 14] = 1.0
    y = noise("blur")(x, sigma=1.0)
    assert y[..., 14, 14].item() < 0.2 and y.sum().item() == pytest.approx(1.0, abs=0.01)
    assert psnr_of(squared_error(noise("blur")(x, sigma=0.0), x)) > 90


def test_bench_list_noises_shows_the_calibrated_value_of_each_severity_for_a_dataset(capsys):
    from bench import cli

    assert cli.main(["list", "noises", "--dataset", "digits", "--format", "json"]) == 0
    rows = {row["name"]: row for row in __import__("json").loads(capsys.readouterr().out)}
    gaussian = rows["gaussian"]
    assert gaussian["parameters"][0]["name"] == "sigma" and gaussian["parameters"][0]["allowed"] == "a float in [0, 10]"
    assert sorted(gaussian["calibration"]) == ["1", "2", "3", "4", "5"]
    assert gaussian["calibration"]["3"]["psnr"] == pytest.approx(16.0, abs=0.5)
    assert cli.main(["list", "noises", "--dataset", "digits"]) == 0
    text = capsys.readouterr().out
    assert "s3 (16 dB)" in text and "sigma=0.1 (a float in [0, 10])" in text
    assert cli.main(["list", "models", "--dataset", "digits"]) == 2


def test_a_noise_with_another_parameter_fixed_is_calibrated_with_it(tmp_path):
    import pandas as pd
    from conftest import CHEAP_CNN

    from bench import cli

    code = cli.main(["run", *CHEAP_CNN, "--datasets", "digits", "--models", "ae", "--noise", "erasing:value=1,erasing",
                     "--severities", "3", "--out", str(tmp_path / "out"), "--quiet"])
    assert code == 0
    cells = pd.read_csv(tmp_path / "out" / "results.csv").drop_duplicates("cell")
    cells = cells[cells.model == "ae"].set_index("noise")
    assert cells.loc["erasing:value=1", "noise_params"] != cells.loc["erasing", "noise_params"]
    for noise in ("erasing", "erasing:value=1"):  # both reach the level's PSNR on the test set
        assert cells.loc[noise, "input_psnr"] == pytest.approx(calibration.TARGET_PSNR[3], abs=0.5)


def test_an_unreadable_calibration_cache_is_said_in_bench_words_and_taken_as_empty(tmp_path):
    from bench.calibration import _read

    path = tmp_path / "digits-abc.json"
    path.write_text("[1, 2")  # a write cut short
    with pytest.warns(UserWarning, match=r"^cache .*digits-abc.json could not be read \(JSONDecodeError: .*\); the "
                                         r"noises are calibrated again and the file replaced$"):
        assert _read(path) == {}
    assert _read(tmp_path / "none.json") == {}  # no cache yet: nothing to say
