"""Likelihood of a VAE on clean test images, in nats: the negative ELBO and an importance-weighted
estimate of -log p(x) (Burda et al., 2016) with ``k`` samples from q(z|x).

Applies to models with a Gaussian posterior and a Bernoulli decoder: modules that provide
``posterior(x) -> (mu, logvar)`` and ``decode_logits(z)``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ..grad import inference_mode
from .metric import Metric, MetricResult

if TYPE_CHECKING:  # torch is imported where a metric is computed: declaring the metrics does not load it
    import torch

FAMILY = "likelihood"
NEG_ELBO = Metric("neg_elbo", FAMILY, False, "nats", "negative ELBO per test image (BCE + KL)", test="paired-t")
IW_NLL = Metric("iw_nll", FAMILY, False, "nats", "importance-weighted estimate of -log p(x) per test image",
                test="paired-t")
LIKELIHOOD = (NEG_ELBO, IW_NLL)
_LOG_2PI = math.log(2 * math.pi)


def likelihood_gap(likelihood: str | None, posterior: bool) -> str | None:
    """Why the likelihood metrics do not apply to a model whose spec declares ``likelihood`` and (or not)
    the ``posterior`` capability; None when they do."""
    if not posterior:
        return "the model declares no Gaussian posterior (capability 'posterior')"
    if likelihood is None:
        return "the model declares no decoder likelihood"
    if likelihood != "bernoulli":
        return f"the likelihood metrics are implemented for Bernoulli decoders; the model declares '{likelihood}'"
    return None


def _log_normal(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    return -0.5 * (_LOG_2PI + logvar + (z - mu).pow(2) / logvar.exp()).sum(-1)


@inference_mode
def neg_elbo(model: torch.nn.Module, x: torch.Tensor, batch: int = 1000) -> torch.Tensor:
    """Per-image negative ELBO with one posterior sample (BCE summed over pixels + analytic KL)."""
    import torch
    from torch.nn import functional as F

    out = []
    for i in range(0, len(x), batch):
        xb = x[i : i + batch]
        mu, logvar = model.posterior(xb)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        bce = F.binary_cross_entropy_with_logits(model.decode_logits(z), xb, reduction="none").flatten(1).sum(1)
        kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)
        out.append(bce + kl)
    return torch.cat(out)


@inference_mode
def iw_nll(model: torch.nn.Module, x: torch.Tensor, k: int, chunk: int = 100_000) -> torch.Tensor:
    """Per-image ``-log (1/k Σ p(x, z_i) / q(z_i | x))`` with ``z_i ~ q(z|x)``; samples are drawn in
    chunks of about ``chunk`` (image, sample) pairs to bound memory."""
    import torch
    from torch.nn import functional as F

    out = []
    per = max(1, chunk // k)
    for i in range(0, len(x), per):
        xb = x[i : i + per]
        mu, logvar = model.posterior(xb)
        z = mu.unsqueeze(1) + torch.randn(len(xb), k, mu.shape[1], device=mu.device) * (0.5 * logvar).exp().unsqueeze(1)
        logits = model.decode_logits(z.flatten(0, 1)).view(len(xb), k, -1)
        target = xb.flatten(1).unsqueeze(1).expand_as(logits)
        log_px_z = -F.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(-1)
        log_pz = _log_normal(z, torch.zeros_like(z), torch.zeros_like(z))
        log_qz = _log_normal(z, mu.unsqueeze(1), logvar.unsqueeze(1))
        out.append(-(torch.logsumexp(log_px_z + log_pz - log_qz, dim=1) - math.log(k)))
    return torch.cat(out)


def score_likelihood(model: torch.nn.Module, x: torch.Tensor, *, k: int, subset: int | None,
                     likelihood: str | None = "bernoulli", posterior: bool = True) -> list[MetricResult]:
    """Negative ELBO on all of ``x`` and the ``k``-sample estimate on its first ``subset`` images, for a
    model that declares a Bernoulli decoder and a Gaussian posterior (``likelihood``, ``posterior``)."""
    why = likelihood_gap(likelihood, posterior)
    if why:
        return [m.not_applicable(why) for m in LIKELIHOOD]
    model.eval()
    return [NEG_ELBO.result(neg_elbo(model, x)), IW_NLL.result(iw_nll(model, x[:subset], k))]
