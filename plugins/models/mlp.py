"""The MLP autoencoders of the AE/DAE/VAE/DVAE comparison (DESIGN.md §5).

Encoder ``D -> hidden -> hidden`` (ReLU), a code of ``latent_dim``; decoder mirrors it and ends in a
sigmoid so reconstructions lie in [0, 1]. The VAE adds heads for μ and log σ² and trains on
BCE (summed over pixels) + β·KL, per image, averaged over the batch (β = 1 but for ``beta_vae``).
"""

from __future__ import annotations

import math

from torch import nn

from .base import Autoencoder, GaussianVAE


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
