"""Claims about the training loop."""

from __future__ import annotations

import pytest
import torch

from bench.seeding import seed_everything
from bench.train import TrainingDiverged, train
from plugins.datasets.digits import load_digits
from registry.models import MLPVAE, MLPAutoencoder


@pytest.fixture(scope="module")
def digits():
    return load_digits(None).train_x


@pytest.mark.parametrize("cls", [MLPAutoencoder, MLPVAE])
def test_training_reduces_the_loss(cls, digits):
    seed_everything(0)
    history = train(cls((1, 8, 8)), digits, epochs=15, batch_size=64, lr=1e-3)
    assert len(history) == 15 and history[-1] < 0.8 * history[0]


def test_training_is_reproducible_under_a_seed(digits):
    def weights():
        seed_everything(3)
        model = MLPVAE((1, 8, 8))
        train(model, digits, epochs=2, batch_size=64, lr=1e-3, corrupt=lambda b: (b + 0.1 * torch.randn_like(b)).clamp(0, 1))
        return torch.cat([p.flatten() for p in model.parameters()])

    assert torch.equal(weights(), weights())


def test_a_loss_that_turns_nan_stops_training_with_the_reason(digits):
    class Exploding(MLPAutoencoder):
        def loss(self, x_in, x_target):
            return super().loss(x_in, x_target) * float("nan")

    with pytest.raises(TrainingDiverged, match="training loss became nan in epoch 1 of 5"):
        train(Exploding((1, 8, 8)), digits, epochs=5, batch_size=64, lr=1e-3)
