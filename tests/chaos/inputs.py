"""Chaos scenarios of the input: malformed messages, a flood of series ids, one point
ten years ahead, a series whose first point names the wrong channel."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from typing import Any

import numpy as np

from stream_ae.connectors.kafka_common import ensure_topics
from stream_ae.core.records import Point

from ..service.conftest import T0
from .harness import (
    MIB,
    TEN_YEARS,
    Context,
    Message,
    Offsets,
    Reader,
    Row,
    last_error,
    point_messages,
    rss_kib,
    scenario_settings,
    scorable,
    scored_until,
    send_all,
    services,
    sine,
    wait_joined,
    with_model,
)

POISON = ("lone surrogate", "huge number")
"""The two kinds of message the issue found crashing the detector."""


async def fuzz_input(ctx: Context) -> list[Row]:
    """Malformed messages mixed with good points; a crashed detector is restarted. A
    second pass leaves out the two known poison kinds, so that what else goes missing
    shows even while those still crash the detector."""
    from .fuzz import fuzz

    rng = np.random.default_rng(ctx.seed + 2)
    bad = fuzz(rng, ctx.sizes.fuzz_bad)
    rows = await _fuzz_pass(ctx, "fuzz", bad, rng)
    tame = [f for f in bad if f.kind not in POISON]
    return rows + await _fuzz_pass(ctx, "fuzz (no poison)", tame, rng)


async def _fuzz_pass(
    ctx: Context, name: str, bad: list[Any], rng: np.random.Generator
) -> list[Row]:
    sz = ctx.sizes
    s = with_model(scenario_settings(ctx, name.split()[0], max_message_bytes=65_536), ctx.artifact)
    k = s.kafka
    good = sine([f"good-{i}" for i in range(sz.fuzz_good_series)], sz.fuzz_good_steps, rng)
    slots = np.sort(rng.choice(len(good) + len(bad), len(bad), replace=False))
    messages: list[Message] = []
    kinds: list[tuple[str, bool] | None] = []
    goods = iter(point_messages(good))
    bads = iter(bad)
    it = iter(slots.tolist())
    nxt = next(it, -1)
    for pos in range(len(good) + len(bad)):
        if pos == nxt:
            f = next(bads)
            messages.append((f.key, f.value))
            kinds.append((f.kind, f.must))
            nxt = next(it, -1)
        else:
            messages.append(next(goods))
            kinds.append(None)
    await ensure_topics(k, [k.input_topic, k.alert_topic, k.dead_letter_topic, k.score_topic])
    where = await send_all(ctx.broker.address, k.input_topic, messages)
    want = scorable(good)
    must = {where[i]: kind for i, kind in enumerate(kinds) if kind is not None and kind[1]}
    crashes, errors = 0, Counter[str]()
    with services(s, s.model.artifact_dir.parent, name) as group:
        service = group.start()
        await wait_joined(service, limit_s=30)
        async with Reader(ctx.broker.address, [k.score_topic, k.dead_letter_topic]) as reader:

            def state() -> tuple[set[tuple[str, float]], set[tuple[int, int]]]:
                scored = {(b["series"], b["ts"]) for b in reader.bodies(k.score_topic)}
                dead = {
                    (b["source"]["partition"], b["source"]["offset"])
                    for b in reader.bodies(k.dead_letter_topic)
                }
                return scored, dead

            def done() -> bool:
                scored, dead = state()
                return scored >= want and set(must) <= dead

            quiet_since, last = time.monotonic(), -1
            while time.monotonic() - quiet_since < sz.settle_s:
                await reader.poll()
                if done():
                    break
                if service.proc.poll() is not None:
                    crashes += 1
                    errors[last_error(service.text()) or f"exit {service.proc.returncode}"] += 1
                    if crashes > sz.fuzz_restarts:
                        break  # a crash loop: no point restarting it again
                    service = group.start()
                    await wait_joined(service, limit_s=30)
                    quiet_since = time.monotonic()
                progress = sum(len(v) for v in reader.got.values())
                if progress != last:
                    last, quiet_since = progress, time.monotonic()
                await asyncio.sleep(0.3)
            await reader.poll()
            scored, dead = state()
    missing = [kind[0] for pos, kind in must.items() if pos not in dead]
    by_kind = Counter(missing)
    ctx.log(
        f"{name}: {len(bad)} bad, {len(good)} good; crashes {dict(errors)}; "
        f"no dead letter {dict(by_kind)}"
    )
    return [
        Row(
            name,
            "malformed messages sent",
            len(bad),
            f">={min(len(bad), sz.fuzz_bad)}",
            f"{len(good):,} good points among them",
        ),
        Row(
            name,
            "detector crashes",
            crashes,
            "0",
            "; ".join(f"{n}x {e}" for e, n in errors.most_common(2))
            + (f" (gave up after {crashes} restarts)" if crashes > sz.fuzz_restarts else ""),
        ),
        Row(
            name,
            "bad messages without a dead letter",
            len(missing),
            "0",
            ", ".join(f"{k} {n}" for k, n in by_kind.most_common(6)),
        ),
        Row(name, "good points unscored", len(want - scored), "0", f"of {len(want):,}"),
    ]


PAD = "x" * 86
"""Makes each flood id 100 characters, as real ids (paths, URNs) often are: what a
leak keeps per id shows sooner."""


async def flood(ctx: Context) -> list[Row]:
    """Many distinct series ids through a small store: resident memory over time."""
    name = "flood"
    sz = ctx.sizes
    s = scenario_settings(ctx, name, score_topic=None, max_batch_points=1000)
    s = with_model(s, ctx.artifact, window={"max_series": 1000, "idle_evict_s": 60.0})
    k = s.kafka
    per = sz.flood_per_message
    messages: list[Message] = []
    for first in range(0, sz.flood_ids, per):
        body = [
            {"series": f"flood-{i:07d}-{PAD}", "ts": T0 + i, "value": 0.5}
            for i in range(first, min(first + per, sz.flood_ids))
        ]
        messages.append((None, json.dumps(body).encode()))
    await ensure_topics(k, [k.input_topic, k.alert_topic, k.dead_letter_topic])
    samples: list[tuple[float, float, int]] = []  # (seconds, share committed, RSS KiB)
    with services(s, s.model.artifact_dir.parent, name) as group:
        service = group.start()
        await wait_joined(service)
        await send_all(ctx.broker.address, k.input_topic, messages)
        async with Offsets(ctx.broker.address, k.group_id, k.input_topic, k.partitions) as offs:
            started = time.monotonic()
            limit = 60 + sz.flood_ids / 2_000  # at least 2,000 points/s, or it stops
            while time.monotonic() - started < limit and service.proc.poll() is None:
                now = await offs.read()
                done = sum(now.get(tp, 0) for tp in offs.tps) / len(messages)
                samples.append((time.monotonic() - started, done, rss_kib(service.proc.pid)))
                if done >= 1:
                    break
                await asyncio.sleep(0.2)
        exited = service.proc.poll()
        code = service.terminate() if exited is None else exited
    samples = samples or [(0.0, 0.0, 0)]
    # From half the ids on, the store (1000 series) is long full and the fetch buffers,
    # queue and allocator have reached their size (measured: RSS climbs for the first
    # 100k-250k ids whatever the code, then holds where nothing leaks); what grows after
    # that grows with the ids. (RSS rises in steps and first refills memory freed
    # earlier, so a small flood can hide a leak: the full run sends 1M ids.)
    filled = next(x for x in samples if x[1] >= 0.5 or x is samples[-1])
    end = samples[-1]
    growth = (end[2] - filled[2]) / 1024
    per_id = max(0.0, growth) * MIB / max(1.0, (end[1] - filled[1]) * sz.flood_ids)
    curve = [
        next((f"{x[2] / 1024:.0f}" for x in samples if x[1] >= q), "-")
        for q in (0.0, 0.25, 0.5, 0.75, 1.0)
    ]
    ctx.log(f"flood: {len(samples)} samples over {end[0]:.0f} s, final share {end[1]:.2f}")
    return [
        Row(name, "series ids sent", sz.flood_ids, f">={sz.flood_ids}", "window.max_series 1000"),
        Row(name, "ids consumed (%)", round(end[1] * 100), "100", f"in {end[0]:.0f} s"),
        Row(
            name,
            "RSS growth over the second half of the ids (MiB)",
            round(growth, 1),
            "<=8",
            f"RSS MiB at 0/25/50/75/100% of the ids: {' / '.join(curve)}; growth from 50% "
            f"to the end, {per_id:.0f} B per id",
        ),
        Row(name, "exit code on SIGTERM", code, "0"),
    ]


async def clock_skew(ctx: Context) -> list[Row]:
    """One point ten years ahead among live series, then new series arrive."""
    name = "clock-skew"
    rng = np.random.default_rng(ctx.seed + 3)
    s = with_model(scenario_settings(ctx, name), ctx.artifact, window={"max_series": 10})
    k = s.kafka
    live = [f"live-{i}" for i in range(7)]
    points = sine(live, 120, rng)
    half = len(points) // 2
    skew = Point("skew", T0 + TEN_YEARS, (0.5,))
    after: list[Point] = []
    for j, p in enumerate(points[half:]):
        after.append(p)
        if j % len(live) == 0:
            after.append(Point(f"new-{j}", p.ts, (0.5,)))
    await ensure_topics(k, [k.input_topic, k.alert_topic, k.dead_letter_topic, k.score_topic])
    with services(s, s.model.artifact_dir.parent, name) as group:
        service = group.start()
        await wait_joined(service)
        async with Reader(ctx.broker.address, [k.score_topic, k.dead_letter_topic]) as reader:
            await send_all(ctx.broker.address, k.input_topic, point_messages(points[:half]))
            await scored_until(reader, k.score_topic, scorable(points[:half]), ctx.sizes.settle_s)
            [skew_at] = await send_all(ctx.broker.address, k.input_topic, point_messages([skew]))
            await asyncio.sleep(1.0)
            where = await send_all(ctx.broker.address, k.input_topic, point_messages(after))
            want = scorable(points) - scorable(points[:half])
            scored = await scored_until(reader, k.score_topic, want, ctx.sizes.settle_s / 2)
            dead = reader.bodies(k.dead_letter_topic)
        code = service.terminate()
    lost = want - scored
    # Dead letters are matched by the offset they name: a refusal need not repeat the
    # series or the time.
    dead_at = {(d["source"]["partition"], d["source"]["offset"]) for d in dead}
    at = {(p.series, p.ts): w for p, w in zip(after, where, strict=True)}
    silent = [x for x in lost if at[x] not in dead_at]
    skew_refused = skew_at in dead_at
    return [
        Row(name, "points of live series unscored", len(lost), "0", f"of {len(want)}"),
        Row(name, "of them without a dead letter", len(silent), "0"),
        Row(name, "the point 10 years ahead dead-lettered", int(skew_refused), "yes"),
        Row(name, "exit code on SIGTERM", code, "0"),
    ]


async def channel_mismatch(ctx: Context) -> list[Row]:
    """A series whose first point names the wrong channel, then only correct points."""
    name = "channel-mismatch"
    rng = np.random.default_rng(ctx.seed + 4)
    s = with_model(scenario_settings(ctx, name), ctx.artifact)
    k = s.kafka
    points = sine(["pinned"], 60, rng)
    first = json.dumps({"series": "pinned", "ts": T0 - 60, "values": {"temp": 0.1}}).encode()
    await ensure_topics(k, [k.input_topic, k.alert_topic, k.dead_letter_topic, k.score_topic])
    with services(s, s.model.artifact_dir.parent, name) as group:
        service = group.start()
        await wait_joined(service)
        async with Reader(ctx.broker.address, [k.score_topic, k.dead_letter_topic]) as reader:
            await send_all(ctx.broker.address, k.input_topic, [(b"pinned", first)])
            where = await send_all(ctx.broker.address, k.input_topic, point_messages(points))
            want = scorable(points)
            scored = await scored_until(reader, k.score_topic, want, ctx.sizes.settle_s / 2)
            dead = reader.bodies(k.dead_letter_topic)
        code = service.terminate()
        text = service.text()
    correct = set(where)
    later = [d for d in dead if (d["source"]["partition"], d["source"]["offset"]) in correct]
    names_setting = any("window.channels" in d["detail"] for d in dead)
    carries_raw = all(d.get("raw") for d in dead) and bool(dead)
    logged = "pinned" in text
    return [
        Row(name, "later correct points refused", len(later), "0", f"of {len(points)}"),
        Row(name, "correct points unscored", len(want - scored), "0", f"of {len(want)}"),
        Row(name, "a refusal names window.channels", int(names_setting), "yes"),
        Row(name, "dead letters carry the raw message", int(carries_raw), "yes"),
        Row(name, "the refusal is logged", int(logged), "yes"),
        Row(name, "exit code on SIGTERM", code, "0"),
    ]
