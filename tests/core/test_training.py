import numpy as np

from stream_ae.core.training import TrainingCollector


def test_collector_keeps_only_normal_windows_up_to_target() -> None:
    c = TrainingCollector(target=3)
    w = np.arange(5 * 2 * 1, dtype=np.float32).reshape(5, 2, 1)
    c.offer(tuple("abcde"), w, keep=np.array([True, False, True, True, True]))
    assert c.ready and c.count == 3
    series, got = c.take()
    assert series == ("a", "c", "d")
    assert got[:, 0, 0].tolist() == [0.0, 4.0, 6.0]
    assert not c.ready
    c.offer(("z",), w[:1], keep=np.array([True]))
    assert c.count == 3
