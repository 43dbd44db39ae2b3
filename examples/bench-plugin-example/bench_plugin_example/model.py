"""A tied-weights autoencoder: the decoder reuses the encoder's weight matrix, transposed."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


class TiedAutoencoder(nn.Module):
    """What bench asks of a model: ``encode``, ``decode`` (values in [0, 1]), ``forward`` and ``loss``."""

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

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decode_logits(z))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def loss(self, x_in: torch.Tensor, x_target: torch.Tensor) -> torch.Tensor:
        logits = self.decode_logits(self.encode(x_in))
        return F.binary_cross_entropy_with_logits(logits, x_target, reduction="sum") / len(x_in)
