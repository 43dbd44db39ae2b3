"""A trained model as the metric families use it: every output checked against the model contract where it
is used (:mod:`registry.contracts`, the same rules the plugin kit tries on a fresh model), so that a model
that breaks it fails its families with the contract it broke, not with a numerical library's message or,
worse, a number computed on a wrong shape."""

from __future__ import annotations

from typing import Any

import torch

from registry import PluginError
from registry.contracts import codes_problem, output_problem


class ContractBroken(PluginError):
    """A model's output that breaks the model contract, in use."""


class CheckedModel(torch.nn.Module):
    """``model`` behind the contract: ``forward`` gives the input's shape, ``decode`` and ``sample`` the item
    shape, all floating point, finite and in [0, 1]; ``encode`` gives finite ``[N, latent]``. Anything else is
    the model's own attribute. ``who`` names the model and its distribution in the message."""

    def __init__(self, model: torch.nn.Module, who: str, hint: str, item_shape: tuple[int, ...]):
        super().__init__()
        self.inner = model
        self._who, self._hint, self._item = who, hint, tuple(item_shape)
        for name in ("encode", "decode", "sample"):  # only what the model has: hasattr stays a capability test
            if callable(getattr(model, name, None)):
                object.__setattr__(self, name, getattr(self, f"_{name}"))

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self._modules["inner"], name)

    def _broken(self, problem: str | None) -> None:
        if problem:
            raise ContractBroken(f"{self._who} broke the model contract: {problem}; {self._hint}")

    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        y = self.inner(x, *args, **kwargs)
        self._broken(output_problem(y, "forward", tuple(x.shape)) if isinstance(y, torch.Tensor) else
                     f"forward gave {type(y).__name__}, expected a tensor of the input's shape")
        return y

    def _encode(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        z = self.inner.encode(x, *args, **kwargs)
        self._broken(codes_problem(z, len(x)) if isinstance(z, torch.Tensor) else
                     f"encode gave {type(z).__name__}, expected a tensor [N, latent]")
        return z

    def _decode(self, z: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        y = self.inner.decode(z, *args, **kwargs)
        self._broken(output_problem(y, "decode", (len(z), *self._item)) if isinstance(y, torch.Tensor) else
                     f"decode gave {type(y).__name__}, expected a tensor of the inputs' shape")
        return y

    def _sample(self, n: int, *args: Any, **kwargs: Any) -> torch.Tensor:
        y = self.inner.sample(n, *args, **kwargs)
        self._broken(output_problem(y, "sample", (n, *self._item)) if isinstance(y, torch.Tensor) else
                     f"sample gave {type(y).__name__}, expected a tensor of the inputs' shape")
        return y
