"""Errors raised by stream-ae, each carrying its handling policy.

Callers decide what to do from the class and its `retriable` flag rather than
from the message text: a retriable error may succeed if the same call is made
again later (a broker that is restarting), a non-retriable one will fail the
same way until a person changes something (a typo in the configuration).

>>> err = ConfigError("window.length: must be >= 1 (got 0)")
>>> isinstance(err, StreamAEError), err.retriable
(True, False)
"""

from __future__ import annotations

from stream_ae.core.errors import StreamAEError

__all__ = ["ConfigError", "InputError", "StreamAEError"]


class ConfigError(StreamAEError):
    """The configuration (file, environment or arguments) is invalid; the message lists
    every problem, one per line."""


class InputError(StreamAEError):
    """An input file cannot be read as points: it is missing, empty, of an unknown format,
    or its columns do not match what was asked for. Bad rows inside a readable file are
    not errors: they become rejections and reading goes on."""
