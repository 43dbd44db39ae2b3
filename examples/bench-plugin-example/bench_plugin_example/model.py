"""A tied-weights autoencoder: the decoder reuses the encoder's weight matrix, transposed.

It builds on ``registry.models.Autoencoder``, the base class bench publishes for plugins: a model writes
``encode`` and ``decode_logits`` and inherits ``decode`` (a sigmoid, values in [0, 1]), ``forward`` and the
loss (binary cross-entropy summed over pixels, mean over the batch). It declares no optional capability:
without ``generate``, bench augments the downstream CNN with reconstructions of corrupted copies.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from registry.models import Autoencoder


class TiedAutoencoder(Autoencoder):
    def __init__(self, shape: tuple[int, ...], latent_dim: int = 8):
        super().__init__()
        self.shape = tuple(shape)
        features = math.prod(self.shape)
        self.weight = nn.Parameter(torch.randn(latent_dim, features) / math.sqrt(features))
        self.code_bias = nn.Parameter(torch.zeros(latent_dim))
        self.pixel_bias = nn.Parameter(torch.zeros(features))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(F.linear(x.flatten(1), self.weight, self.code_bias))

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return F.linear(z, self.weight.t(), self.pixel_bias).view(-1, *self.shape)
