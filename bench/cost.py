"""What a cell is expected to cost, in units of one optimizer step of the reference CNN at batch 128
(about a quarter of a second on one core of an AVX2 CPU): the progress ETA weights cells by it, and
executors start the dearest groups first.

The figures are coarse on purpose; they only need to rank cells. On Fashion-MNIST (quick profile, one
thread) a cell's evaluation (reconstruction, latent metrics, likelihood, figures) took 10-20 s, an MLP
model's training 5-10 s, and every CNN it trains as many units as it takes optimizer steps.
"""

from __future__ import annotations

from .grid import BASELINE, Cell

EVALUATION = 60.0  # a model cell's evaluation
BASELINE_EVALUATION = 5.0  # the baseline CNN's predictions on one noise's test sets
MODEL_TRAINING = 30.0  # one autoencoder trained on the subset


def cnn_steps(cell: Cell, augmented: bool) -> float:
    """Optimizer steps of one CNN of ``cell``'s protocol (the augmented one sees (1+k)x the images)."""
    profile = cell.profile
    if profile.cnn_budget in ("steps", "converged"):
        own = profile.train_size * ((1 + profile.augment_k) if augmented else 1)
        return float(profile.cnn_steps(profile.train_size, own))
    images = profile.train_size * ((1 + profile.augment_k) if augmented else 1)
    return float(profile.cnn_epochs * -(-images // 128))


def expected_costs(cells: list[Cell]) -> dict[str, float]:
    """Expected cost of each cell by key, walking the cells in order as the evaluator does: work another cell
    of the same dataset, seed and protocol already did (a trained model, the baseline CNN) is free."""
    seen: set[tuple] = set()
    costs: dict[str, float] = {}
    for cell in cells:
        if cell.skip:
            costs[cell.key] = 0.0
            continue
        split = (cell.dataset, cell.seed, cell.profile.train_size)
        protocol = (cell.profile.cnn_budget, cell.profile.precision)
        cost = 0.0
        if (*split, protocol, BASELINE) not in seen:
            seen.add((*split, protocol, BASELINE))
            cost += cnn_steps(cell, augmented=False)
        if cell.model == BASELINE:
            costs[cell.key] = cost + BASELINE_EVALUATION
            continue
        model = (*split, cell.model_label, *((cell.noise_label, cell.severity) if cell.model_sees_noise else ()))
        if model not in seen:
            seen.add(model)
            cost += MODEL_TRAINING
        costs[cell.key] = cost + EVALUATION + cnn_steps(cell, augmented=True)
    return costs
