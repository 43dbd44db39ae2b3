"""Claims about `bench export` and `bench time`: ONNX graphs that match torch, reuse of the run's
checkpoints, timings in the store and in timing.md / timing.csv, and one-line errors for bad input."""

from __future__ import annotations

import json
import sqlite3
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import CHEAP_CNN, add_site, make_distribution

from bench import cli
from bench.export import session
from bench.store import MIGRATIONS, SCHEMA_VERSION, open_store

GRID = ["--datasets", "digits", "--severity", "1", "--quiet"]

HISTC_MODEL = '''
import torch
from torch import nn
from torch.nn import functional as F
from registry import ModelSpec, hookimpl


class HistcAE(nn.Module):
    """Trains and runs in torch, but its encoder uses an operator ONNX has no translation for."""

    def __init__(self, shape):
        super().__init__()
        self.shape = tuple(shape)
        self.enc = nn.Linear(64, 4)
        self.dec = nn.Linear(4, 64)

    def encode(self, x):
        h = self.enc(x.flatten(1))
        return h + 0 * torch.histc(h, bins=4).sum()

    def decode(self, z):
        return torch.sigmoid(self.dec(z)).view(-1, *self.shape)

    def forward(self, x):
        return self.decode(self.encode(x))

    def loss(self, x_in, x_target):
        return F.mse_loss(self.decode(self.enc(x_in.flatten(1))), x_target)


@hookimpl
def bench_models():
    return [ModelSpec("histc_ae", HistcAE, "an autoencoder whose encoder uses histc", epochs=1)]
'''


def test_export_writes_encoder_and_decoder_graphs_that_match_torch_at_any_batch_size(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["export", "--models", "ae,vae", "--out", str(out), *GRID]) == 0
    printed = capsys.readouterr().out
    directory = out / "onnx" / "digits-quick-seed0"
    for name in ("ae", "vae"):
        meta = json.loads((directory / f"{name}.json").read_text())
        assert meta["status"] == "exported" and meta["opset"] == 20 and meta["input_shape"] == [1, 8, 8]
        assert max(meta["max_abs_diff"].values()) <= 1e-4 and meta["checkpoint"].endswith(".pt")
        assert (out / "checkpoints" / meta["checkpoint"]).is_file()
        assert f"exported digits {name}:" in printed
        encoder, decoder = session(directory / f"{name}.encoder.onnx"), session(directory / f"{name}.decoder.onnx")
        for batch in (1, 7, 300):  # the batch axis is dynamic
            x = np.random.default_rng(batch).random((batch, 1, 8, 8), dtype=np.float32)
            z = encoder.run(None, {"x": x})[0]
            recon = decoder.run(None, {"z": z})[0]
            assert z.shape == (batch, meta["latent_dim"]) and recon.shape == (batch, 1, 8, 8)
            assert recon.min() >= 0 and recon.max() <= 1


def test_export_loads_the_checkpoints_bench_run_kept_instead_of_training(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["run", *CHEAP_CNN, "--models", "ae", "--noise", "gaussian", "--severities", "1", "--datasets",
                     "digits", "--out", str(out), "--quiet", "--format", "csv"]) == 0
    kept = sorted((out / "checkpoints").iterdir())
    stamps = [p.stat().st_mtime_ns for p in kept]
    assert cli.main(["export", "--models", "ae", "--out", str(out), *GRID[:-1]]) == 0
    assert "exporting digits ae (checkpoint weights)" in capsys.readouterr().err
    assert sorted((out / "checkpoints").iterdir()) == kept and [p.stat().st_mtime_ns for p in kept] == stamps


def test_a_model_that_cannot_be_exported_gets_its_reason_and_the_others_still_export(tmp_path, monkeypatch, capsys):
    add_site(make_distribution(tmp_path / "site", "bench-histc", "0.1", "bench_histc", HISTC_MODEL), monkeypatch)
    out = tmp_path / "run"
    assert cli.main(["export", "--models", "histc_ae,ae", "--out", str(out), *GRID]) == 1
    captured = capsys.readouterr()
    assert "failed digits histc_ae: cannot be exported to ONNX: NotImplementedError: aten_histc" in captured.err
    assert "exported digits ae:" in captured.out
    directory = out / "onnx" / "digits-quick-seed0"
    assert not list(directory.glob("histc_ae*.onnx")) and (directory / "ae.encoder.onnx").is_file()
    assert json.loads((directory / "histc_ae.json").read_text())["status"] == "failed"


def test_an_export_that_differs_from_torch_beyond_the_tolerance_is_not_shipped(tmp_path, monkeypatch, capsys):
    import bench.export

    monkeypatch.setattr(bench.export, "TOLERANCE", -1.0)  # every real difference, even 0, now exceeds it
    out = tmp_path / "run"
    assert cli.main(["export", "--models", "ae", "--out", str(out), *GRID]) == 1
    assert "failed digits ae: onnxruntime differs from torch by" in capsys.readouterr().err
    assert not list((out / "onnx" / "digits-quick-seed0").glob("*.onnx"))


