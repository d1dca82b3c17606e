"""Which time steps and channels of a window drove its score."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stream_ae.core.normalize import Scale
from stream_ae.core.records import Contributor


def channel_ranking(errors: np.ndarray, channel_errors: np.ndarray | None) -> np.ndarray:
    """Channels of one window, the one that drove its score first.

    `channel_errors` are what the scorer combined into the score (each channel's error
    on its own scale); a scorer without them is ranked by the mean of `errors` over
    the window.

    >>> channel_ranking(np.zeros((4, 3)), np.array([0.5, 3.0, 1.0])).tolist()
    [1, 2, 0]
    """
    per_channel = errors.mean(axis=0) if channel_errors is None else channel_errors
    return np.argsort(-np.asarray(per_channel, dtype=np.float64), kind="stable")


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
    channel_errors: np.ndarray | None = None,
) -> tuple[Contributor, ...]:
    """The `top` (step, channel) cells of one `[window, channels]` window that drove it.

    Channels come in the order of `channel_ranking`, so the first contributor is the
    channel that drove the score; each channel gives its worst step, and when there
    are fewer channels than `top` the next worst steps follow in the same order (one
    channel: its `top` worst steps).

    A scorer without a reconstruction (the online cold-start scorer) is
    explained by distance from the series' usual level: the normalised value
    squared, with the series mean as the expected value.
    """
    if errors is None or expected is None:
        errors = normalised.astype(np.float64) ** 2
        expected = np.zeros_like(normalised)
    expected_raw = scale.invert(expected[None, :, :])[0]
    channels = errors.shape[1]
    order = channel_ranking(errors, channel_errors)
    # worst[r, c]: channel c's r-th worst step; cell k is round k // C, channel order[k % C].
    worst = np.argsort(-errors, axis=0, kind="stable")
    out = []
    for k in range(min(top, errors.size)):
        channel = int(order[k % channels])
        step = int(worst[k // channels, channel])
        out.append(
            Contributor(
                ts=float(ts[step]),
                channel=channel_names[channel],
                expected=float(expected_raw[step, channel]),
                actual=float(actual[step, channel]),
                error=float(errors[step, channel]),
            )
        )
    return tuple(out)
