"""The result of one cell: what the evaluator returns, a worker sends, the driver counts and the store keeps.

:meth:`CellResult.record` is the stored form (one JSON-able dict: the shape :meth:`bench.store.Store.records`
gives back to the reports), :meth:`CellResult.from_record` reads it back.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal

#: Artifact of a cell: its first test images clean / noisy / reconstructed, ``np.save`` of uint8 (3, n, *shape).
SAMPLES = "samples.npy"
PRIOR_SAMPLES = "prior_samples.npy"  # images decoded from the prior (uint8 [n, C, H, W]), for the reports' grids

Status = Literal["done", "failed", "skipped"]
STATUSES: tuple[Status, ...] = ("done", "failed", "skipped")


@dataclass(frozen=True)
class Training:
    """How the cell's model was obtained."""

    source: Literal["trained", "checkpoint", "memory"]  # memory: an earlier cell in the same process
    seconds: float  # the training's own time, also when loaded
    epochs: int
    loss: list[float]  # per epoch
    checkpoint: str | None  # file name in the run's checkpoints/
    train_size: int
    test_size: int
    eval_size: int


@dataclass(frozen=True)
class CnnSteps:
    """Optimizer steps of the CNNs a cell's families used (the augmentation protocol's baseline and augmented
    CNNs, the downstream family's reference classifier), and where the baseline CNN came from."""

    baseline: int | None = None
    augmented: int | None = None
    baseline_source: str | None = None  # "trained", "checkpoint" or "memory"
    #: accuracy of each CNN on validation images of the training split outside the subset (never the test
    #: set), and how many there were (0: the subset is the whole split; None: not measured)
    validation: dict[str, float] | None = None
    validation_images: int | None = None
    reference: int | None = None  # the reference classifier's steps (the converged baseline CNN, or the MLP)
    #: where the reference classifier came from (not stored: the record of the reference's scope keeps it as its
    #: ``baseline_source``)
    reference_source: str | None = field(default=None, compare=False)


#: What a CNN a family trained or used was, for :meth:`bench.context.Context.cnn_used`.
CNN_ROLES = ("baseline", "augmented", "reference")


@dataclass(frozen=True)
class CnnUse:
    """One CNN a family trained or used: its optimizer steps, where it came from ("trained", "checkpoint",
    "memory"), and its accuracy on the validation images (None: not measured, or no validation images)."""

    steps: int
    source: str | None = None
    validation: float | None = None


def cnn_steps(uses: dict[str, CnnUse], validation_images: int) -> CnnSteps:
    """What a cell's record keeps of the CNNs its families used, by role (:data:`CNN_ROLES`)."""
    base, augmented, reference = (uses.get(role) for role in CNN_ROLES)
    validation = {role: u.validation for role, u in uses.items() if u.validation is not None}
    source = next((u.source for u in (base, reference) if u is not None and u.source), None)
    return CnnSteps(base.steps if base else None, augmented.steps if augmented else None, source,
                    validation or None, validation_images, reference.steps if reference else None,
                    reference.source if reference else None)


@dataclass(frozen=True)
class Footprint:
    """A model's size and compute (:func:`bench.footprint.footprint`)."""

    params: int
    flops_per_image: int  # forward pass, torch's flop counter


@dataclass(frozen=True)
class Timings:
    wall_s: float  # the whole cell
    eval_s: float | None = None  # scoring a model cell once its model is trained or loaded


