import numpy as np
import pytest

from stream_ae.core.stillness import StuckChannels, run_profile, trailing_repeats

W = 16
ONE = np.array([0])


def feed(stuck: StuckChannels, values: np.ndarray, w: int = W) -> list[float]:
    """Push one series' values [steps, channels] window by window (hop 1); the
    exponent of each window, taken before it is learned."""
    out = []
    for end in range(w, len(values) + 1):
        window = values[None, end - w : end]
        x, _ = stuck.exponent(ONE, window)
        out.append(float(x[0]))
        stuck.learn(ONE, window)
    return out


def noisy(n: int, seed: int = 0, channels: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, channels)).astype(np.float32)


def test_a_noisy_channel_that_sticks_is_rare_within_two_repeats_and_stays_rare() -> None:
    values = noisy(2500)
    values[2300:2450, 0] = values[2299, 0]
    xs = feed(StuckChannels(1, 0.995, W), values)
    normal, stuck = xs[: 2300 - W + 1], xs[2300 - W + 1 : 2450 - W + 1]
    assert np.nanmax(normal) < 1.0
    assert stuck[1] >= 1.5  # two repeats: the policy's opening ratio
    assert min(stuck[1:]) >= 1.5 and stuck == sorted(stuck)  # never learned while it lasts
    assert xs[2450 - W + 1 + 5] < 1.0  # moving again


def test_runs_as_long_as_the_series_usually_has_are_not_rare() -> None:
    # A counter that sits at zero for 5 to 10 steps at a time, every 40 steps.
    rng = np.random.default_rng(1)
    values = rng.poisson(20.0, size=(6000, 1)).astype(np.float32)
    for start in range(0, 6000, 40):
        values[start : start + rng.integers(5, 11), 0] = 0.0
    xs = feed(StuckChannels(1, 0.995, W), values)
    # the longest usual runs sit about at the quantile, none near the opening ratio
    assert max(xs[3000:]) < 1.5
    assert np.mean(np.array(xs[3000:]) >= 1.0) < 0.005


def test_a_run_that_lasts_escape_after_steps_becomes_normal() -> None:
    values = noisy(3000)
    values[2000:, 0] = 3.0  # held constant on purpose from here on
    xs = feed(StuckChannels(1, 0.995, W, escape_after=200), values)
    at = 2000 - W + 1
    assert min(xs[at + 2 : at + 200]) >= 1.5
    assert max(xs[at + 260 :]) < 1.0


def test_the_rarest_channel_is_named_and_others_do_not_dilute_it() -> None:
    values = noisy(2500, channels=6)
    values[2400:, 4] = values[2399, 4]
    stuck = StuckChannels(6, 0.995, W)
    feed(stuck, values[:2420])
    x, channel = stuck.exponent(ONE, values[None, 2420 - W : 2420])
    assert x[0] >= 1.5 and channel.tolist() == [4]


def test_no_verdict_while_warming_up_or_after_a_reset() -> None:
    stuck = StuckChannels(1, 0.995, W, warmup=50)
    values = noisy(200)
    xs = feed(stuck, values)
    first = 50 - (W - 1) + 1  # a first window brings W - 1 steps
    assert np.isnan(xs[:first]).all() and not np.isnan(xs[first:]).any()
    stuck.reset(0)
    x, channel = stuck.exponent(ONE, values[None, -W:])
    assert np.isnan(x[0]) and channel[0] == -1


def test_a_window_of_one_step_holds_no_run() -> None:
    stuck = StuckChannels(1, 0.995, window=1, warmup=1)
    stuck.learn(ONE, np.ones((1, 1, 1)))
    x, _ = stuck.exponent(ONE, np.ones((1, 1, 1)))
    assert np.isnan(x[0])


def test_hop_counts_the_steps_between_windows() -> None:
    # Windows every 4 steps of a noisy series: as many steps seen as with hop 1.
    values = noisy(800)
    stuck = StuckChannels(1, 0.995, W, hop=4, warmup=100)
    for end in range(W, 800 + 1, 4):
        stuck.learn(ONE, values[None, end - W : end])
    x, _ = stuck.exponent(ONE, np.concatenate([values[-W:-1], values[-2:-1]])[None])
    # one repeat after ~800 steps without any: p = 0.5 / ~800
    assert x[0] == pytest.approx(np.log(0.5 / 786) / np.log(0.005), rel=0.05)


def test_trailing_repeats_per_channel() -> None:
    windows = np.array([[[1.0, 5.0], [2.0, 5.0], [2.0, 5.0], [2.0, 6.0]]])
    assert trailing_repeats(windows).tolist() == [[2, 0]]


