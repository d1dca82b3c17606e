"""Chaos scenarios of the detector process: SIGKILL at random moments (during a backlog
and during live traffic), SIGTERM under load and while Kafka is unreachable, and a
corrupt `current` model."""

from __future__ import annotations

import asyncio
import contextlib
import math
import shutil
import signal
import time
from collections import Counter
from typing import Any

import numpy as np

from stream_ae import wiring
from stream_ae.connectors.kafka_common import ensure_topics

from ..service.conftest import base_settings, prefix
from .harness import (
    Context,
    Offsets,
    Reader,
    Row,
    free_port,
    last_error,
    point_messages,
    scenario_settings,
    scorable,
    scored_until,
    send_all,
    services,
    settle,
    sine,
    until,
    wait_joined,
    with_model,
)


async def sigkill(ctx: Context, live: bool) -> list[Row]:
    """SIGKILL the detector `kills` times at random moments, then let one finish."""
    name = "sigkill-live" if live else "sigkill-backlog"
    rng = np.random.default_rng(ctx.seed + (1 if live else 0))
    batch = 50
    s = with_model(scenario_settings(ctx, name, max_batch_points=batch), ctx.artifact)
    k, sz = s.kafka, ctx.sizes
    names = [f"{name}-{i}" for i in range(sz.kill_series)]
    points = sine(names, sz.live_steps if live else sz.backlog_steps, rng, spikes=3)
    want = scorable(points)
    workdir = s.model.artifact_dir.parent
    await ensure_topics(k, [k.input_topic, k.alert_topic, k.dead_letter_topic, k.score_topic])
    kills = 0
    address = ctx.broker.address
    with services(s, workdir, name) as group:
        async with (
            Offsets(address, k.group_id, k.input_topic, k.partitions) as offs,
            Reader(address, [k.score_topic, k.alert_topic]) as reader,
        ):

            async def watch_offsets() -> None:
                # All along, so a regression between kills shows too (it may last only
                # until the re-read is done).
                while True:
                    await offs.read()
                    await asyncio.sleep(0.05)

            async def watch_scores() -> None:
                while True:
                    await reader.poll(1)
                    await asyncio.sleep(0.2)

            watchers = [asyncio.create_task(watch_offsets()), asyncio.create_task(watch_scores())]
            producer: asyncio.Task[Any] | None = None
            everything = point_messages(points)
            sent, stop = [0], asyncio.Event()
            if live:
                per_step = len(names)
                pace = 13.0 * sz.kills / (len(points) // per_step)  # spread over the kills

                async def trickle() -> None:
                    while sent[0] < len(everything) and not stop.is_set():
                        step = everything[sent[0] : sent[0] + per_step]
                        await send_all(address, k.input_topic, step)
                        sent[0] += len(step)
                        await asyncio.sleep(pace)

                producer = asyncio.create_task(trickle())
            chunk = -(-len(everything) // sz.kills)
            started = time.monotonic()
            for n in range(sz.kills):
                if not live:  # each detector starts with a backlog of its own to work on
                    more = everything[sent[0] : sent[0] + chunk]
                    await send_all(address, k.input_topic, more)
                    sent[0] += len(more)
                service = group.start()
                await wait_joined(service)
                before = len(reader.got[k.score_topic])
                if n % 3 == 1:
                    await asyncio.sleep(float(rng.uniform(0.0, 1.0)))  # while re-reading
                else:
                    # Killed part way through its work: after a random share of a chunk's
                    # scores (backlog), or a random time after its first score (live).
                    share = 1 if live else max(1, int(rng.uniform(0.05, 0.9) * chunk))

                    async def scoring(before: int = before, share: int = share) -> bool:
                        return len(reader.got[k.score_topic]) >= before + share

                    await until(scoring, 20)
                    if live:
                        await asyncio.sleep(float(rng.uniform(0.2, 2.5)))
                service.kill()
                kills += 1
            kill_s = time.monotonic() - started
            if producer is not None:
                stop.set()
                await producer
                # The rest at once: the kills are over.
                await send_all(address, k.input_topic, everything[sent[0] :])
            final = group.start()
            await wait_joined(final)

            def have() -> set[tuple[str, float]]:
                return {(b["series"], b["ts"]) for b in reader.bodies(k.score_topic)}

            def progress() -> int:
                return len(reader.got[k.score_topic])

            await settle(reader, progress, lambda: have() >= want, sz.settle_s)
            await asyncio.sleep(1.0)
            code = final.terminate()
            await asyncio.sleep(0.5)
            for watcher in watchers:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            await reader.poll()
            await offs.read()
            scores = Counter((b["series"], b["ts"]) for b in reader.bodies(k.score_topic))
            alerts = reader.bodies(k.alert_topic)
    expected = {
        a.alert_id: a for a in wiring.detector(s, ("value",), ctx.artifact).process(points).alerts
    }
    got_ids = Counter(a["alert_id"] for a in alerts)
    missing = [i for i in expected if i not in got_ids]
    dupes = sum(n - 1 for n in got_ids.values())
    rescored = sum(n - 1 for n in scores.values())
    # A kill may lose the one batch sent but not yet committed: that much is re-scored,
    # and its alerts re-sent, legitimately (at least once).
    allowed_scores = kills * batch
    order = {(p.series, p.ts): i for i, p in enumerate(points)}
    at = sorted(order[(a.series, a.ts)] for a in expected.values())
    span = batch * len(names)
    per_batch = max((sum(1 for y in at if x <= y < x + span) for x in at), default=0)
    unscored = len(want - set(scores))
    ctx.log(
        f"{name}: {kills} kills, {len(points)} points, {len(scores)} scored, "
        f"{sum(scores.values())} score messages, kills took {kill_s:.0f} s, final exit {code}"
    )
    what = "during live traffic" if live else "during a backlog"
    return [
        Row(name, f"SIGKILLs {what}", kills, f">={sz.kills}"),
        Row(name, "points unscored", unscored, "0", f"of {len(want):,} scorable"),
        Row(name, "alerts of a clean run missing", len(missing), "0", f"of {len(expected)}"),
        Row(name, "duplicate alert messages", dupes, f"<={kills * per_batch}"),
        Row(
            name,
            "offset regressions",
            len(offs.regressions),
            "0",
            f"largest drops: {offs.worst()}" if offs.regressions else "",
        ),
        Row(
            name,
            "re-scored points",
            rescored,
            f"<={allowed_scores}",
            f"{rescored / max(1, len(want)):.0%} of the scorable points",
        ),
        Row(name, "exit code of the last detector on SIGTERM", code, "0"),
    ]


async def sigkill_backlog(ctx: Context) -> list[Row]:
    return await sigkill(ctx, live=False)


async def sigkill_live(ctx: Context) -> list[Row]:
    return await sigkill(ctx, live=True)


async def sigterm(ctx: Context) -> list[Row]:
    """SIGTERM during a backlog, then a second detector finishes; and SIGTERM while
    Kafka cannot be reached."""
    name = "sigterm"
    rng = np.random.default_rng(ctx.seed + 7)
    s = with_model(scenario_settings(ctx, name, max_batch_points=50), ctx.artifact)
    k = s.kafka
    points = sine([f"term-{i}" for i in range(4)], 600, rng)
    want = scorable(points)
    await ensure_topics(k, [k.input_topic, k.alert_topic, k.dead_letter_topic, k.score_topic])
    await send_all(ctx.broker.address, k.input_topic, point_messages(points))
    with services(s, s.model.artifact_dir.parent, name) as group:
        async with Reader(ctx.broker.address, [k.score_topic]) as reader:
            first = group.start()
            await wait_joined(first)

            async def scoring() -> bool:
                await reader.poll(1)
                return len(reader.got[k.score_topic]) > len(want) // 5

            await until(scoring, 60)
            asked = time.monotonic()
            code = first.terminate()
            took = time.monotonic() - asked
            second = group.start()
            await wait_joined(second)
            await scored_until(reader, k.score_topic, want, ctx.sizes.settle_s)
            second.terminate()
            scores = Counter((b["series"], b["ts"]) for b in reader.bodies(k.score_topic))
        # Kafka unreachable: the detector waits to connect; SIGTERM must still end it.
        dead_end = with_model(
            base_settings(s.model.artifact_dir.parent, f"127.0.0.1:{free_port()}", prefix()),
            ctx.artifact,
        )
        waiting = group.start(dead_end)
        await asyncio.sleep(3.0)
        waiting.proc.send_signal(signal.SIGTERM)
        asked = time.monotonic()
        try:
            waiting.proc.wait(timeout=10)
            wait_exit = time.monotonic() - asked
        except Exception:
            wait_exit = math.inf
    return [
        Row(name, "exit code on SIGTERM under load", code, "0", f"it exited in {took:.1f} s"),
        Row(
            name,
            "points re-scored after the restart (uncommitted work)",
            sum(n - 1 for n in scores.values()),
            "0",
        ),
        Row(
            name,
            "points unscored after the restart",
            len(want - set(scores)),
            "0",
            f"of {len(want)}",
        ),
        Row(
            name,
            "exits on SIGTERM while Kafka is unreachable",
            int(math.isfinite(wait_exit)),
            "yes",
            # 10 s only ends the wait: far below kafka.connect_retry_s (60 s here).
            f"in {wait_exit:.1f} s"
            if math.isfinite(wait_exit)
            else "still waiting for Kafka 10 s after SIGTERM, then killed",
        ),
    ]


async def corrupt_current(ctx: Context) -> list[Row]:
    """The registry's `current` model.pt is garbage; an older version loads."""
    from stream_ae.lifecycle.registry import ModelRegistry

    name = "corrupt-current"
    rng = np.random.default_rng(ctx.seed + 8)
    s = scenario_settings(ctx, name)
    k = s.kafka
    root = s.model.artifact_dir
    older, newer = ctx.artifact.name, ctx.artifact.name + "-b"
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(ctx.artifact, root / older)
    shutil.copytree(ctx.artifact, root / newer)
    registry = ModelRegistry(root)
    registry.promote(older)
    registry.promote(newer)
    (root / newer / "model.pt").write_bytes(rng.bytes(4096))
    points = sine([f"cur-{i}" for i in range(3)], 60, rng)
    want = scorable(points)
    await ensure_topics(k, [k.input_topic, k.alert_topic, k.dead_letter_topic, k.score_topic])
    with services(s, root.parent, name) as group:
        service = group.start()
        up = await wait_joined(service, limit_s=60)
        scored: set[Any] = set()
        if up:
            await send_all(ctx.broker.address, k.input_topic, point_messages(points))
            async with Reader(ctx.broker.address, [k.score_topic]) as reader:
                scored = await scored_until(reader, k.score_topic, want, ctx.sizes.settle_s / 2)
        alive = service.proc.poll() is None
        code = service.terminate() if alive else service.proc.returncode
        why = last_error(service.text())
    return [
        Row(
            name,
            "detector serves",
            int(alive and up),
            "yes",
            "" if alive else f"exit {code}: {why}",
        ),
        Row(name, "points unscored", len(want - scored), "0", f"of {len(want)}"),
    ]
