"""The linear denoising autoencoder for tabular data: one linear layer each way (ReLU code, sigmoid
output), trained with mean squared error."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from registry.models import Autoencoder


class LinearDAE(Autoencoder):
    def __init__(self, shape: tuple[int, ...], hidden: int = 8):
        super().__init__()
        self.shape = tuple(shape)
        features = math.prod(self.shape)
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(features, hidden), nn.ReLU())
        self.decoder = nn.Linear(hidden, features)

    def loss(self, x_in: torch.Tensor, x_target: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(self(x_in), x_target)
