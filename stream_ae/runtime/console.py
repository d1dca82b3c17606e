"""Alerts as one line of text, for people watching a terminal (`run`, `detect`, `demo`)."""

from __future__ import annotations

import time

from stream_ae.core.records import Alert, AlertState


def describe(alert: Alert) -> str:
    """One line an on-call engineer can read."""
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(alert.ts))
    line = (
        f"{when}Z {alert.state.value:<8} {alert.severity.value:<8} {alert.series} "
        f"score {alert.score:.4g} > {alert.threshold:.4g} [{alert.scorer} {alert.model_version}]"
    )
    if alert.state is AlertState.OPEN and alert.contributors:
        top = alert.contributors[0]
        line += f" — {top.channel} was {top.actual:.4g}, expected {top.expected:.4g}"
    else:
        line = line.replace(" > ", " vs ")
    return line
