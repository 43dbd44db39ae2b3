"""Convolutional autoencoders for images: three strided convolutions (3×3, stride 2, channels c, 2c,
4c) then a linear layer to the code; the decoder mirrors it (linear, unflatten, three transposed
convolutions whose output padding restores the exact input size, e.g. 28 → 14 → 7 → 4 and back)."""

from __future__ import annotations

from torch import nn

from registry.models import Autoencoder, GaussianVAE


def _sizes(side: int) -> list[int]:
    sizes = [side]
    for _ in range(3):
        sizes.append((sizes[-1] + 1) // 2)  # 3×3, stride 2, padding 1
    return sizes


def conv_encoder(shape: tuple[int, ...], channels: int) -> tuple[nn.Sequential, int]:
    """The convolutional trunk and the size of its flattened output."""
    c, h, w = shape
    widths = [c, channels, 2 * channels, 4 * channels]
    layers: list[nn.Module] = []
    for a, b in zip(widths, widths[1:]):
        layers += [nn.Conv2d(a, b, 3, stride=2, padding=1), nn.ReLU()]
    layers.append(nn.Flatten())
    return nn.Sequential(*layers), widths[-1] * _sizes(h)[-1] * _sizes(w)[-1]


def conv_decoder(shape: tuple[int, ...], channels: int, latent_dim: int) -> nn.Sequential:
    c, h, w = shape
    hs, ws = _sizes(h)[::-1], _sizes(w)[::-1]
    widths = [4 * channels, 2 * channels, channels, c]
    layers: list[nn.Module] = [nn.Linear(latent_dim, widths[0] * hs[0] * ws[0]), nn.ReLU(),
                               nn.Unflatten(1, (widths[0], hs[0], ws[0]))]
    for i in range(3):
        pad = (hs[i + 1] - (2 * hs[i] - 1), ws[i + 1] - (2 * ws[i] - 1))
        layers.append(nn.ConvTranspose2d(widths[i], widths[i + 1], 3, stride=2, padding=1, output_padding=pad))
        if i < 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class ConvAutoencoder(Autoencoder):
    def __init__(self, shape: tuple[int, ...], latent_dim: int = 16, channels: int = 32):
        super().__init__()
        self.shape = tuple(shape)
        trunk, flat = conv_encoder(self.shape, channels)
        self.encoder = nn.Sequential(trunk, nn.Linear(flat, latent_dim))
        self.decoder = conv_decoder(self.shape, channels, latent_dim)


class ConvVAE(GaussianVAE):
    def __init__(self, shape: tuple[int, ...], latent_dim: int = 16, channels: int = 32, beta: float = 1.0):
        super().__init__()
        self.shape = tuple(shape)
        self.beta = beta
        self.features, flat = conv_encoder(self.shape, channels)
        self.mu = nn.Linear(flat, latent_dim)
        self.logvar = nn.Linear(flat, latent_dim)
        self.decoder = conv_decoder(self.shape, channels, latent_dim)
