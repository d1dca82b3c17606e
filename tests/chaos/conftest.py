"""The chaos scenarios share the service tests' fitted model."""

from ..service.conftest import artifact

__all__ = ["artifact"]
