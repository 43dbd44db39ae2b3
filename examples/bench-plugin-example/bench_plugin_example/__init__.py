"""An example bench plugin: one model, one noise, one dataset and one metric family, each returned by its hook.

Install it (``pip install -e .``) and bench finds it: ``bench list`` shows the four specs under the
distribution ``bench-plugin-example``, ``bench plugins check bench-plugin-example`` runs them through the
contract checks, and ``bench run --models example_ae --noise pixel_dropout --datasets stripes --families
+gmsd`` uses them.
"""

from __future__ import annotations

from registry import DatasetSpec, FamilySpec, ModelSpec, NoiseSpec, Param, deferred, hookimpl

from .family import FAMILY  # declares its metrics without importing torch: its score imports it when it runs

# Every bench command imports this module (bench list, a rerun with nothing to compute): the model, the noise and
# the dataset are named where they live and imported, torch with them, on their first call.
TiedAutoencoder = deferred("bench_plugin_example.model:TiedAutoencoder")
pixel_dropout = deferred("bench_plugin_example.noise:pixel_dropout")
load_stripes = deferred("bench_plugin_example.dataset:load_stripes")


@hookimpl
def bench_models() -> list[ModelSpec]:
    return [
        ModelSpec(
            name="example_ae",
            factory=TiedAutoencoder,
            summary="tied-weights autoencoder: the decoder is the encoder's transpose (example plugin)",
            params=(Param("latent_dim", int, 8, low=1, high=512, help="size of the code"),),
            epochs=20, batch_size=64, lr=3e-3, likelihood="bernoulli",
        )
    ]


@hookimpl
def bench_noises() -> list[NoiseSpec]:
    return [
        NoiseSpec(
            name="pixel_dropout",
            function=pixel_dropout,
            summary="each pixel set to 0 with probability p (dead pixels; example plugin)",
            params=(Param("p", float, 0.1, low=0.0, high=1.0, help="probability a pixel drops out"),),
            severities={1: {"p": 0.02}, 2: {"p": 0.05}, 3: {"p": 0.1}, 4: {"p": 0.2}, 5: {"p": 0.4}},
            inputs=("image", "vector"),
            calibrate="p", calibrate_range=(1e-4, 1.0),
        )
    ]


@hookimpl
def bench_datasets() -> list[DatasetSpec]:
    return [
        DatasetSpec(
            name="stripes",
            loader=load_stripes,
            summary="synthetic 8x8 stripes, 4 orientations x 2 widths = 8 classes, 800 / 200, no files (example plugin)",
            params=(Param("noise", float, 0.05, low=0.0, high=0.5, help="pixel jitter of the clean images"),),
            kind="image",
        )
    ]


@hookimpl
def bench_families() -> list[FamilySpec]:
    return [FAMILY]
