"""Which time steps and channels of a window drove its score."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stream_ae.core.normalize import Scale
from stream_ae.core.records import Contributor


def contributors(
    scale: Scale,
    *,
    normalised: np.ndarray,
    errors: np.ndarray | None,
    expected: np.ndarray | None,
    actual: np.ndarray,
    ts: np.ndarray,
    channel_names: Sequence[str],
    top: int,
) -> tuple[Contributor, ...]:
    """The `top` (step, channel) cells of one `[window, channels]` window by error.

    A scorer without a reconstruction (the online cold-start scorer) is
    explained by distance from the series' usual level: the normalised value
    squared, with the series mean as the expected value.
    """
    if errors is None or expected is None:
        errors = normalised.astype(np.float64) ** 2
        expected = np.zeros_like(normalised)
    expected_raw = scale.invert(expected[None, :, :])[0]
    flat = errors.reshape(-1)
    count = min(top, flat.size)
    best = np.argpartition(-flat, count - 1)[:count]
    best = best[np.argsort(-flat[best], kind="stable")]
    channels = errors.shape[1]
    out = []
    for cell in best.tolist():
        step, channel = divmod(cell, channels)
        out.append(
            Contributor(
                ts=float(ts[step]),
                channel=channel_names[channel],
                expected=float(expected_raw[step, channel]),
                actual=float(actual[step, channel]),
                error=float(flat[cell]),
            )
        )
    return tuple(out)
