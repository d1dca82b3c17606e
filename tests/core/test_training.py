import numpy as np

from stream_ae.core.training import TrainingCollector


def test_collector_keeps_the_first_windows_up_to_target() -> None:
    c = TrainingCollector(target=3)
    w = np.arange(5 * 2 * 1, dtype=np.float32).reshape(5, 2, 1)
    c.offer(tuple("ab"), w[:2])
    assert not c.ready
    c.offer(tuple("cde"), w[2:])
    assert c.ready and c.count == 3
    series, got = c.take()
    assert series == ("a", "b", "c")
    assert got[:, 0, 0].tolist() == [0.0, 2.0, 4.0]
    assert not c.ready
    c.offer(("z",), w[:1])
    assert c.count == 3