def test_time_measures_both_backends_at_each_batch_size_and_stores_them(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["time", "--models", "ae", "--batch-sizes", "1,16", "--threads", "1", "--repeats", "5", "--warmup", "2",
            "--out", str(out), *GRID]
    threads = torch.get_num_threads()
    assert cli.main(args) == 0
    assert torch.get_num_threads() == threads  # the caller's thread count is restored
    assert str(out / "timing.md") in capsys.readouterr().out
    rows = open_store(out).timings()
    assert {(r["backend"], r["batch_size"]) for r in rows} == {(b, n) for b in ("torch", "onnxruntime") for n in (1, 16)}
    assert all(r["threads"] == 1 and r["repeats"] >= 5 and r["median_ms"] > 0 for r in rows)
    assert all(r["min_ms"] <= r["median_ms"] <= r["p95_ms"] for r in rows)
    assert rows[0]["provenance"]["onnxruntime"] and rows[0]["provenance"]["cpu"]
    frame = pd.read_csv(out / "timing.csv")
    ort = frame[frame.backend == "onnxruntime"].set_index("batch_size")
    torch_ms = frame[frame.backend == "torch"].set_index("batch_size")["median_ms"]
    assert np.allclose(ort["ort_over_torch"], torch_ms / ort["median_ms"])
    markdown = (out / "timing.md").read_text()
    assert "| ae " in markdown and "ort/torch" in markdown and "1 threads" in markdown
    # a second measurement replaces the first in the leaderboard and both stay in the store
    assert cli.main(args) == 0
    assert len(open_store(out).timings()) == 8 and len(pd.read_csv(out / "timing.csv")) == 4


def test_timings_appear_in_every_report_the_run_wrote(tmp_path):
    out = tmp_path / "run"
    assert cli.main(["run", *CHEAP_CNN, "--models", "ae", "--noise", "gaussian", "--severities", "1", "--datasets",
                     "digits", "--out", str(out), "--quiet"]) == 0
    waiting = "run `bench time` on it to fill the last two columns"
    assert waiting in (out / "leaderboard.md").read_text()
    assert cli.main(["time", "--models", "ae", "--batch-sizes", "1,4", "--repeats", "3", "--warmup", "1",
                     "--backends", "torch,onnxruntime", "--out", str(out), *GRID]) == 0
    html = (out / "report.html").read_text()
    assert 'id="timing"' in html and "torch ms (p95, IQR)" in html
    assert waiting not in (out / "leaderboard.md").read_text()  # the cost table is filled where it was waiting


@pytest.mark.parametrize("args, expected", [
    (["--backends", "tensorrt"], "unknown backend 'tensorrt'"),
    (["--batch-sizes", "0"], "--batch-sizes takes integers >= 1. Got 0"),
    (["--threads", "0"], "--threads takes an integer >= 1. Got 0"),
])
def test_bad_timing_options_exit_2_with_one_line(args, expected, tmp_path, capsys):
    code = cli.main(["time", "--models", "ae", "--out", str(tmp_path), *GRID, *args])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("bench: error: ") and expected in err and err.count("\n") == 1


def test_missing_onnxruntime_is_one_line_with_the_install_hint(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # what an environment without it gives on import
    for verb in ("export", "time"):
        assert cli.main([verb, "--models", "ae", "--out", str(tmp_path), *GRID]) == 2
        err = capsys.readouterr().err
        assert err == "bench: error: onnxruntime is not installed; it comes with bench's dependencies: " \
                      "pip install onnxruntime\n"


def test_a_model_without_checkpoint_whose_data_is_unavailable_exits_2(tmp_path, monkeypatch, capsys):
    from plugins.datasets import mnist

    monkeypatch.setattr(mnist, "SYSTEM_DIRS", ())
    monkeypatch.setenv("BENCH_DATA", str(tmp_path / "empty-root"))
    monkeypatch.setenv("BENCH_OFFLINE", "1")
    assert cli.main(["export", "--models", "ae", "--datasets", "mnist", "--out", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bench: error: MNIST files not found") and err.count("\n") == 1


def test_a_version_1_store_gains_the_timings_table_and_keeps_its_runs(tmp_path):
    path = tmp_path / "v1.db"
    with sqlite3.connect(path) as con:
        for statement in MIGRATIONS[1]:
            con.execute(statement)
        con.execute("INSERT INTO runs (started, argv, provenance) VALUES ('t0', '[\"bench\"]', '{}')")
        con.execute("PRAGMA user_version = 1")
    store = open_store(path)
    assert store.schema_version == SCHEMA_VERSION and len(store.runs()) == 1 and store.timings() == []


def test_the_timing_batch_repeats_test_images_to_the_requested_size():
    from bench.timing import batch_of

    images = torch.arange(3.0).reshape(3, 1)
    assert batch_of(images, 7).flatten().tolist() == [0, 1, 2, 0, 1, 2, 0]
    assert batch_of(images, 2).flatten().tolist() == [0, 1]
