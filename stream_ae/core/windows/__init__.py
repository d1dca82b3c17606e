"""Per-series sliding windows kept in preallocated numpy ring buffers.

`WindowStore` is what callers use; it is made of a `SlotTable` (which series owns which
row), `Rings` (the points), `RunningStats` (what windows are scaled by), `Gaps` (what a
step between points means) and `PendingWindows` (windows not yet drained), and takes
ordinary points in runs through the compiled loop of `kernel`. Above hop 1 each series
scores on its own phase of the hop (`phase`).
"""

from stream_ae.core.windows import kernel
from stream_ae.core.windows.gaps import GapPolicy
from stream_ae.core.windows.phase import hop_phase
from stream_ae.core.windows.store import (
    DuplicatePolicy,
    Gathered,
    OutOfOrderPolicy,
    WindowStore,
)

__all__ = [
    "DuplicatePolicy",
    "GapPolicy",
    "Gathered",
    "OutOfOrderPolicy",
    "WindowStore",
    "hop_phase",
    "kernel",
]
