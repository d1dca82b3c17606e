import numpy as np
import pytest

from stream_ae.model.online import HalfSpaceTreesScorer


def test_hst_has_no_opinion_until_its_reference_window_fills() -> None:
    scorer = HalfSpaceTreesScorer(window=8, channels=1, window_size=10)
    scores = scorer.score(np.zeros((15, 8, 1), np.float32)).scores
    assert np.isnan(scores[:10]).all() and np.isfinite(scores[10:]).all()


def test_hst_scores_outliers_higher() -> None:
    rng = np.random.default_rng(0)
    scorer = HalfSpaceTreesScorer(window=8, channels=2, window_size=50, seed=3)
    normal = (0.3 * rng.normal(size=(400, 8, 2))).astype(np.float32)
    scorer.score(normal)
    probe = normal[:20].copy()
    probe[10:, -3:, :] += 3.5
    s = scorer.score(probe).scores
    assert s[10:].mean() > s[:10].mean()


def test_hst_refuses_wrong_shape() -> None:
    with pytest.raises(ValueError, match=r"\[batch, 8, 1\]"):
        HalfSpaceTreesScorer(window=8, channels=1).score(np.zeros((2, 4, 1), np.float32))
