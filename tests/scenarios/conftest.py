"""Make the scenario scripts in benchmarks/scenarios importable by name."""

from __future__ import annotations

import sys
from pathlib import Path

SCENARIOS = Path(__file__).resolve().parents[2] / "benchmarks" / "scenarios"

if str(SCENARIOS) not in sys.path:
    sys.path.insert(0, str(SCENARIOS))