@pytest.mark.parametrize(
    "kwargs",
    [{"channels": 0}, {"quantile": 1.0}, {"window": 0}, {"hop": 0}, {"escape_after": 0}],
)
def test_bad_settings_are_refused(kwargs: dict[str, float]) -> None:
    args = {"channels": 1, "quantile": 0.995, "window": W, **kwargs}
    with pytest.raises(ValueError, match="must be"):
        StuckChannels(**args)  # type: ignore[arg-type]


def test_a_profile_of_fit_windows_judges_like_the_stream_it_came_from() -> None:
    # Zeros in runs of 5 to 10 every 40 steps: fed as a stream, or profiled from its
    # windows (every third one: a fit's sample) and seeded, a run of 8 zeros is usual
    # and one of 30, three times the longest, is not.
    w = 32
    rng = np.random.default_rng(3)
    values = rng.poisson(20.0, size=(2000, 1)).astype(np.float32)
    for start in range(0, 2000, 40):
        values[start : start + rng.integers(5, 11), 0] = 0.0
    streamed = StuckChannels(1, 0.995, w)
    feed(streamed, values, w)
    seeded = StuckChannels(1, 0.995, w, warmup=300)
    fit = np.stack([values[end - w : end] for end in range(w, 2001, 3)])
    seeded.seed(0, run_profile(fit))
    for run, usual in ((8, True), (30, False)):
        window = np.concatenate([np.full((w - run - 1, 1), 21.0), np.zeros((run + 1, 1))])
        x = [
            float(j.exponent(ONE, window[None].astype(np.float32))[0][0])
            for j in (streamed, seeded)
        ]
        assert all((v < 1.0) if usual else (v >= 1.5) for v in x), (run, x)


def test_runs_of_a_channel_that_repeats_by_nature_are_judged_calibrated() -> None:
    # Counts that are mostly zero (Poisson mean 0.3): runs of zeros thin out
    # geometrically and the longest in a history are each new. As rare as the quantile
    # says: about 1 - q of the steps at x >= 1, and (1 - q)^1.5 at the opening ratio,
    # where the runs seen alone would call every new longest run stuck (3x as many with
    # a history of 2000 steps; a longer one, or a longer fit, holds more long runs).
    w = 32
    values = np.random.default_rng(0).poisson(0.3, size=(20000, 1)).astype(np.float32)
    xs = np.array(feed(StuckChannels(1, 0.995, w, horizon=2000), values, w)[2000:])
    assert 0.5 * 0.005 <= np.mean(xs >= 1.0) <= 2 * 0.005
    assert np.mean(xs >= 1.5) <= 2 * 0.005**1.5


def test_a_profile_for_another_window_is_refused() -> None:
    with pytest.raises(ValueError, match="another window or channels"):
        StuckChannels(1, 0.995, W).seed(0, np.zeros((W + 1, 1)))


def test_a_run_past_escape_after_is_counted_once_however_long_it_lasts() -> None:
    # A long window and a run that outlasts escape_after: counted from escape_after on,
    # each step once, so no more steps sit in runs than were seen.
    w = 512
    stuck = StuckChannels(1, 0.995, w, warmup=1, horizon=10**9, escape_after=200)
    window = np.zeros((1, w, 1))
    for _ in range(400):
        stuck.learn(ONE, window)
    assert stuck.share(0, 1)[0] <= 1.0 + 1e-6


@pytest.mark.parametrize("hop", [1, 4, 8])
def test_runs_between_windows_are_counted_whatever_the_hop(hop: int) -> None:
    # Coarse readings (one decimal of a unit normal): repeats are common. The share of
    # steps in a run is what the windows show, at any hop, and what a fit's profile says.
    values = np.round(np.random.default_rng(5).normal(size=(8000, 1)), 1).astype(np.float32)
    stuck = StuckChannels(1, 0.995, W, hop=hop, horizon=10**9)
    for end in range(W, 8001, hop):
        stuck.learn(ONE, values[None, end - W : end])
    profile = run_profile(np.stack([values[e - W : e] for e in range(W, 8001)]))
    expected = profile[1, 0] / profile[0, 0]
    assert stuck.share(0, 1)[0] == pytest.approx(expected, rel=0.05)


def test_a_run_as_long_as_a_long_window_still_has_a_finite_exponent() -> None:
    w = 2048
    stuck = StuckChannels(1, 0.995, w, warmup=1)
    stuck.learn(ONE, np.arange(w, dtype=np.float64).reshape(1, w, 1))
    x, _ = stuck.exponent(ONE, np.zeros((1, w, 1)))
    assert np.isfinite(x[0]) and x[0] > 100
