"""What a cell is expected to cost, in seconds of one core: the progress ETA weights cells by it, and executors
start the dearest groups first, passing over those that would wait for shared work a running cell is doing
(:func:`plan_work` says which cell each piece of it is charged to).

A cell costs its model's training (once per trained model), the baseline CNN (once per split and protocol, charged
to the first cell of a family that scores the baseline), the reference classifier (once per split, charged to the
first cell of a family that uses it: the converged baseline CNN, so shared with the baseline under the converged
protocol), the dataset's feature network (once per machine, charged to the first cell of a family that uses it
while its checkpoint is missing) and each of its families' declared costs (``FamilySpec.cost``: seconds, or a
function of the cell; a family's shared work, such as a CNN trained on samples that every noise of a generating
model uses, is charged once, to the first cell that names it). The figures are coarse on purpose; they only need to
rank cells and to keep the ETA honest. Measured on Fashion-MNIST (quick profile, one thread of a 2-core machine):
one optimizer step of the reference CNN at batch 128 took about a quarter of a second; a cell whose MLP model it
trains (30 epochs of 5,000 images, then the quick families, whose per-model work, the figures and the likelihood,
comes first) 7-12 s, a cell of a model already trained 0.7 s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Hashable, Mapping

from .grid import BASELINE, Cell
from .result import CellResult

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


def needs(cell: Cell, families: dict[str, Any], feature_steps: Mapping[str, int] | None = None
          ) -> tuple[float, dict[Hashable, float]]:
    """What ``cell`` costs by itself, and the work it needs that other cells may share, ``{what: seconds}``: its
    families' shared work, the baseline CNN, the reference classifier, the feature network, the trained model."""
    own, shared = 0.0, {}
    for f in cell.families:
        cost = family_cost(families[f], cell)
        if isinstance(cost, Mapping):
            shared.update({(f, what): float(seconds) for what, seconds in cost.items()})
        else:
            own += cost
    specs = [families[f] for f in cell.families]
    if any(f.baseline for f in specs):
        shared[_baseline(cell, cell.profile.cnn_budget)] = STEP_S * cnn_steps(cell, augmented=False)
    if any(f.reference for f in specs):  # the reference classifier: the converged baseline CNN
        shared.setdefault(_baseline(cell, "converged"),
                          STEP_S * cell.profile.with_protocol(cnn_budget="converged").cnn_steps(cell.profile.train_size))
    if any(f.features for f in specs) and (feature_steps or {}).get(cell.dataset):  # none: on this machine already
        shared[_features(cell)] = STEP_S * feature_steps[cell.dataset]
    if cell.model != BASELINE:
        shared[_model(cell)] = MODEL_TRAINING
    return own, shared


def _split(cell: Cell) -> tuple:
    return cell.dataset, cell.seed, cell.profile.train_size


def _baseline(cell: Cell, budget: str) -> tuple:
    """The baseline CNN of ``cell``'s split under ``budget`` (the reference classifier: under "converged")."""
    return *_split(cell), (budget, cell.profile.precision), BASELINE


def _features(cell: Cell) -> tuple:
    return cell.dataset, "features"


def _model(cell: Cell) -> tuple:
    return *_split(cell), cell.model_label, *((cell.noise_label, cell.severity) if cell.model_sees_noise else ())


def sources(cell: Cell, result: CellResult) -> dict[Hashable, str]:
    """Where the cell's shared work (:func:`needs`' keys) came from, as ``result`` says: the model, the baseline
    CNN, the reference classifier and the feature network, each "trained" (by this cell) or found done
    ("checkpoint": by another process; "memory": by an earlier cell of this one)."""
    found: dict[Hashable, str] = {}
    if result.training is not None and result.training.source:
        found[_model(cell)] = result.training.source
    if result.cnn is not None:
        if result.cnn.baseline_source:
            found[_baseline(cell, cell.profile.cnn_budget)] = result.cnn.baseline_source
        key = _baseline(cell, "converged")  # under the converged protocol the same CNN: "trained" wins
        if result.cnn.reference_source and found.get(key) != "trained":
            found[key] = result.cnn.reference_source
    if result.features_source:
        found[_features(cell)] = result.features_source
    return found


@dataclass
class Work:
    """The cells of a run in the order they start: what each is expected to cost, the shared work each uses,
    and which cell is charged with each piece of it (the first that needs it, then the cell that ended saying
    it did it: :meth:`recharge`)."""

    costs: dict[str, float] = field(default_factory=dict)  # by cell key
    uses: dict[str, frozenset] = field(default_factory=dict)  # by cell key
    charged_to: dict[Hashable, str] = field(default_factory=dict)  # what -> the cell key (none: not known yet)
    shared: dict[Hashable, float] = field(default_factory=dict)  # what -> its seconds

    def waits_on(self, key: str) -> set[str]:
        """The cells the shared work of cell ``key`` is charged to, other than itself."""
        return {self.charged_to[what] for what in self.uses.get(key, ()) if what in self.charged_to} - {key}

    def recharge(self, key: str, found: Mapping[Hashable, str], ended: set[str]) -> None:
        """Cell ``key`` ended, and ``found`` (:func:`sources`) says where its shared work came from, so that
        the time a cell took and the cost the progress counts done with it agree (two workers start together,
        either first cell may take the feature network while the other trains the reference classifier, and
        the plan charged both to the first): work it trained that was charged to a cell still running, or to
        none, moves to it; work charged to it that it found done is charged to none, out of the run's total
        (it is done, by a cell still running, which brings it back when it ends, or by an earlier run)."""
        for what, source in found.items():
            if what not in self.uses.get(key, ()) or what not in self.shared:
                continue
            charged = self.charged_to.get(what)
            if source == "trained" and charged != key and charged not in ended:
                if charged is not None:
                    self.costs[charged] -= self.shared[what]
                self.costs[key] += self.shared[what]
                self.charged_to[what] = key
            elif source != "trained" and charged == key:
                self.costs[key] -= self.shared[what]
                del self.charged_to[what]


def plan_work(cells: list[Cell], families: dict[str, Any], feature_steps: Mapping[str, int] | None = None) -> Work:
    """Walk the cells in order as the evaluator does: work another cell already did (a trained model, the
    baseline CNN of the same dataset, seed and protocol) is free. ``families``: the specs of the families the
    cells name, by name; ``feature_steps``: by dataset, the optimizer steps its feature network still needs on
    this machine (:func:`bench.features.steps_left`; none if absent)."""
    work = Work()
    for cell in cells:
        if cell.skip:
            work.costs[cell.key] = 0.0
            continue
        own, shared = needs(cell, families, feature_steps)
        fresh = [what for what in shared if what not in work.charged_to]
        work.charged_to.update((what, cell.key) for what in fresh)
        work.shared.update((what, shared[what]) for what in fresh)
        work.uses[cell.key] = frozenset(shared)
        work.costs[cell.key] = own + sum(shared[what] for what in fresh)
    return work


def expected_costs(cells: list[Cell], families: dict[str, Any],
                   feature_steps: Mapping[str, int] | None = None) -> dict[str, float]:
    """Expected cost of each cell by key (:func:`plan_work`)."""
    return plan_work(cells, families, feature_steps).costs
