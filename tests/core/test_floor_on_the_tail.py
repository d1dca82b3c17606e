"""`threshold.floor` says what a floor far above a series' scores does to opening when
judged on the tail: at the default quantile, `alerts.open_ratio` 1.5 opens at about 2.2
times the floor."""

import numpy as np
import pytest

from stream_ae.core.alerting import OPENED
from stream_ae.core.records import Point
from stream_ae.settings import Settings

from .doubles import last_step_detector

FLOOR = 4.0


def opens_at(times_the_floor: float) -> bool:
    settings = Settings.model_validate(
        {
            "threshold": {"warmup": 1, "floor": FLOOR},
            "alerts": {"open_k": 1, "open_n": 1},
        }
    )
    detector = last_step_detector(settings)
    window = settings.window.length
    clean = 0.5 * np.sin(np.arange(window + 50))  # scores up to 0.25, far under the floor
    last = float(np.sqrt(times_the_floor * FLOOR))
    points = [Point("s", float(t), (float(v),)) for t, v in enumerate([*clean, last])]
    scored = detector.process(points).scored
    scores = np.concatenate([rows.score for rows in scored])
    assert scores[-1] == pytest.approx(times_the_floor * FLOOR)  # the newest value squared
    return bool(np.concatenate([rows.state for rows in scored])[-1] == OPENED)


@pytest.mark.parametrize(("times_the_floor", "opens"), [(1.5, False), (1.9, False), (2.4, True)])
def test_a_floor_stretches_the_tail(times_the_floor: float, opens: bool) -> None:
    assert Settings().alerts.open_ratio == 1.5 and Settings().alerts.judged_on == "tail"
    assert opens_at(times_the_floor) is opens
