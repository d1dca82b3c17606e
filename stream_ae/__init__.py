"""stream-ae: streaming anomaly detection for sensor and monitoring time series.

The Python API (`fit_model`, `StreamDetector`, `Scores`) is imported on first use, so
`import stream_ae` stays light for the command line.
"""

from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("stream-ae")  # one place for it: pyproject.toml
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["Scores", "StreamDetector", "__version__", "fit_model"]


def __getattr__(name: str) -> Any:
    if name in ("Scores", "StreamDetector", "fit_model"):
        from stream_ae import api

        return getattr(api, name)
    raise AttributeError(f"module 'stream_ae' has no attribute {name!r}")
