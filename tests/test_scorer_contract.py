"""One contract, run over every Scorer implementation."""

from collections.abc import Callable

import numpy as np
import pytest

from stream_ae.core.scoring import Scorer
from stream_ae.model.autoencoder import LSTMAutoencoder, RecordAutoencoder
from stream_ae.model.online import HalfSpaceTreesScorer
from stream_ae.model.scorer import AutoencoderScorer

from .core.doubles import LastStepScorer

W, C = 12, 2


def autoencoder() -> Scorer:
    return AutoencoderScorer(LSTMAutoencoder(C, hidden=8, latent=4), "v1", W, C, device="cpu")


def dense_autoencoder() -> Scorer:
    module = RecordAutoencoder(C, window=W, hidden=8, latent=4)
    return AutoencoderScorer(module, "v1", W, C, device="cpu")


SCORERS: dict[str, Callable[[], Scorer]] = {
    "autoencoder": autoencoder,
    "dense-autoencoder": dense_autoencoder,
    "hst": lambda: HalfSpaceTreesScorer(W, C, window_size=5),
    "test-double": lambda: LastStepScorer(W, C),
}


@pytest.fixture(params=sorted(SCORERS))
def scorer(request: pytest.FixtureRequest) -> Scorer:
    return SCORERS[request.param]()


def windows(n: int) -> np.ndarray:
    return np.random.default_rng(n).normal(size=(n, W, C)).astype(np.float32)


def test_is_a_scorer_with_bounded_name(scorer: Scorer) -> None:
    assert isinstance(scorer, Scorer)
    assert scorer.name and len(scorer.name) <= 16 and scorer.version
    assert (scorer.window, scorer.channels) == (W, C)


def test_one_float_score_per_window(scorer: Scorer) -> None:
    got = scorer.score(windows(9))
    assert got.scores.shape == (9,) and got.scores.dtype == np.float64
    finite = got.scores[~np.isnan(got.scores)]
    assert np.all(np.isfinite(finite))
    for extra in (got.errors, got.expected):
        assert extra is None or extra.shape == (9, W, C)


def test_empty_batch(scorer: Scorer) -> None:
    assert scorer.score(np.zeros((0, W, C), np.float32)).scores.shape == (0,)


def test_wrong_shape_is_refused(scorer: Scorer) -> None:
    with pytest.raises(ValueError):
        scorer.score(np.zeros((2, W + 1, C), np.float32))
