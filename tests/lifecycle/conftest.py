from stream_ae.metrics import ServiceMetrics

from ..service.conftest import artifact

__all__ = ["artifact", "counted"]


def counted(metrics: ServiceMetrics, name: str, **labels: str) -> float:
    """A sample's value as the registry exports it (0 before its first increment)."""
    return metrics.registry.get_sample_value(name, labels) or 0.0
