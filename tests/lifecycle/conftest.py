from ..service.conftest import artifact

__all__ = ["artifact"]  # the session's small model, shared with the service tests
