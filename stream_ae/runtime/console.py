"""Alerts as one line of text, for people watching a terminal (`run`, `detect`, `demo`)."""

from __future__ import annotations

import time

from stream_ae.core.records import Alert, AlertState


def describe(alert: Alert) -> str:
    """One line an on-call engineer can read."""
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(alert.ts))
    score, threshold = f"{alert.score:.4g}", f"{alert.threshold:.4g}"
    opened = alert.state is AlertState.OPEN
    if opened and alert.score > alert.threshold:
        verdict = f"score {score} > {threshold}"
    elif opened and alert.channel is not None and alert.score <= alert.threshold:
        # Only a channel's run of repeats, rarer than the score, opens an incident with
        # the score at or under its threshold: a stuck sensor reconstructs well.
        verdict = f"{alert.channel} stuck, score {score} under {threshold}"
    else:  # a resolve, or an alert read back without its numbers or channel
        verdict = f"score {score} vs {threshold}"
    line = (
        f"{when}Z {alert.state.value:<8} {alert.severity.value:<8} {alert.series} "
        f"{verdict} [{alert.scorer} {alert.model_version}]"
    )
    if opened and alert.contributors:
        top = alert.contributors[0]
        line += f" — {top.channel} was {top.actual:.4g}, expected {top.expected:.4g}"
    return line
