"""The metric suite. Each metric declares its direction, which the leaderboards use to rank."""

from .metric import Metric, MetricResult
from .reconstruction import RECONSTRUCTION, score_reconstruction

__all__ = ["Metric", "MetricResult", "RECONSTRUCTION", "score_reconstruction"]
