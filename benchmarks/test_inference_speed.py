"""Inference latency of encode + decode at batch 1: torch eager (inference mode) against onnxruntime on
the exported graphs, both with the same intra-op threads, for the MLP models and the conv AE; and the
exports' parity with torch. The latency loop is :mod:`bench.timing`'s, as ``bench time`` uses it."""

from __future__ import annotations

import pytest
import torch
from conftest import RESULTS

from bench.export import export_model, session
from bench.timing import batch_of, onnxruntime_call, torch_call
from plugins.models.conv import ConvAutoencoder
from registry.models import MLPVAE, MLPAutoencoder

MODELS = {"ae": MLPAutoencoder, "vae": MLPVAE, "conv_ae": ConvAutoencoder}


@pytest.fixture(scope="module")
def exported(fashion, tmp_path_factory, threads):
    data, _ = fashion
    directory = tmp_path_factory.mktemp("onnx")
    out = {}
    for name, cls in MODELS.items():
        torch.manual_seed(0)
        model = cls((1, 28, 28)).eval()
        result = export_model(model, data.test_x[:64], directory, dataset="fashion_mnist", model_name=name,
                              variant_name=name, checkpoint="untrained")
        assert result.ok, result.reason
        RESULTS[f"parity/{name}"] = max(result.max_abs_diff.values())
        out[name] = (model, session(result.encoder, threads), session(result.decoder, threads))
    torch.set_num_threads(threads)
    return out, data.test_x


@pytest.mark.parametrize("name", MODELS)
def test_inference_batch1_torch(benchmark, exported, name):
    models, images = exported
    call = torch_call(models[name][0], batch_of(images, 1))
    benchmark.pedantic(call, rounds=300, iterations=10, warmup_rounds=20)
    RESULTS[f"infer/{name}/torch"] = benchmark.stats.stats.median


@pytest.mark.parametrize("name", MODELS)
def test_inference_batch1_onnxruntime(benchmark, exported, name):
    models, images = exported
    _, encoder, decoder = models[name]
    call = onnxruntime_call(encoder, decoder, batch_of(images, 1))
    benchmark.pedantic(call, rounds=300, iterations=10, warmup_rounds=20)
    RESULTS[f"infer/{name}/onnxruntime"] = benchmark.stats.stats.median
