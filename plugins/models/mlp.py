"""The MLP autoencoders of the AE/DAE/VAE/DVAE comparison (DESIGN.md §5).

Encoder ``D -> hidden -> hidden`` (ReLU), a code of ``latent_dim``; decoder mirrors it and ends in a
sigmoid so reconstructions lie in [0, 1]. The VAE adds heads for μ and log σ² and trains on
BCE (summed over pixels) + KL, per image, averaged over the batch.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class MLPAutoencoder(nn.Module):
    """Deterministic MLP autoencoder trained with summed-per-image binary cross-entropy."""

    def __init__(self, shape: tuple[int, ...], latent_dim: int = 4, hidden: int = 128):
        super().__init__()
        self.shape = tuple(shape)
        features = math.prod(self.shape)
        self.encoder = _mlp([features, hidden, hidden, latent_dim])
        self.decoder = _mlp([latent_dim, hidden, hidden, features])

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x.flatten(1))

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z).view(-1, *self.shape)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decode_logits(z))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def loss(self, x_in: torch.Tensor, x_target: torch.Tensor) -> torch.Tensor:
        logits = self.decode_logits(self.encode(x_in))
        bce = F.binary_cross_entropy_with_logits(logits, x_target, reduction="sum")
        return bce / x_in.shape[0]


class MLPVAE(MLPAutoencoder):
    """Variational autoencoder: Gaussian q(z|x) with heads μ and log σ², standard normal prior."""

    def __init__(self, shape: tuple[int, ...], latent_dim: int = 4, hidden: int = 128):
        super().__init__(shape, latent_dim, hidden)
        features = math.prod(self.shape)
        self.encoder = _mlp([features, hidden, hidden])
        self.encoder.append(nn.ReLU())
        self.mu = nn.Linear(hidden, latent_dim)
        self.logvar = nn.Linear(hidden, latent_dim)

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x.flatten(1))
        return self.mu(h), self.logvar(h)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.posterior(x)[0]

    def generate(self, x: torch.Tensor) -> torch.Tensor:
        """One new image per input: the decoding of z ~ q(z|x)."""
        mu, logvar = self.posterior(x)
        return self.decode(mu + torch.randn_like(mu) * torch.exp(0.5 * logvar))

    def loss(self, x_in: torch.Tensor, x_target: torch.Tensor) -> torch.Tensor:
        mu, logvar = self.posterior(x_in)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        logits = self.decode_logits(z)
        bce = F.binary_cross_entropy_with_logits(logits, x_target, reduction="sum")
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return (bce + kl) / x_in.shape[0]
