"""What a metric is and what scoring one produces: :mod:`registry.metrics` (a family plugin declares its
metrics with these), re-exported for the harness's own modules."""

from registry.metrics import TESTS, Metric, MetricResult

__all__ = ["TESTS", "Metric", "MetricResult"]
