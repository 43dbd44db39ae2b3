"""Latent separability: how well the classes separate in a model's codes (scikit-learn throughout).

Codes are encoder means (a VAE's μ), standardised with the training codes' statistics. Each metric is
computed for the codes of clean test inputs and, with the suffix ``_noisy``, of corrupted ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..grad import inference_mode
from .metric import Metric, MetricResult

if TYPE_CHECKING:  # torch is imported where a metric is computed: declaring the metrics does not load it
    import torch

FAMILY = "latent"
ACTIVE_UNIT_THRESHOLD = 0.01  # Cov_x E[z_u] above this: the unit carries information (Burda et al.)


def _metrics(suffix: str) -> dict[str, Metric]:
    which = "noisy" if suffix else "clean"
    return {
        "knn": Metric(f"knn_acc{suffix}", FAMILY, True, "", f"5-NN accuracy of {which} test codes, fit on training codes",
                      test="mcnemar"),
        "probe": Metric(f"probe_acc{suffix}", FAMILY, True, "", f"linear-probe (logistic regression) accuracy, {which} codes",
                        test="mcnemar"),
        "silhouette": Metric(f"silhouette{suffix}", FAMILY, True, "",
                             f"silhouette of the true classes, {which} codes, in [-1, 1]",
                             test="paired-t"),
        "db": Metric(f"davies_bouldin{suffix}", FAMILY, False, "", f"Davies-Bouldin index of the true classes, {which} codes"),
        "nmi": Metric(f"kmeans_nmi{suffix}", FAMILY, True, "", f"NMI of k-means clusters with the classes, {which} codes"),
    }


ACTIVE_UNITS = Metric("active_units", FAMILY, True, "units", "latent units with Cov_x E[z_u] > 0.01 (clean test codes)")


@inference_mode
def encode(model: torch.nn.Module, x: torch.Tensor, batch: int = 2000) -> np.ndarray:
    """Encoder means of ``x`` as a float64 array ``[N, latent]``."""
    import torch

    model.eval()
    return torch.cat([model.encode(x[i : i + batch]).flatten(1) for i in range(0, len(x), batch)]).double().cpu().numpy()


def active_units(codes: np.ndarray) -> MetricResult:
    if not np.isfinite(codes).all():
        return ACTIVE_UNITS.not_applicable("codes contain NaN or inf")
    return ACTIVE_UNITS.estimate(float((codes.var(axis=0) > ACTIVE_UNIT_THRESHOLD).sum()))


def _problem(train_codes: np.ndarray, train_y: np.ndarray, test_codes: np.ndarray, test_y: np.ndarray) -> str | None:
    if not (np.isfinite(train_codes).all() and np.isfinite(test_codes).all()):
        return "codes contain NaN or inf"
    if len(np.unique(test_y)) < 2 or len(np.unique(train_y)) < 2:
        return "fewer than two classes"
    return None


def score_latent(
    train_codes: np.ndarray,
    train_y: np.ndarray,
    test_codes: np.ndarray,
    test_y: np.ndarray,
    *,
    noisy: bool = False,
    seed: int = 0,
    silhouette_sample: int = 2000,
) -> list[MetricResult]:
    """Separability of ``test_codes`` by ``test_y``; k-NN and probe are fit on the training codes.

    Each metric that cannot be computed says why (not applicable) and the others still run.
    """
    import torch
    from sklearn.cluster import KMeans  # scikit-learn loads when codes are scored, not when the family is listed
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import davies_bouldin_score, normalized_mutual_info_score, silhouette_samples
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.preprocessing import StandardScaler

    m = _metrics("_noisy" if noisy else "")
    problem = _problem(train_codes, train_y, test_codes, test_y)
    if problem:
        return [metric.not_applicable(problem) for metric in m.values()]
    scaler = StandardScaler().fit(train_codes)
    train_z, test_z = scaler.transform(train_codes), scaler.transform(test_codes)
    results = []

    if len(train_z) > 5:
        knn = KNeighborsClassifier(n_neighbors=5).fit(train_z, train_y)
        results.append(m["knn"].result(torch.as_tensor(knn.predict(test_z) == test_y)))
    else:
        results.append(m["knn"].not_applicable(f"{len(train_z)} training codes, 5-NN needs more than 5"))

    probe = LogisticRegression(max_iter=1000).fit(train_z, train_y)
    results.append(m["probe"].result(torch.as_tensor(probe.predict(test_z) == test_y)))

    labels, counts = np.unique(test_y, return_counts=True)
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(test_z), min(silhouette_sample, len(test_z)), replace=False)
    if len(np.unique(test_y[idx])) < 2 or len(np.unique(test_y[idx])) >= len(idx):
        results.append(m["silhouette"].not_applicable("the subsample needs 2 to n-1 classes"))
    else:
        results.append(m["silhouette"].result(torch.as_tensor(silhouette_samples(test_z[idx], test_y[idx]))))

    if (counts < 2).any():
        results.append(m["db"].not_applicable(f"class {labels[counts < 2][0]} has a single test sample"))
    else:
        results.append(m["db"].estimate(davies_bouldin_score(test_z, test_y)))

    clusters = KMeans(n_clusters=len(labels), n_init=10, random_state=seed).fit_predict(test_z)
    results.append(m["nmi"].estimate(normalized_mutual_info_score(test_y, clusters)))
    return results
