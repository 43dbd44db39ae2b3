"""The latent family: how well the classes separate in the model's codes of clean and of corrupted test
images (:mod:`bench.metrics.latent`), and the t-SNE and traversal figures of the codes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from registry import FamilySpec, MetricResult, NotApplicable

from ..metrics.latent import ACTIVE_UNITS, _metrics, active_units, encode, score_latent

if TYPE_CHECKING:
    from ..context import Context


def score(ctx: Context) -> list[MetricResult]:
    train_codes, test_codes = ctx.codes()
    train_y, test_y = ctx.train_y.cpu().numpy(), ctx.eval_y.cpu().numpy()
    clean = ctx.memo(["latent", "clean"], lambda: [
        *score_latent(train_codes, train_y, test_codes, test_y, seed=ctx.cell.seed), active_units(test_codes)])
    noisy_codes = encode(ctx.model, ctx.noisy_test[ctx.split.eval_idx])
    _figures(ctx, test_codes, test_y)
    return [*clean, *score_latent(train_codes, train_y, noisy_codes, test_y, noisy=True, seed=ctx.cell.seed)]


def _figures(ctx: Context, codes: np.ndarray, labels: np.ndarray) -> None:
    """The t-SNE of the evaluation codes and a traversal of the latent space (once per model)."""
    from .. import figures  # matplotlib and scikit-learn's t-SNE load when there is drawing to do

    cell = ctx.cell
    idx = np.random.default_rng(cell.seed).permutation(len(codes))[: cell.profile.tsne_points]
    title = f"{cell.model_label} on {cell.dataset}" + (f" ({cell.noise_label} s{cell.severity})"
                                                      if ctx.model_spec.denoising else "")
    makers = {
        "tsne": lambda: figures.tsne_png(codes[idx], labels[idx], ctx.classes, title=f"t-SNE of {title}",
                                         seed=cell.seed),
        "traversal": lambda: figures.traversal_png(ctx.model, codes, tuple(ctx.train_x.shape[1:]),
                                                   title=f"latent traversal of {title}"),
    }
    for kind, make in makers.items():
        def draw(make=make):
            try:
                return make()
            except figures.NotApplicable as exc:
                return NotApplicable(str(exc))

        ctx.add_figure(kind, ctx.memo(["figure", kind], draw))


LATENT = FamilySpec(
    "latent", "1", "separability of the classes in the codes of clean and corrupted test images: k-NN, linear "
    "probe, silhouette, Davies-Bouldin, k-means NMI, active units; t-SNE and traversal figures",
    (*_metrics("").values(), ACTIVE_UNITS, *_metrics("_noisy").values()), score, headline="probe_acc", cost=0.3,
    title="latent separability")