@dataclass(frozen=True)
class FamilyRun:
    """How one metric family of a cell was computed: at which version, whether it ended, and what it made."""

    version: str
    status: Status
    reason: str | None = None
    traceback: str | None = None
    wall_s: float = 0.0
    figures: tuple[str, ...] = ()  # kinds of the cell's figures it drew
    artifacts: tuple[str, ...] = ()  # names of the cell's artifacts it stored
    run_id: int | None = None  # the run that computed it (once stored)

    def record(self) -> dict[str, Any]:
        out = {"version": self.version, "status": self.status, "wall_s": self.wall_s}
        out.update((k, v) for k, v in (("reason", self.reason), ("traceback", self.traceback),
                                       ("figures", list(self.figures)), ("artifacts", list(self.artifacts)),
                                       ("run_id", self.run_id)) if v)
        return out

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> FamilyRun:
        return cls(str(record["version"]), record["status"], record.get("reason"), record.get("traceback"),
                   record.get("wall_s") or 0.0, tuple(record.get("figures") or ()), tuple(record.get("artifacts") or ()),
                   record.get("run_id"))


def one_line(text: str, width: int = 160) -> str:
    """``text`` on one line, cut to ``width`` characters (an ellipsis says it was)."""
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


@dataclass(frozen=True)
class Failure:
    """One failure, as every output names it: a cell that failed whole (its model or its data: ``family`` is
    None, every family failed with it), or one family of a cell whose other families ended."""

    key: str
    label: str  # dataset/model/noise@severity/seed
    family: str | None
    reason: str

    @property
    def what(self) -> str:
        return "every family" if self.family is None else self.family


