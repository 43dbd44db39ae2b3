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


def _two_copies():
    torch.manual_seed(0)
    a = MLPVAE((1, 8, 8))
    b = MLPVAE((1, 8, 8))
    b.load_state_dict(a.state_dict())
    return a, b


def test_the_private_adam_path_gives_torch_fused_adams_updates_bit_for_bit_over_steps():
    from bench.cnn import _set_lr
    from bench.train import FusedAdam, adam

    ours, theirs = _two_copies()
    private = adam(list(ours.parameters()), 3e-3)
    assert isinstance(private, FusedAdam)  # the fast path is in use with this torch
    public = torch.optim.Adam(theirs.parameters(), lr=3e-3, fused=True)
    x = torch.rand(32, 1, 8, 8)
    for step in range(6):
        for model, optimizer in ((ours, private), (theirs, public)):
            _set_lr(optimizer, 3e-3 * (1 - step / 6))  # the cosine schedule changes the rate every step
            torch.manual_seed(step)  # the same reparameterisation noise for both copies
            loss = model.loss(x, x)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        assert all(torch.equal(p, q) for p, q in zip(ours.parameters(), theirs.parameters())), f"step {step}"


def test_adam_falls_back_to_the_public_fused_optimizer_when_the_private_signature_changes(monkeypatch):
    from bench import train as training

    def changed(params, grads, *, a_keyword_torch_added):  # a later torch's private function
        raise AssertionError("not reached: the old keywords fail first")

    monkeypatch.setattr(training, "private_adam_function", lambda: changed)
    training.private_adam_matches.cache_clear()
    try:
        assert not training.private_adam_matches()
        model = MLPAutoencoder((1, 8, 8))
        optimizer = training.adam(list(model.parameters()), 1e-3)
        assert isinstance(optimizer, torch.optim.Adam) and optimizer.defaults["fused"]
        before = [p.clone() for p in model.parameters()]
        x = torch.rand(16, 1, 8, 8)
        model.loss(x, x).backward()
        optimizer.step()
        assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    finally:
        training.private_adam_matches.cache_clear()
