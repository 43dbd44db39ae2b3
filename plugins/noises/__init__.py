"""Built-in noises. Each has one native parameter that the harness calibrates per dataset so that
level L gives the same PSNR of corrupted against clean input for every noise; the severities below
are the uncalibrated defaults."""

from registry import NoiseSpec, Param, deferred, hookimpl

#: each noise's function, imported on first use (torch with it), not when the registry loads. Not package
#: attributes: importing the submodule ``plugins.noises.gaussian`` would rebind the name ``gaussian`` to it.
_FUNCTIONS = {name: deferred(f"plugins.noises.{module}:{name}") for name, module in (
    ("gaussian", "gaussian"), ("erasing", "erasing"), ("blur", "blur"), ("salt_pepper", "pixel"), ("shot", "pixel"),
    ("speckle", "pixel"))}


def _levels(name: str, *values: float) -> dict[int, dict[str, float]]:
    return {level: {name: value} for level, value in enumerate(values, start=1)}


@hookimpl
def bench_noises() -> list[NoiseSpec]:
    return [
        NoiseSpec("gaussian", _FUNCTIONS["gaussian"], "additive Gaussian noise N(0, sigma^2), clamped to [0, 1]",
                  (Param("sigma", float, 0.1, low=0.0, high=10.0, help="standard deviation"),),
                  _levels("sigma", 0.05, 0.1, 0.2, 0.5, 1.0), calibrate="sigma", calibrate_range=(1e-4, 10.0)),
        NoiseSpec(
            "erasing", _FUNCTIONS["erasing"],
            "random erasing: one rectangle per image set to a constant (torchvision RandomErasing geometry)",
            (Param("scale", float, 0.2, low=0.0, high=1.0, help="erased fraction of the image area"),
             Param("value", float, 0.0, low=0.0, high=1.0, help="fill value of the rectangle")),
            _levels("scale", 0.05, 0.1, 0.2, 0.3, 0.4), calibrate="scale", calibrate_range=(1e-4, 1.0)),
        NoiseSpec("salt_pepper", _FUNCTIONS["salt_pepper"], "salt-and-pepper: a fraction of pixels set to 0 or 1",
                  (Param("amount", float, 0.05, low=0.0, high=1.0, help="fraction of pixels hit"),),
                  _levels("amount", 0.01, 0.03, 0.08, 0.15, 0.3), calibrate="amount", calibrate_range=(1e-5, 1.0)),
        NoiseSpec("speckle", _FUNCTIONS["speckle"], "multiplicative speckle x + x * N(0, sigma^2), clamped to [0, 1]",
                  (Param("sigma", float, 0.2, low=0.0, high=100.0, help="standard deviation of the factor"),),
                  _levels("sigma", 0.1, 0.2, 0.4, 0.7, 1.5), calibrate="sigma", calibrate_range=(1e-4, 100.0)),
        NoiseSpec("shot", _FUNCTIONS["shot"], "shot noise Poisson(photons * x) / photons, clamped to [0, 1]",
                  (Param("photons", float, 30.0, low=1e-3, high=1e6, help="photons at full intensity (fewer: noisier)"),),
                  _levels("photons", 300.0, 100.0, 30.0, 10.0, 3.0), calibrate="photons", calibrate_range=(1e-2, 1e5)),
        NoiseSpec("blur", _FUNCTIONS["blur"], "Gaussian blur (torchvision gaussian_blur), images only",
                  (Param("sigma", float, 1.0, low=0.0, high=50.0, help="standard deviation in pixels"),),
                  _levels("sigma", 0.5, 0.8, 1.2, 2.0, 3.0), inputs=("image",), calibrate="sigma",
                  calibrate_range=(1e-2, 50.0)),
    ]