@dataclass(frozen=True)
class CellResult:
    cell: dict[str, Any]  # :meth:`bench.grid.Cell.describe`: key, names, labels, resolved parameters
    status: Status
    reason: str | None
    provenance: dict[str, Any]  # versions, machine, started, ended
    timings: Timings
    metrics: list[dict[str, Any]] = field(default_factory=list)  # :meth:`MetricResult.as_row` rows
    figures: dict[str, str] = field(default_factory=dict)  # kind: path in the store, or a not-applicable note
    training: Training | None = None
    cnn: CnnSteps | None = None
    footprint: Footprint | None = None  # of the cell's model (none for the baseline)
    input_psnr: float | None = None  # of the corrupted test set the cell is scored on
    eval_psnr: dict[str, float] = field(default_factory=dict)  # of the evaluation images, per severity
    items: dict[str, dict[str, Any]] = field(default_factory=dict)  # per-item vectors: test, items_id, values
    artifacts: dict[str, bytes] = field(default_factory=dict, repr=False, compare=False)  # figures, samples
    run_id: int | None = None  # the run that stored it (when read back)
    traceback: str | None = None  # of a failed cell: where the exception came from (``bench show KEY`` prints it)
    families: dict[str, FamilyRun] = field(default_factory=dict)  # by name: each family the cell has computed
    #: where the dataset's feature network came from ("trained": this cell trained it, "checkpoint", "memory"),
    #: for the progress (:func:`bench.cost.sources`); not stored
    features_source: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"a cell's status is one of {', '.join(STATUSES)}; got {self.status!r}")

    @property
    def key(self) -> str:
        return self.cell["key"]

    def record(self) -> dict[str, Any]:
        """The stored form; keys without a value are left out."""
        out: dict[str, Any] = {"cell": self.cell, "status": self.status, "reason": self.reason,
                               "metrics": self.metrics, "provenance": self.provenance, "wall_s": self.timings.wall_s}
        optional = {
            "eval_s": self.timings.eval_s,
            "train": None if self.training is None else vars(self.training),
            "figures": self.figures or None,
            "input_psnr": self.input_psnr,
            "eval_psnr": self.eval_psnr if self.status == "done" and self.input_psnr is not None else None,
            "items": self.items or None,
            "baseline_cnn": None if self.cnn is None else self.cnn.baseline_source,
            "cnn_validation": None if self.cnn is None or self.cnn.validation_images is None else {
                "images": self.cnn.validation_images, **(self.cnn.validation or {})},
            "cnn_steps": None if self.cnn is None else {k: v for k, v in (("augmented", self.cnn.augmented),
                                                                            ("baseline", self.cnn.baseline),
                                                                            ("reference", self.cnn.reference))
                                                        if v is not None},
            "footprint": None if self.footprint is None else vars(self.footprint),
            "run_id": self.run_id,
            "traceback": self.traceback,
            "families": {name: run.record() for name, run in self.families.items()} or None,
        }
        out.update((k, v) for k, v in optional.items() if v is not None)
        return out

    @classmethod
    def from_record(cls, record: dict[str, Any], artifacts: dict[str, bytes] | None = None) -> CellResult:
        train, steps = record.get("train"), record.get("cnn_steps")
        cnn = None
        if steps is not None or record.get("baseline_cnn") is not None:
            found = dict(record.get("cnn_validation") or {})
            images = found.pop("images", None)
            cnn = CnnSteps((steps or {}).get("baseline"), (steps or {}).get("augmented"), record.get("baseline_cnn"),
                           found or None, images, (steps or {}).get("reference"))
        return cls(cell=record["cell"], status=record["status"], reason=record.get("reason"),
                   provenance=record.get("provenance") or {},
                   timings=Timings(record.get("wall_s") or 0.0, record.get("eval_s")),
                   metrics=list(record.get("metrics") or []), figures=dict(record.get("figures") or {}),
                   training=None if train is None else Training(**{f.name: train.get(f.name) for f in fields(Training)}),
                   cnn=cnn,
                   footprint=None if record.get("footprint") is None else Footprint(**record["footprint"]),
                   input_psnr=record.get("input_psnr"), eval_psnr=dict(record.get("eval_psnr") or {}),
                   items=dict(record.get("items") or {}), artifacts=dict(artifacts or {}),
                   run_id=record.get("run_id"), traceback=record.get("traceback"),
                   families={name: FamilyRun.from_record(r) for name, r in (record.get("families") or {}).items()})

    @property
    def label(self) -> str:
        """The cell as progress lines name it: dataset/model/noise@severity/seed."""
        c = self.cell
        return f"{c['dataset']}/{c['model']}/{c['noise']}@{c['severity']}/seed{c['seed']}"

    def failed_families(self) -> dict[str, FamilyRun]:
        """The families of a cell that did not end (a cell whose model failed has all of them here)."""
        return {name: run for name, run in self.families.items() if run.status == "failed"}

    @property
    def outcome(self) -> Status:
        """The cell's one status, as every output says it: "failed" when the cell or any of its families
        failed, even when its other families ended (``status`` is the cell's own: its model and data; a
        cell "done" there keeps the metrics of the families that ended)."""
        return "failed" if self.status == "done" and self.failed_families() else self.status

    def failures(self) -> list[Failure]:
        """What failed in the cell: the cell whole, or each family that failed."""
        failed = self.failed_families()
        if self.status == "failed" and all(run.reason == self.reason for run in failed.values()):
            return [Failure(self.key, self.label, None, self.reason or "no reason was kept")]
        return [Failure(self.key, self.label, name, run.reason or "no reason was kept") for name, run in failed.items()]

    def status_line(self, width: int = 240) -> str:
        """How the cell ended, in one line: "done", "skipped: why", "failed: why" (the cell whole), or
        "failed: F, G (why); H (why); I done" (some families, grouped by reason); reasons cut to ``width``
        characters."""
        if self.outcome == "done":
            return "done"
        if self.outcome == "skipped":
            return f"skipped: {one_line(self.reason or '', width)}"
        failures = self.failures()
        if failures[0].family is None:
            return f"failed: {one_line(failures[0].reason, width)}"
        ended = sorted(n for n, run in self.families.items() if run.status == "done")
        reasons: dict[str, list[str]] = {}
        for f in failures:
            reasons.setdefault(f.reason, []).append(str(f.family))
        named = "; ".join(f"{', '.join(names)} ({one_line(reason, width)})" for reason, names in reasons.items())
        return f"failed: {named}" + (f"; {', '.join(ended)} done" if ended else "")
