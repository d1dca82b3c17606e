import json

import numpy as np

from stream_ae.connectors.kafka_sink import score_messages
from stream_ae.core.alerting import ACTIVE, OPENED, QUIET
from stream_ae.core.output import Scored


def test_every_scored_row_says_its_level_and_whether_an_incident_is_open() -> None:
    rows = Scored(
        series=("pump", "pump", "fan"),
        ts=np.array([1.0, 2.0, 1.0]),
        values=np.zeros((3, 1)),
        score=np.array([3.0, 2.5, 0.1]),
        threshold=np.array([1.0, 1.0, np.nan]),
        level=np.array([0.8, 0.7, np.nan]),
        state=np.array([OPENED, ACTIVE, QUIET], dtype=np.int8),
        scorer=("lstm-ae",) * 3,
    )
    messages = score_messages("scores", [rows])
    bodies = [json.loads(value) for _, _, value, _ in messages]
    assert [(b["series"], b["level"], b["alert_state"]) for b in bodies] == [
        ("pump", 0.8, "open"),
        ("pump", 0.7, "active"),
        ("fan", None, ""),
    ]
    assert bodies[2]["threshold"] is None
    assert [key for _, key, _, _ in messages] == [b"pump", b"pump", b"fan"]
