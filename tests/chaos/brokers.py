"""Chaos scenarios of the broker: paused (SIGSTOP) and replaced by a new empty one."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import numpy as np

from stream_ae.connectors.kafka_common import ensure_topics
from stream_ae.runtime.broker import EmbeddedBroker

from ..service.conftest import base_settings, prefix
from .harness import (
    Context,
    Reader,
    Row,
    point_messages,
    scenario_settings,
    scorable,
    scored_until,
    send_all,
    services,
    sine,
    wait_joined,
    with_model,
)


async def broker_pause(ctx: Context) -> list[Row]:
    """SIGSTOP the broker for longer than a session, SIGCONT it, keep producing."""
    name = "broker-pause"
    rng = np.random.default_rng(ctx.seed + 5)
    s = with_model(scenario_settings(ctx, name), ctx.artifact)
    k = s.kafka
    points = sine([f"pause-{i}" for i in range(4)], 160, rng)
    half = len(points) // 2
    pid = ctx.broker.pid
    assert pid is not None
    await ensure_topics(k, [k.input_topic, k.alert_topic, k.dead_letter_topic, k.score_topic])
    with services(s, s.model.artifact_dir.parent, name) as group:
        service = group.start()
        await wait_joined(service)
        await send_all(ctx.broker.address, k.input_topic, point_messages(points[:half]))
        await asyncio.sleep(1.0)
        os.kill(pid, signal.SIGSTOP)
        try:
            await asyncio.sleep(10.0)
        finally:
            os.kill(pid, signal.SIGCONT)
        await send_all(ctx.broker.address, k.input_topic, point_messages(points[half:]))
        async with Reader(ctx.broker.address, [k.score_topic]) as reader:
            want = scorable(points)
            # It may have to rejoin its group first.
            scored = await scored_until(reader, k.score_topic, want, max(20, ctx.sizes.settle_s))
        alive = service.proc.poll() is None
        code = service.terminate() if alive else service.proc.returncode
    return [
        Row(name, "points unscored after a 10 s pause", len(want - scored), "0", f"of {len(want)}"),
        Row(name, "detector still running", int(alive), "yes"),
        Row(name, "exit code on SIGTERM", code, "0"),
    ]


def _errors_after(text: str, offset: int) -> int:
    return sum(1 for line in text[offset:].splitlines() if " ERROR " in line)


async def broker_replacement(ctx: Context) -> list[Row]:
    """Stop the broker, start a new empty one on the same port, keep producing."""
    name = "broker-replace"
    rng = np.random.default_rng(ctx.seed + 6)
    points = sine([f"repl-{i}" for i in range(4)], 160, rng)
    half = len(points) // 2
    first = EmbeddedBroker().start()
    second: EmbeddedBroker | None = None
    try:
        workdir = ctx.workdir / name
        workdir.mkdir(parents=True, exist_ok=True)
        s = with_model(base_settings(workdir, first.address, prefix()), ctx.artifact)
        k = s.kafka
        topics = [k.input_topic, k.alert_topic, k.dead_letter_topic, k.score_topic]
        await ensure_topics(k, topics)
        with services(s, workdir, name) as group:
            service = group.start()
            await wait_joined(service)
            await send_all(first.address, k.input_topic, point_messages(points[:half]))
            async with Reader(first.address, [k.score_topic]) as reader:
                await scored_until(
                    reader, k.score_topic, scorable(points[:half]), ctx.sizes.settle_s
                )
            mark = len(service.text())
            stopped = time.monotonic()
            port = first.port
            first.stop()
            await asyncio.sleep(3.0)
            second = EmbeddedBroker(port).start()
            # The upstream producer's topic comes back (as its owner would recreate it);
            # the detector's own topics are the detector's business.
            await ensure_topics(k, [k.input_topic])
            await send_all(second.address, k.input_topic, point_messages(points[half:]))
            # The rejoin on the new broker revokes every partition, which drops the
            # series' windows, and the new broker has nothing to rebuild them from: only
            # points that end a window of new points can be scored.
            want = scorable(points[half:])
            async with Reader(second.address, [k.score_topic]) as reader:
                quiet = max(20, ctx.sizes.settle_s)  # it reconnects and rejoins first
                scored = await scored_until(reader, k.score_topic, want, quiet)
            elapsed = time.monotonic() - stopped
            errors = _errors_after(service.text(), mark)
            alive = service.proc.poll() is None
            code = service.terminate() if alive else service.proc.returncode
    finally:
        first.stop()
        if second is not None:
            second.stop()
    return [
        Row(
            name,
            "new points unscored or not readable",
            len(want - scored),
            "0",
            f"of {len(want)} that end a window of new points",
        ),
        Row(
            name,
            "ERROR log lines per second",
            round(errors / elapsed, 1),
            "<=1",
            f"{errors} lines in {elapsed:.0f} s",
        ),
        Row(name, "exit code on SIGTERM", code, "0"),
    ]
