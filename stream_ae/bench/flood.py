"""A flood of distinct series ids through a real `stream-ae run`: its resident memory.

Each id sends one point, so every new id takes a slot in the window store and, once
`window.max_series` are live, evicts the idlest one. Whatever the process keeps per id
outside the store shows as resident memory growing with the ids; `series_flood`
samples the process' RSS as the points are consumed. Used by the service's memory
test (a few hundred thousand ids) and by the chaos benchmark (a million).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import orjson

from stream_ae.settings import Settings

T0 = 1_700_000_000.0


@dataclass(frozen=True, slots=True)
class RssSample:
    points: int
    """Points the service had consumed when the sample was taken."""
    rss_bytes: int
    evicted: int
    """Series evicted so far (idle)."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def _scrape(address: str) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://{address}/metrics", timeout=5).read().decode()
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


async def _produce(bootstrap: str, topic: str, ids: range, per_message: int) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, max_request_size=8_000_000, linger_ms=20
    )
    await producer.start()
    try:
        pending = []
        for start in range(ids.start, ids.stop, per_message):
            # One second apart: older ids are idle, so the store evicts them in turn.
            body = [
                {"series": f"flood-{i}", "ts": T0 + i, "value": float(i % 7)}
                for i in range(start, min(start + per_message, ids.stop))
            ]
            # One partition, so the ids arrive in time order and each new one finds the
            # idlest series idle (interleaved partitions would refuse some as `capacity`).
            pending.append(await producer.send(topic, orjson.dumps(body), partition=0))
            if len(pending) >= 200:
                await asyncio.gather(*pending)
                pending = []
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


def series_flood(
    settings: Settings,
    workdir: Path,
    ids: int,
    phases: int,
    *,
    per_message: int = 500,
    limit_s: float = 900.0,
) -> list[RssSample]:
    """Start `stream-ae run` with `settings` (give it a model artifact, a small
    window.max_series and a short window.idle_evict_s) and send `ids` distinct series,
    one point each in JSON arrays of `per_message`, in `phases` equal parts: each part
    is sent once the service consumed the one before, and its RSS is sampled then,
    while it idles (no fetch or batch in flight). `limit_s` only ends a hung run."""
    address = f"127.0.0.1:{_free_port()}"
    metrics = settings.metrics.model_copy(update={"address": address})
    settings = settings.model_copy(update={"metrics": metrics})
    config = workdir / "flood.toml"
    config.write_text(settings.summary())
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAM_AE_")}
    # Memory as shipped: `stream-ae run` limits its own malloc arenas (runtime/arenas.py)
    # unless the environment chooses; the environment this runs in is passed on.
    with (workdir / "flood.log").open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "stream_ae.cli", "run", "--config", str(config), "-q"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=workdir,
        )
    try:
        samples: list[RssSample] = []
        end = time.monotonic() + limit_s
        bounds = [round(ids * k / phases) for k in range(phases + 1)]
        for lo, hi in itertools.pairwise(bounds):
            topic = settings.kafka.input_topic
            asyncio.run(_produce(settings.kafka.bootstrap, topic, range(lo, hi), per_message))
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"stream-ae run exited with {proc.returncode}; see log")
                if time.monotonic() > end:
                    raise TimeoutError(f"gave up after {limit_s:.0f} s; samples {samples}")
                try:
                    values = _scrape(address)
                except OSError:  # not serving yet
                    values = {}
                if values.get("stream_ae_points_consumed_total", 0) >= hi:
                    break
                time.sleep(0.2)
            evicted = values.get('stream_ae_series_evicted_total{reason="idle"}', 0)
            samples.append(RssSample(hi, _rss(proc.pid), int(evicted)))
        return samples
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def main() -> None:
    """`python -m stream_ae.bench.flood [IDS]`: a million ids (by default) through a
    detector on an embedded broker; prints resident memory per phase."""
    import tempfile

    from stream_ae.runtime.broker import EmbeddedBroker
    from stream_ae.runtime.detect_job import run_detect

    ids = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker() as broker:
        work = Path(tmp)
        lines = ["timestamp,value"] + [f"{T0 + 60 * i},{i % 25 / 25:.3f}" for i in range(800)]
        (work / "train.csv").write_text("\n".join(lines) + "\n")
        base = Settings.model_validate(
            {
                "window": {"length": 16, "max_series": 1000, "idle_evict_s": 10.0},
                "model": {"hidden": 8, "latent": 4, "epochs": 4, "fit_after_windows": 300},
                "kafka": {"bootstrap": broker.address, "input_topic": "flood.points"},
            }
        )
        base = base.model_copy(
            update={"model": base.model.model_copy(update={"artifact_dir": work / "models"})}
        )
        fitted = run_detect(work / "train.csv", base, work / "fit", echo_alerts=False)
        model = base.model.model_copy(update={"artifact": Path(fitted.model_artifact)})
        started = time.monotonic()
        samples = series_flood(base.model_copy(update={"model": model}), work, ids, phases=10)
        print(f"{'ids':>9} {'RSS MiB':>8} {'evicted':>9}")
        for s in samples:
            print(f"{s.points:>9} {s.rss_bytes / 2**20:>8.1f} {s.evicted:>9}")
        print(f"{ids:,} ids in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
