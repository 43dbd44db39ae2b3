"""The likelihood family: negative ELBO and importance-weighted NLL of the test images, for a model with a
Gaussian posterior and a declared decoder likelihood (:mod:`bench.metrics.likelihood`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from registry import FamilySpec, MetricResult

from ..metrics.likelihood import LIKELIHOOD as METRICS
from ..metrics.likelihood import score_likelihood

if TYPE_CHECKING:
    from ..context import Context


def score(ctx: Context) -> list[MetricResult]:
    def compute() -> list[MetricResult]:
        spec, profile = ctx.model_spec, ctx.profile
        with ctx.seeded("likelihood"):
            return score_likelihood(ctx.model, ctx.eval_x, k=profile.iw_samples, subset=profile.iw_size,
                                    likelihood=spec.likelihood, posterior="posterior" in spec.capabilities)

    return ctx.memo(["likelihood"], compute)


LIKELIHOOD = FamilySpec(
    "likelihood", "1", "negative ELBO and importance-weighted NLL per test image (a posterior and a declared "
    "decoder likelihood)", METRICS, score, headline="iw_nll", needs=("posterior",), cost=0.1, title="likelihood (VAEs)")
