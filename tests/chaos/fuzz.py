"""Seeded malformed messages for the fuzz scenario, each marked with what must happen.

`must` messages can never be a valid point list, so each must yield a dead letter
naming its offset; `may` messages are odd but possibly valid (a timestamp in
milliseconds, an emoji series id): they only use series of their own, so whether
they are accepted changes nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

T0 = 1_700_000_000


@dataclass(frozen=True)
class Fuzzed:
    kind: str
    key: bytes | None
    value: bytes
    must: bool
    """True: no reading of it is a valid point list, a dead letter is the only outcome."""


def _point(series: object, ts: object = T0, value: object = 1.0) -> dict[str, object]:
    return {"series": series, "ts": ts, "value": value}


def _j(item: object) -> bytes:
    return json.dumps(item).encode()


Make = Callable[[np.random.Generator, int], tuple[bytes | None, bytes]]


def _fresh(i: int) -> str:
    return f"fz-{i}"


def _must() -> dict[str, Make]:
    good = lambda i: _j(_point(_fresh(i), T0 + i, 0.5))  # noqa: E731
    return {
        "truncated": lambda r, i: (None, good(i)[: int(r.integers(1, len(good(i)) - 1))]),
        "binary garbage": lambda r, i: (None, b"\xff" + r.bytes(int(r.integers(1, 300)))),
        "empty message": lambda r, i: (None, b""),
        "empty array": lambda r, i: (None, b"[]"),
        "empty object": lambda r, i: (None, b"{}"),
        "scalar": lambda r, i: (None, [b"5", b'"x"', b"null", b"true", b"-0.5e3"][i % 5]),
        "bad json": lambda r, i: (
            None,
            [b"{series: x}", b'{"series":"a",}', b"{'a': 1}", b'{"a" 1}', b"[1,,2]"][i % 5],
        ),
        "value wrong type": lambda r, i: (
            None,
            _j(_point(_fresh(i), value=["abc", [1, 2], {"v": 1}, True, None][i % 5])),
        ),
        "ts wrong type": lambda r, i: (
            None,
            _j(_point(_fresh(i), ts=[[1], {"t": 1}, True, None, "not a date", ""][i % 6])),
        ),
        "ts out of any range": lambda r, i: (
            None,
            [
                b'{"series":"%s","ts":1e300,"value":1}',
                b'{"series":"%s","ts":-1e300,"value":1}',
                b'{"series":"%s","ts":"2023-13-45T99:00:00Z","value":1}',
                b'{"series":"%s","ts":NaN,"value":1}',
            ][i % 4]
            % _fresh(i).encode(),
        ),
        "series wrong type": lambda r, i: (
            None,
            _j(_point([1, ["a"], {"s": 1}, None, True][i % 5])),
        ),
        "missing field": lambda r, i: (
            None,
            _j(
                [
                    {"series": _fresh(i), "value": 1},
                    {"series": _fresh(i), "ts": T0},
                    {"series": _fresh(i), "ts": T0, "value": 1, "values": {"value": 1}},
                ][i % 3]
            ),
        ),
        "nested deep": lambda r, i: (None, b"[" * 20_000 + b"]" * 20_000),
        "nested value": lambda r, i: (
            None,
            _j(_point(_fresh(i), value={"a": {"b": {"c": [1, 2, {"d": 3}]}}})),
        ),
        "huge number": lambda r, i: (
            None,
            b'{"series":"%s","ts":%d,"value":%s}'
            % (_fresh(i).encode(), T0, [b"1e39", b"-1e39", b"1e300", b"1e308", b"9" * 400][i % 5]),
        ),
        "nan/inf text": lambda r, i: (
            None,
            b'{"series":"%s","ts":%d,"value":%s}'
            % (
                _fresh(i).encode(),
                T0,
                [b"NaN", b"Infinity", b"-Infinity", b'"NaN"', b'"inf"'][i % 5],
            ),
        ),
        "lone surrogate": lambda r, i: (
            None,
            [
                b'{"series":"\\ud800","ts":1700000000,"value":1}',
                b'{"series":"a\\udfff","ts":1700000000,"value":1}',
                b'{"series":"\xed\xa0\x80","ts":1700000000,"value":1}',
            ][i % 3],
        ),
        "control characters": lambda r, i: (
            None,
            _j(
                _point(
                    ["a\x00b", "line\nbreak", "\x1b[31mred", "tab\there", "\x01"][i % 5] + str(i)
                )
            ),
        ),
        "very long series id": lambda r, i: (None, _j(_point("L" * 20_000 + str(i)))),
        "no series, null key": lambda r, i: (None, _j({"ts": T0 + i, "value": 1.0})),
        "mixed array": lambda r, i: (
            None,
            _j([_point(_fresh(i), T0, 1.0), 5, "x", {"bad": 1}, _point(_fresh(i), "x", 1)]),
        ),
        "oversized": lambda r, i: (None, _j([_point(_fresh(i), T0 + j, 1.0) for j in range(3000)])),
        "wrong channels": lambda r, i: (
            None,
            _j({"series": _fresh(i), "ts": T0, "values": {"a": "x", "b": [1]}}),
        ),
    }


def _may() -> dict[str, Make]:
    return {
        "ts in milliseconds": lambda r, i: (None, _j(_point(_fresh(i), T0 * 1000 + i))),
        "ts as date text": lambda r, i: (None, _j(_point(_fresh(i), "2023-11-14T22:13:20Z"))),
        "ts as number text": lambda r, i: (None, _j(_point(_fresh(i), str(T0)))),
        "emoji series": lambda r, i: (None, _j(_point("\U0001f525-" + _fresh(i)))),
        "tiny value": lambda r, i: (None, _j(_point(_fresh(i), value=5e-324))),
        "key only": lambda r, i: (_fresh(i).encode(), _j({"ts": T0, "value": 2.0})),
        "binary key": lambda r, i: (b"\xff\xfe" + bytes([i % 256]), _j(_point(_fresh(i)))),
        "duplicate field": lambda r, i: (
            None,
            b'{"series":"%s","ts":%d,"value":1,"value":2}' % (_fresh(i).encode(), T0),
        ),
    }


RARE = {"nested deep", "oversized"}
"""Big messages: one in a hundred of the others."""


def fuzz(rng: np.random.Generator, count: int, first_id: int = 0) -> list[Fuzzed]:
    """`count` mutated messages, 85% of them certainly invalid; the two poison messages of
    the issue (a lone surrogate, 1e39) are among them whatever the count."""
    must, may = _must(), _may()
    common = [k for k in must if k not in RARE]
    out = [
        Fuzzed("lone surrogate", None, b'{"series":"\\ud800","ts":1700000000,"value":1}', True),
        Fuzzed("huge number", None, b'{"series":"fz-poison","ts":1700000000,"value":1e39}', True),
    ]
    for n in range(count - len(out)):
        i = first_id + n
        roll = rng.random()
        if roll < 0.15:
            kind = str(rng.choice(sorted(may)))
            key, value = may[kind](rng, i)
            out.append(Fuzzed(kind, key, value, False))
            continue
        kind = str(rng.choice(sorted(RARE))) if roll > 0.99 else str(rng.choice(common))
        key, value = must[kind](rng, i)
        out.append(Fuzzed(kind, key, value, True))
    order = rng.permutation(len(out))
    return [out[j] for j in order]


def kinds() -> list[str]:
    return sorted(_must()) + sorted(_may())
