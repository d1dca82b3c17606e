"""Memory stays bounded under a flood of distinct series ids."""

from __future__ import annotations

from pathlib import Path

from stream_ae.bench.flood import series_flood
from stream_ae.runtime.broker import EmbeddedBroker

from .conftest import base_settings, prefix

IDS = 300_000
"""The CI size (about 35 s on 2 cores). A million ids take about 100 s: the chaos
benchmark runs them (`python -m stream_ae.bench.flood 1000000`)."""
TOLERANCE = 20 * 2**20
"""What the process may grow by over the 200k ids after the second sample: the
allocator's pages still creep up for a while (measured +12 MiB here, about 60 B per
id, falling to about 20 B per id between 300k and 1M ids, while Python's own heap,
under tracemalloc, stayed flat). The old leak (the decoder's channel sets and the
series -> partition map were never freed) grew it by 33 MiB, about 175 B per id."""


def test_a_flood_of_series_ids_leaves_resident_memory_flat(
    broker: EmbeddedBroker, artifact: Path, tmp_path: Path
) -> None:
    settings = base_settings(tmp_path, broker.address, prefix())
    window = settings.window.model_copy(update={"max_series": 1000, "idle_evict_s": 10.0})
    model = settings.model.model_copy(update={"artifact": artifact})
    settings = settings.model_copy(update={"window": window, "model": model})

    samples = series_flood(settings, tmp_path, IDS, phases=6)

    print("\n".join(f"{s.points:>8} points {s.rss_bytes / 2**20:8.1f} MiB" for s in samples))
    # From the second sample on the store is long full: anything kept per id shows.
    first, last = samples[1], samples[-1]
    assert last.points == IDS
    assert last.evicted >= IDS - settings.window.max_series
    assert last.rss_bytes - first.rss_bytes < TOLERANCE, samples
