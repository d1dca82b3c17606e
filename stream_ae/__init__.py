"""stream-ae: streaming anomaly detection for sensor and monitoring time series."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("stream-ae")  # one place for it: pyproject.toml
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"
