"""The one-line alert text an on-call engineer reads in a terminal."""

from __future__ import annotations

import math
from dataclasses import replace

from stream_ae.core.records import Alert, AlertState, Contributor, Severity
from stream_ae.runtime.console import describe

T0 = 1_700_000_000.0  # 2023-11-14 22:13:20Z

OPENED = Alert(
    alert_id="a1",
    incident_id="i1",
    series="plant-2/boiler-02",
    ts=T0,
    score=2.5,
    threshold=1.25,
    severity=Severity.MAJOR,
    state=AlertState.OPEN,
    model_version="v1",
    scorer="lstm-ae",
    opened_ts=T0,
    contributors=(Contributor(T0, "pressure", 6.722, 9.5, 4.0),),
    channel="pressure",
)


def test_an_alert_the_score_opened_says_the_score_went_over_the_threshold() -> None:
    assert describe(OPENED) == (
        "2023-11-14 22:13:20Z open     major    plant-2/boiler-02 score 2.5 > 1.25 "
        "[lstm-ae v1] — pressure was 9.5, expected 6.722"
    )


def test_an_alert_a_stuck_channel_opened_does_not_claim_the_score_went_over() -> None:
    # The channel's run of repeats was rarer than the score: a stuck sensor reconstructs
    # well, so its score can sit under the threshold.
    stuck = replace(
        OPENED,
        score=0.4146,
        threshold=0.7309,
        contributors=(Contributor(T0, "pressure", 6.722, 6.477, 0.1),),
    )
    assert describe(stuck) == (
        "2023-11-14 22:13:20Z open     major    plant-2/boiler-02 pressure stuck, "
        "score 0.4146 under 0.7309 [lstm-ae v1] — pressure was 6.477, expected 6.722"
    )


def test_a_resolve_compares_without_a_verdict() -> None:
    resolved = replace(OPENED, state=AlertState.RESOLVED, score=0.3, contributors=(), channel=None)
    assert describe(resolved) == (
        "2023-11-14 22:13:20Z resolved major    plant-2/boiler-02 score 0.3 vs 1.25 [lstm-ae v1]"
    )


def test_an_alert_read_back_without_numbers_or_channel_claims_no_verdict() -> None:
    # `stream-ae alerts` reads alerts back off the topic: nulls come back as NaN, and
    # alerts written before the channel was recorded have none.
    unknown = replace(OPENED, score=math.nan, threshold=math.nan, channel=None)
    assert " score nan vs nan [lstm-ae v1]" in describe(unknown)
    no_bar = replace(OPENED, score=2.0, threshold=math.nan)
    assert " score 2 vs nan [lstm-ae v1]" in describe(no_bar)
    no_channel = replace(OPENED, score=0.4, channel=None)
    assert " score 0.4 vs 1.25 [lstm-ae v1]" in describe(no_channel)
