"""stream-ae: streaming anomaly detection for sensor and monitoring time series."""

__version__ = "0.1.0"
