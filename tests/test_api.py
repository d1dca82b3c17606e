"""The Python API: a model fitted on arrays or a DataFrame, a detector fed columns, river's
learn_one / score_one, and the README's example as written."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stream_ae import Scores, StreamDetector, fit_model
from stream_ae.errors import InputError
from stream_ae.settings import Settings

README = Path(__file__).resolve().parents[1] / "README.md"
QUICK = Settings.model_validate({"model": {"epochs": 3}})


def plant(start: str, n: int) -> pd.DataFrame:
    stamps = pd.date_range(start, periods=n, freq="1min", tz="UTC")
    phase = np.arange(n) / 15
    return pd.DataFrame(
        {
            "flow": np.sin(phase),
            "pressure": np.cos(phase),
            "anomaly": np.zeros(n, dtype=int),  # a label column: never a channel
        },
        index=stamps,
    )


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("models")
    return fit_model(plant("2026-01-01", 600), series="unit-1", settings=QUICK, out=out)


def test_a_dataframe_is_fitted_and_scored_by_its_columns_and_time_index(model: Path) -> None:
    detector = StreamDetector(model, QUICK)
    assert detector.channels == ("flow", "pressure")
    later = plant("2026-01-01 10:00", 200)
    later.iloc[120, 0] = 8.0  # flow jumps
    scores = detector.score(later, series="unit-1")
    frame = scores.to_frame()
    assert list(frame.columns) == ["series", "timestamp", "score", "threshold", "level", "state"]
    assert len(frame) == 200 - 31 and (frame.series == "unit-1").all()
    assert frame.timestamp.iloc[0] == later.index[31]
    spike_at = later.index[120]
    opened = [a for a in detector.alerts if a.state.value == "open"]
    assert opened and opened[0].channel == "flow"
    assert spike_at.timestamp() <= opened[0].ts <= spike_at.timestamp() + 600
    assert frame.level.max() > 0.9 and frame.level.median() < 0.5


def test_score_one_learns_nothing_and_ranks_a_spike_above_the_usual(model: Path) -> None:
    detector = StreamDetector(model, QUICK, series="unit-1")
    phase = np.arange(300) / 15
    for k in range(300):
        detector.learn_one({"flow": np.sin(phase[k]), "pressure": np.cos(phase[k])}, 60.0 * k)
    usual = {"flow": float(np.sin(300 / 15)), "pressure": float(np.cos(300 / 15))}
    spike = {"flow": 8.0, "pressure": usual["pressure"]}
    before = detector.score_one(usual)
    assert detector.score_one(spike) > 0.9 > before
    assert detector.score_one(usual) == before  # nothing was learned in between
    assert not detector.rejected


def test_score_one_scales_a_series_the_model_does_not_know_as_the_detector_does(
    model: Path,
) -> None:
    detector = StreamDetector(model, QUICK, series="unit-9")  # not fitted on: scaled online
    phase = np.arange(400) / 15
    for k in range(399):
        detector.learn_one({"flow": 3 + np.sin(phase[k]), "pressure": np.cos(phase[k])}, k)
    x = {"flow": 3 + float(np.sin(phase[399])), "pressure": float(np.cos(phase[399]))}
    predicted = detector.score_one(x)
    scored = detector.score(np.array([[x["flow"], x["pressure"]]]), ts=[399.0], series="unit-9")
    assert predicted == pytest.approx(float(scored.level[0]), abs=1e-6)


def test_score_one_sees_the_points_fed_by_score_too(model: Path) -> None:
    detector = StreamDetector(model, QUICK, series="unit-1")
    phase = np.arange(200) / 15
    history = np.column_stack([np.sin(phase), np.cos(phase)])
    detector.score(history[:199], ts=np.arange(199.0), series="unit-1")
    x = {"flow": float(history[199, 0]), "pressure": float(history[199, 1])}
    predicted = detector.score_one(x)
    scored = detector.score(history[199:], ts=[199.0], series="unit-1")
    assert predicted == pytest.approx(float(scored.level[0]), abs=1e-6)


def test_arrays_with_mismatched_lengths_or_channels_are_refused(model: Path) -> None:
    detector = StreamDetector(model, QUICK)
    with pytest.raises(InputError, match="one each"):
        detector.score(np.zeros((10, 2)), ts=np.arange(5.0))
    with pytest.raises(InputError, match="channels"):
        detector.score(np.zeros((10, 3)))
    assert isinstance(detector.score(np.zeros((3, 2))), Scores)
    with pytest.raises(InputError, match="was refused"):  # nothing fitted on a silent gap
        fit_model(np.zeros(100), ts=np.r_[np.arange(50.0), np.arange(50.0)], out=model.parent)


def test_the_readme_python_example_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    section = README.read_text().split("## From Python", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(compile(code.group(1), "README.md", "exec"), namespace)
    assert isinstance(namespace["scores"], Scores) and len(namespace["scores"]) > 0
    # What the example shows: its spike opens an alert on the flow channel.
    detector = namespace["detector"]
    assert isinstance(detector, StreamDetector)
    opened = [a for a in detector.alerts if a.state.value == "open"]
    assert [(a.series, a.channel) for a in opened] == [("pump-7", "flow")]


def test_learn_one_refuses_what_is_not_a_point_saying_why_and_goes_on(model: Path) -> None:
    # A pipeline hands over what it has: these used to raise TypeError, ValueError or
    # OverflowError from float() inside learn_one.
    detector = StreamDetector(model, QUICK, series="unit-1")
    for k in range(40):
        detector.learn_one({"flow": 0.1 * k, "pressure": 0.0}, 60.0 * k)
    for x, t in [
        ({"flow": "high", "pressure": 0.0}, 2400.0),
        ({"flow": None, "pressure": 0.0}, 2460.0),
        ({"flow": 10**400, "pressure": 0.0}, 2520.0),
        ({"flow": 0.5, "pressure": 0.0}, "noon"),
        ({"flow": 0.5, "pressure": 0.0}, 10**400),
    ]:
        detector.learn_one(x, t)  # type: ignore[arg-type]
    assert [r.reason.value for r in detector.rejected] == [
        "malformed",
        "malformed",
        "out_of_range",
        "malformed",
        "non_finite",
    ]
    detector.learn_one({"flow": 0.5, "pressure": 0.0}, 2580.0)  # and goes on
    assert len(detector.rejected) == 5


def test_learn_one_and_score_one_name_a_missing_channel(model: Path) -> None:
    detector = StreamDetector(model, QUICK, series="unit-1")
    with pytest.raises(InputError, match=r"x has no 'pressure'; give one value per channel"):
        detector.learn_one({"flow": 0.5})
    with pytest.raises(InputError, match=r"x has no 'pressure'; give one value per channel"):
        detector.score_one({"flow": 0.5})


def test_score_one_says_what_is_wrong_with_a_value_it_cannot_score(model: Path) -> None:
    # It used to raise the scorer's ValueError about windows holding NaN.
    detector = StreamDetector(model, QUICK, series="unit-1")
    for k in range(40):
        detector.learn_one({"flow": 0.1 * k, "pressure": 0.0}, 60.0 * k)
    for value, said in [
        (float("nan"), "x['flow'] = nan is not a finite number"),
        (float("inf"), "x['flow'] = inf is not a finite number"),
        (1e300, "x['flow'] = 1e+300 is beyond what float32 windows hold"),
        ("high", "x['flow'] = 'high' is not a number"),
    ]:
        with pytest.raises(InputError, match=re.escape(said)):
            detector.score_one({"flow": value, "pressure": 0.0})  # type: ignore[dict-item]


def test_learn_one_moves_on_after_a_window_refused_once_its_point_was_taken(
    model: Path,
) -> None:
    # 3e38 fits a float32 but not once scaled: the store takes the point and refuses
    # its window. The default time must still move on, or every later point would be a
    # duplicate of it.
    detector = StreamDetector(model, QUICK, series="unit-1")
    for k in range(40):
        detector.learn_one({"flow": 0.1 * k, "pressure": 0.0}, float(k))
    detector.learn_one({"flow": 3e38, "pressure": 0.0})
    for _ in range(3):
        detector.learn_one({"flow": 0.5, "pressure": 0.0})
    # Each window that holds the huge value is refused; none of the points is a duplicate.
    assert [(r.reason.value, r.ts) for r in detector.rejected] == [
        ("out_of_range", 40.0),
        ("out_of_range", 41.0),
        ("out_of_range", 42.0),
        ("out_of_range", 43.0),
    ]


def test_score_one_says_so_when_a_value_turns_the_window_non_finite(model: Path) -> None:
    detector = StreamDetector(model, QUICK, series="unit-1")
    for k in range(40):
        detector.learn_one({"flow": 0.1 * k, "pressure": 0.0}, float(k))
    with pytest.raises(InputError, match="non-finite once scaled"):
        detector.score_one({"flow": 3e38, "pressure": 0.0})
    with pytest.raises(InputError, match="x must map channel names to values"):
        detector.score_one(None)  # type: ignore[arg-type]


@pytest.mark.parametrize("series", [7, "", "a\nb"])
def test_a_detector_for_a_series_that_cannot_be_one_is_refused_at_once(
    model: Path, series: object
) -> None:
    with pytest.raises(InputError, match="cannot name a series"):
        StreamDetector(model, QUICK, series=series)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "said"),
    [
        ({"series": 5}, "series must be a name, or one name per point"),
        ({"series": b"pump"}, "series must be a name, or one name per point"),
        ({"series": ""}, "series must be a name, or one name per point"),
        ({"ts": ["noon"] * 3}, "ts must be numbers of seconds since the epoch"),
        ({"data": np.array([1 + 1j, 2, 3])}, "data must be real numbers"),
        ({"data": ["a", "b", "c"]}, "data must be real numbers"),
    ],
    ids=["int series", "bytes series", "empty series", "string times", "complex", "strings"],
)
def test_score_says_what_is_wrong_with_its_arguments(
    model: Path, kwargs: dict[str, object], said: str
) -> None:
    # These raised TypeError or ValueError from numpy, or went on quietly: bytes read
    # as four ids, "" as "series", complex values without their imaginary part.
    detector = StreamDetector(model, QUICK, series="unit-1")
    data = kwargs.pop("data", np.zeros((3, 2)))
    with pytest.raises(InputError, match=re.escape(said)):
        detector.score(data, **kwargs)  # type: ignore[arg-type]


def test_a_dataframe_with_other_columns_is_scored_on_the_models_channels(model: Path) -> None:
    later = plant("2026-01-01 10:00", 100)
    expected = StreamDetector(model, QUICK).score(later, series="unit-1")
    # As a database hands it over: Decimal numbers, a host, a rack number, a flag.
    later["pressure"] = [Decimal(repr(v)) for v in later["pressure"]]
    later["host"], later["rack"], later["maintenance"] = "h1", 7, False
    later = later[["host", "pressure", "rack", "flow", "maintenance", "anomaly"]]
    got = StreamDetector(model, QUICK).score(later, series="unit-1")
    assert np.array_equal(got.score, expected.score) and len(got) == 100 - 31


def test_fit_model_takes_the_channels_named_from_a_dataframe(tmp_path: Path) -> None:
    frame = plant("2026-01-01", 300)
    frame["maintenance"] = False  # never a channel unless named
    fitted = fit_model(frame, channels=["pressure"], settings=QUICK, out=tmp_path / "one")
    assert StreamDetector(fitted, QUICK).channels == ("pressure",)
    with pytest.warns(UserWarning, match="'maintenance' is true/false"):
        fitted = fit_model(frame, settings=QUICK, out=tmp_path / "all")
    assert StreamDetector(fitted, QUICK).channels == ("flow", "pressure")


def test_a_point_without_a_series_id_is_refused_not_named_nan(model: Path) -> None:
    later = plant("2026-01-01 10:00", 60)
    later["series"] = ["unit-1"] * 60
    later.loc[later.index[40], "series"] = None
    detector = StreamDetector(model, QUICK)
    scores = detector.score(later)
    assert set(scores.series.tolist()) == {"unit-1"} and len(scores) == 59 - 31
    assert [(r.reason.value, r.ts) for r in detector.rejected] == [
        ("invalid_series", later.index[40].timestamp())
    ]
    arrays = StreamDetector(model, QUICK)
    arrays.score(np.zeros((3, 2)), series=["unit-2", float("nan"), "unit-2"])  # type: ignore[list-item]
    assert [r.reason.value for r in arrays.rejected] == ["invalid_series"]
