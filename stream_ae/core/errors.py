"""The base of every error stream-ae raises on purpose, low enough for every layer.

`stream_ae.errors` re-exports it beside the errors of the outer layers; the core and
the model import it from here, so they never reach up into the package's top level.
"""

from __future__ import annotations


class StreamAEError(Exception):
    """Base class of every error stream-ae raises on purpose."""

    retriable: bool = False
    """True when trying the same operation again later may succeed."""
