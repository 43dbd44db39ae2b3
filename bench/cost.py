"""What a cell is expected to cost, in seconds of one core: the progress ETA weights cells by it, and executors
start the dearest groups first.

A cell costs its model's training (once per trained model), the baseline CNN (once per split and protocol,
charged to the first cell of a family that scores the baseline), the reference classifier (once per split,
charged to the first cell of a family that uses it: the converged baseline CNN, so shared with the baseline
under the converged protocol), the dataset's feature network (once per machine, charged to the first cell of a
family that uses it while its checkpoint is missing) and each of its families' declared costs (``FamilySpec.cost``: seconds, or a
function of the cell; a family's shared work, such as a CNN trained on samples that every noise of a generating
model uses, is charged once, to the first cell that names it). The figures are coarse on purpose; they only need
to rank cells and to keep the ETA honest. Measured on Fashion-MNIST (quick profile, one thread of a 2-core
machine): one optimizer step of the reference CNN at batch 128 took about a quarter of a second; a cell whose
MLP model it trains (30 epochs of 5,000 images, then the quick families, whose per-model work, the figures and
the likelihood, comes first) 7-12 s, a cell of a model already trained 0.7 s.
"""

from __future__ import annotations

from typing import Any, Mapping

from .grid import BASELINE, Cell

STEP_S = 0.25  # one optimizer step of the reference CNN at batch 128
MODEL_TRAINING = 7.0  # one autoencoder trained on the subset, and its first scoring (figures, memoised work)


def cnn_steps(cell: Cell, augmented: bool) -> float:
    """Optimizer steps of one CNN of ``cell``'s protocol (the augmented one sees (1+k)x the images)."""
    profile = cell.profile
    if profile.cnn_budget in ("steps", "converged"):
        own = profile.train_size * ((1 + profile.augment_k) if augmented else 1)
        return float(profile.cnn_steps(profile.train_size, own))
    images = profile.train_size * ((1 + profile.augment_k) if augmented else 1)
    return float(profile.cnn_epochs * -(-images // 128))


def samples_key(cell: Cell) -> tuple:
    """What a cell's augmentation samples, and every CNN trained on them, depend on (as
    :meth:`bench.evaluator.Evaluator.augmentation` draws them): the split, the CNN protocol, the trained model,
    and the noise unless the model generates by itself. Cells with one key share that work."""
    profile = cell.profile
    model = (cell.model_label, *((cell.noise_label, cell.severity) if cell.model_sees_noise else ()))
    noise = () if cell.model_generates else (cell.noise_label, cell.severity, repr(sorted(cell.noise_params.items())))
    return (cell.dataset, cell.seed, profile.train_size, profile.cnn_budget, profile.precision, *model, *noise)


def family_cost(family: Any, cell: Cell) -> float | Mapping[Any, float]:
    """A family's declared cost for ``cell`` (:class:`registry.FamilySpec`): seconds, or ``{what: seconds}``
    for work that cells share."""
    cost = family.cost(cell) if callable(family.cost) else family.cost
    return cost if isinstance(cost, Mapping) else float(cost)


def charged(cost: float | Mapping[Any, float], seen: set, family: str) -> float:
    """Seconds of ``cost`` still to pay: shared work (``{what: seconds}``) is paid once, and then is in ``seen``."""
    if not isinstance(cost, Mapping):
        return cost
    fresh = {what: seconds for what, seconds in cost.items() if (family, what) not in seen}
    seen.update((family, what) for what in fresh)
    return float(sum(fresh.values()))


def expected_costs(cells: list[Cell], families: dict[str, Any],
                   feature_steps: Mapping[str, int] | None = None) -> dict[str, float]:
    """Expected cost of each cell by key, walking the cells in order as the evaluator does: work another cell
    of the same dataset, seed and protocol already did (a trained model, the baseline CNN) is free.
    ``families``: the specs of the families the cells name, by name; ``feature_steps``: by dataset, the optimizer
    steps its feature network still needs on this machine (:func:`bench.features.steps_left`; none if absent)."""
    seen: set[tuple] = set()
    costs: dict[str, float] = {}
    for cell in cells:
        if cell.skip:
            costs[cell.key] = 0.0
            continue
        split = (cell.dataset, cell.seed, cell.profile.train_size)
        protocol = (cell.profile.cnn_budget, cell.profile.precision)
        cost = sum(charged(family_cost(families[f], cell), seen, f) for f in cell.families)
        if any(families[f].baseline for f in cell.families) and (*split, protocol, BASELINE) not in seen:
            seen.add((*split, protocol, BASELINE))
            cost += STEP_S * cnn_steps(cell, augmented=False)
        reference = ("converged", cell.profile.precision)  # the reference classifier: the converged baseline CNN
        if any(families[f].reference for f in cell.families) and (*split, reference, BASELINE) not in seen:
            seen.add((*split, reference, BASELINE))
            cost += STEP_S * cell.profile.with_protocol(cnn_budget="converged").cnn_steps(cell.profile.train_size)
        if any(families[f].features for f in cell.families) and (cell.dataset, "features") not in seen:
            seen.add((cell.dataset, "features"))
            cost += STEP_S * (feature_steps or {}).get(cell.dataset, 0)
        model = (*split, cell.model_label, *((cell.noise_label, cell.severity) if cell.model_sees_noise else ()))
        if cell.model != BASELINE and model not in seen:
            seen.add(model)
            cost += MODEL_TRAINING
        costs[cell.key] = cost
    return costs
