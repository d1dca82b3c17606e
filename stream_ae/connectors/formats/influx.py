"""InfluxDB line protocol, as Telegraf's Kafka output writes it.

One metric a line, many lines a message::

    cpu,host=a,cpu=cpu0 usage_idle=98.5,usage_user=1.2 1732262400000000000

Timestamps are nanoseconds since the epoch (the protocol's default precision, and
Telegraf's). Numeric fields (floats, `i` integers, `u` unsigned) are samples; string and
boolean fields are not numbers to score and are left out, and a line with no numeric
field is refused, as is a line without a timestamp or one the parser cannot read.

>>> from stream_ae.connectors.formats.samples import SeriesRule
>>> decoder = InfluxDecoder(SeriesRule(), "unused")
>>> decoder.decode(b"cpu,host=a usage_idle=98.5,state=\\"ok\\" 1732262400000000000", "t/0@1")
[Point(series='cpu,host=a', ts=1732262400.0, values=(98.5,))]
"""

from __future__ import annotations

from collections.abc import Iterator

from line_protocol_parser import LineFormatError, parse_line

from stream_ae.connectors.formats.samples import Problem, Sample, SampleDecoder

_NS = 1e9


class InfluxDecoder(SampleDecoder):
    label = "Influx line protocol"

    def ignores(self, line: str) -> bool:
        return line.lstrip().startswith("#")

    def samples(self, data: bytes) -> Iterator[Sample | Problem]:
        for line in data.splitlines():
            if line.strip() and not line.lstrip().startswith(b"#"):
                yield from _line(line)


def _line(line: bytes) -> Iterator[Sample | Problem]:
    raw = line.decode("utf-8", "replace")
    try:
        parsed = parse_line(line)
    except (LineFormatError, UnicodeDecodeError) as exc:
        yield Problem(
            f"The line is not Influx line protocol ({exc}); send lines like "
            "'cpu,host=a usage_idle=98.5 1732262400000000000'.",
            raw,
        )
        return
    if parsed["time"] is None:
        yield Problem(
            "The line has no timestamp; send nanoseconds since the epoch at its end "
            "(Telegraf always does).",
            raw,
        )
        return
    ts = parsed["time"] / _NS
    numbers = [
        (key, float(value))
        for key, value in parsed["fields"].items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    ]
    if not numbers:
        yield Problem(
            f"The line's fields ({', '.join(sorted(parsed['fields']))}) hold no number; "
            "only numeric fields are scored.",
            raw,
        )
        return
    tags = parsed["tags"]
    for key, value in sorted(numbers):
        yield Sample(parsed["measurement"], tags, key, value, ts)
