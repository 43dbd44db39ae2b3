"""Built-in noises, each with severities 1..5 from mild to strong."""

from registry import NoiseSpec, Param, hookimpl

from .erasing import erasing
from .gaussian import gaussian


@hookimpl
def bench_noises() -> list[NoiseSpec]:
    return [
        NoiseSpec(
            "gaussian",
            gaussian,
            "additive Gaussian noise N(0, sigma^2), clamped to [0, 1]",
            (Param("sigma", float, 0.1, low=0.0, high=10.0, help="standard deviation"),),
            # The literature's ladder (0.01 is replaced by 0.05: at 0.01 the input is all but clean).
            {1: {"sigma": 0.05}, 2: {"sigma": 0.1}, 3: {"sigma": 0.2}, 4: {"sigma": 0.5}, 5: {"sigma": 1.0}},
        ),
        NoiseSpec(
            "erasing",
            erasing,
            "random erasing: one rectangle per image set to a constant (torchvision RandomErasing geometry)",
            (
                Param("scale", float, 0.2, low=0.0, high=1.0, help="erased fraction of the image area"),
                Param("value", float, 0.0, low=0.0, high=1.0, help="fill value of the rectangle"),
            ),
            {1: {"scale": 0.05}, 2: {"scale": 0.1}, 3: {"scale": 0.2}, 4: {"scale": 0.3}, 5: {"scale": 0.4}},
        ),
    ]
