"""How the decision layer's per-row loops are compiled."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypeVar

import numba

F = TypeVar("F", bound=Callable[..., Any])


def jit_no_alloc(error_model: Literal["python", "numpy"] = "python") -> Callable[[F], F]:
    """numba.njit for loops that allocate nothing: cached, run without the GIL, and
    compiled without reference counting. Counting the references of the arrays passed
    to every helper call, per row, took a fifth of the detector's own time at hop 1;
    the price is that such a loop cannot allocate (the caller hands it scratch and
    output arrays), which numba says at compile time."""
    options: dict[str, Any] = {
        "cache": True,
        "nogil": True,
        "error_model": error_model,
        "_nrt": False,
    }
    decorate: Callable[[F], F] = numba.njit(**options)
    return decorate
