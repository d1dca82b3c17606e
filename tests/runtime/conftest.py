from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stream_ae.settings import Settings

WINDOW = 16


@pytest.fixture
def small_settings(tmp_path: Path) -> Settings:
    """Small enough that a first fit takes a second or two."""
    return Settings.model_validate(
        {
            "window": {"length": WINDOW},
            "model": {
                "hidden": 8,
                "latent": 4,
                "epochs": 4,
                "batch_size": 32,
                "patience": 2,
                "fit_after_windows": 150,
                "artifact_dir": str(tmp_path / "models"),
            },
            "threshold": {"history": 300, "warmup": 100, "quantile": 0.99},
            "alerts": {"open_k": 1, "open_n": 1, "resolve_after": 3, "cooldown": 5},
            "cold_start": {"hst_window": 20},
            "files": {"batch_points": 64},
        }
    )


def sine_csv(path: Path, n: int = 600, spike_at: int | None = 450, extra: str = "") -> Path:
    t0 = 1_700_000_000
    values = np.sin(2 * np.pi * np.arange(n) / 25)
    if spike_at is not None:
        values[spike_at] += 6.0
    lines = ["timestamp,value"] + [f"{t0 + 60 * i},{v:.5f}" for i, v in enumerate(values)]
    path.write_text("\n".join(lines) + "\n" + extra)
    return path
