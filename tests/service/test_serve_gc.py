"""`stream-ae run` keeps what its start made out of the collector's full walks.

Start leaves millions of objects that live as long as the process (torch, numba, the
model). Under load the interpreter ran a full collection every second or two, and each
walked them all again: 100-170 ms with both the event loop and the scorer stopped, in
the middle of the produce-to-alert latency (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .conftest import base_settings, prefix

# Runs `serve` as `stream-ae run` does, up to the moment the service would consume, and
# reports what the collector then tracks.
PROBE = """
import gc, json, sys
from pathlib import Path
from stream_ae.runtime import serve as serving
from stream_ae.settings import load_settings

async def consume(self, stop):
    print(json.dumps({"frozen": gc.get_freeze_count(), "tracked": len(gc.get_objects())}))

serving.DetectorService.run = consume
serving.serve(load_settings(sys.argv[1]), artifact=Path(sys.argv[2]), echo=False)
"""


def test_a_full_collection_no_longer_walks_what_start_made(artifact: Path, tmp_path: Path) -> None:
    config = tmp_path / "run.toml"
    config.write_text(base_settings(tmp_path, "127.0.0.1:1", prefix()).summary())
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(config), str(artifact)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    # Start makes about 200,000 objects here; what a full collection still walks once
    # the service runs is what it makes from then on.
    assert seen["frozen"] > 100_000
    assert seen["tracked"] < seen["frozen"] / 20
