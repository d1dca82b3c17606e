"""The base of every error stream-ae raises on purpose, low enough for every layer.

`stream_ae.errors` re-exports it beside the errors of the outer layers; the core and
the model import it from here, so they never reach up into the package's top level.
"""

from __future__ import annotations


class StreamAEError(Exception):
    """Base class of every error stream-ae raises on purpose."""

    retriable: bool = False
    """True when trying the same operation again later may succeed."""
    exit_status: int = 2
    """What the command line exits with: 2 when a person must change something (usage,
    configuration, an input or model that cannot be read), 1 for a run that failed
    (a broker away, a fit that produced nothing)."""
