"""The model base classes a plugin builds on (public API; ``import registry.models`` imports torch).

- :class:`Autoencoder`: a deterministic autoencoder with a Bernoulli decoder; a subclass only builds its
  ``encoder`` and ``decoder`` networks.
- :class:`GaussianVAE`: a Gaussian-latent VAE on top of it (declares ``generate``, ``posterior`` and ``sample``, see
  :mod:`registry.capabilities`); a subclass builds ``features``, the heads ``mu`` and ``logvar`` and
  the ``decoder``.
- :class:`MLPAutoencoder` and :class:`MLPVAE`: the MLP models of the AE/DAE/VAE/DVAE comparison
  (docs/ARCHITECTURE.md, "Built-in plugins"): encoder ``D -> hidden -> hidden`` (ReLU), a code of
  ``latent_dim``; the decoder mirrors it and ends in a sigmoid so reconstructions lie in [0, 1]. The VAE
  adds heads for mu and log sigma^2 and trains on BCE (summed over pixels) + beta KL, per image, averaged
  over the batch.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


class Autoencoder(nn.Module):
    """``encoder: x -> code``, ``decoder: code -> logits`` (any shape with the input's element count);
    reconstructions are ``sigmoid(logits)``; the loss is BCE summed over elements, mean over the batch."""

    shape: tuple[int, ...]
    encoder: nn.Module
    decoder: nn.Module

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z).reshape(-1, *self.shape)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decode_logits(z))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def loss(self, x_in: torch.Tensor, x_target: torch.Tensor) -> torch.Tensor:
        logits = self.decode_logits(self.encode(x_in))
        return F.binary_cross_entropy_with_logits(logits, x_target, reduction="sum") / x_in.shape[0]


class GaussianVAE(Autoencoder):
    """q(z|x) = N(mu, diag(exp(logvar))) from ``features: x -> h`` and linear heads ``mu``, ``logvar``;
    prior N(0, I); loss BCE (summed) + ``beta`` · KL, per image, mean over the batch."""

    features: nn.Module
    mu: nn.Linear
    logvar: nn.Linear
    beta: float = 1.0

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.features(x)
        return self.mu(h), self.logvar(h)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.posterior(x)[0]

    def generate(self, x: torch.Tensor) -> torch.Tensor:
        """One new sample per input: the decoding of z ~ q(z|x)."""
        mu, logvar = self.posterior(x)
        return self.decode(mu + torch.randn_like(mu) * torch.exp(0.5 * logvar))

    def sample(self, n: int) -> torch.Tensor:
        """``n`` new images: the decodings of z ~ N(0, I), the prior."""
        z = torch.randn(n, self.mu.out_features, device=self.mu.weight.device)
        return self.decode(z)

    def loss(self, x_in: torch.Tensor, x_target: torch.Tensor) -> torch.Tensor:
        mu, logvar = self.posterior(x_in)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        bce = F.binary_cross_entropy_with_logits(self.decode_logits(z), x_target, reduction="sum")
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return (bce + self.beta * kl) / x_in.shape[0]


def mlp(sizes: list[int], *, last_relu: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Flatten()]
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or last_relu:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class MLPAutoencoder(Autoencoder):
    def __init__(self, shape: tuple[int, ...], latent_dim: int = 4, hidden: int = 128):
        super().__init__()
        self.shape = tuple(shape)
        features = math.prod(self.shape)
        self.encoder = mlp([features, hidden, hidden, latent_dim])
        self.decoder = mlp([latent_dim, hidden, hidden, features])


class MLPVAE(GaussianVAE):
    def __init__(self, shape: tuple[int, ...], latent_dim: int = 4, hidden: int = 128, beta: float = 1.0):
        super().__init__()
        self.shape = tuple(shape)
        self.beta = beta
        features = math.prod(self.shape)
        self.features = mlp([features, hidden, hidden], last_relu=True)
        self.mu = nn.Linear(hidden, latent_dim)
        self.logvar = nn.Linear(hidden, latent_dim)
        self.decoder = mlp([latent_dim, hidden, hidden, features])
