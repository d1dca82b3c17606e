"""Keep torch 2.13's `torch.jit` deprecation warnings out of users' logs.

torch 2.13 warns on every `torch.jit.script`, `save` and `load` that TorchScript
is deprecated; it still works, and the TorchScript artifact is the format this
project publishes, so the warning would only alarm operators. It is silenced
narrowly: that one message, that one category, only around those calls.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

_JIT_DEPRECATION = r"`torch\.jit\.\w+` is deprecated"


@contextlib.contextmanager
def quiet_jit() -> Iterator[None]:
    """Run the enclosed torch.jit calls without their DeprecationWarning.

    `warnings.catch_warnings` swaps the process-wide filter list, so another
    thread warning at the same moment could be affected; artifacts are loaded
    rarely (model swaps), which keeps that window small.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_JIT_DEPRECATION, category=DeprecationWarning)
        yield
