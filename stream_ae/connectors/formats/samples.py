"""Named metrics into points: the part every metrics format shares.

Telegraf, the OpenTelemetry Collector and Prometheus all send *samples*: a metric name,
tags (labels, attributes), a field and a number at a time. A `SeriesRule` says which
series a sample belongs to and which channel it fills; `SampleDecoder` groups the
samples of one message by series and time into points and judges each point with
`PointDecoder`'s own channel and value checks, so a point refused here is refused for
the same reason as one sent in stream-ae's own JSON.

>>> rule = SeriesRule()
>>> rule.series(Sample("cpu", {"host": "a", "cpu": "cpu0"}, "usage_idle", 98.5, 1.0))
'cpu,cpu=cpu0,host=a'
>>> SeriesRule("{host}/{name}").series(Sample("cpu", {"host": "a"}, "usage_idle", 98.5, 1.0))
'a/cpu'
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from stream_ae.connectors.dead_letters import RAW_LIMIT, rejected
from stream_ae.connectors.point_rules import (
    MAX_POINTS_PER_MESSAGE,
    invalid_series,
    series_problem,
    too_many,
)
from stream_ae.connectors.wire import PointDecoder
from stream_ae.core.records import Point, Rejection, RejectReason
from stream_ae.settings.kafka import PLACEHOLDER, ChannelsFrom


@dataclass(frozen=True, slots=True)
class Sample:
    """One number of a metrics message: `name` (measurement or metric), its `tags`,
    the `field` it is (Influx's field key; "value" where a format has one number), the
    value (None: no number) and the event time in epoch seconds."""

    name: str
    tags: Mapping[str, str]
    field: str
    value: float | None
    ts: float


@dataclass(frozen=True, slots=True)
class Problem:
    """A part of a message that gives no sample, and why (a line, a metric)."""

    detail: str
    raw: str


@dataclass(frozen=True, slots=True)
class SeriesRule:
    """How samples become series and channels.

    `template` builds the series id: `{name}` is the metric's name and `{tag}` any tag's
    value (`{host}/{sensor}`); empty, the id is the name and every tag in sorted order,
    as Influx writes a series key (`cpu,cpu=cpu0,host=a`). `channels` is "field" (the
    channel is the field: Influx's field keys, "value" for formats of one number) or
    "name" (the channel is the metric's name, `name_field` for Influx fields, so one
    series gathers several metrics: the default id then leaves the name out).
    """

    template: str = ""
    channels: ChannelsFrom = "field"

    def series(self, sample: Sample) -> str | None:
        """The sample's series id; None when the rule gives none (no tags under
        `channels = "name"`): the message's default then names it. KeyError names a tag
        the template asks for and the sample lacks."""
        if self.template:
            return PLACEHOLDER.sub(lambda m: _value_of(m.group(1), sample), self.template)
        tags = "".join(f",{key}={sample.tags[key]}" for key in sorted(sample.tags))
        if self.channels == "name":
            return tags[1:] or None
        return sample.name + tags

    def channel(self, sample: Sample) -> str:
        if self.channels == "field":
            return sample.field
        return sample.name if sample.field == "value" else f"{sample.name}_{sample.field}"


def _value_of(placeholder: str, sample: Sample) -> str:
    if placeholder == "name":
        return sample.name
    return sample.tags[placeholder]


class SampleDecoder(PointDecoder):
    """Turns a message of some metrics format into points and rejections.

    A subclass reads the message into samples and problems (`samples`); this class
    groups the samples by series and time (in order of first appearance) into points,
    one channel per sample, and checks each point as `PointDecoder` does.
    """

    label: str
    """The format's name in messages ("Influx line protocol")."""

    def __init__(
        self,
        rule: SeriesRule,
        default_series: str,
        channels: Sequence[str] | None = None,
    ) -> None:
        super().__init__(default_series, channels)
        self.rule = rule

    @abstractmethod
    def samples(self, data: bytes) -> Iterable[Sample | Problem]:
        """The samples of one message, and a `Problem` for each part that gives none;
        ValueError when the message as a whole cannot be read."""

    def raw(self, data: bytes) -> str:
        """The message as the text a dead letter carries."""
        return data[:4000].decode("utf-8", "replace")

    def decode(
        self, text: str | bytes, source: str, default: str | Rejection | None = None
    ) -> list[Point | Rejection]:
        data = text.encode("utf-8", "replace") if isinstance(text, str) else text
        fallback = self.default_series if default is None else default
        try:
            read = list(self.samples(data))
        except ValueError as exc:
            detail = f"The message is not {self.label}: {str(exc).rstrip('.')}."
            return [rejected(RejectReason.MALFORMED, detail, source, lambda: self.raw(data))]
        if len(read) > MAX_POINTS_PER_MESSAGE:  # samples and refusals alike: no fan-out
            return [too_many(len(read), source, lambda: self.raw(data))]
        out: list[Point | Rejection] = []
        groups: dict[tuple[str, float], _Group] = {}
        for item in read:
            if isinstance(item, Problem):
                out.append(rejected(RejectReason.MALFORMED, item.detail, source, item.raw))
                continue
            try:
                series = self.rule.series(item)
            except KeyError as missing:
                out.append(self._no_tag(item, str(missing), source, data))
                continue
            if series is None:
                if isinstance(fallback, Rejection):
                    out.append(replace(fallback, source=source, raw=self.raw(data)[:RAW_LIMIT]))
                    continue
                series = fallback
            group = groups.get((series, item.ts))
            if group is None:
                group = groups[(series, item.ts)] = _Group(series, item.ts)
            group.add(self.rule.channel(item), item.value)
        if not groups and not out:
            detail = f"The message holds no sample ({self.label}); send at least one number."
            out.append(rejected(RejectReason.EMPTY, detail, source, lambda: self.raw(data)))
        for group in groups.values():
            out.append(self._point(group, source, lambda: self.raw(data)))
        return out

    def _point(self, group: _Group, source: str, raw: Callable[[], str]) -> Point | Rejection:
        problem = "it is empty" if not group.series else series_problem(group.series)
        if problem is not None:
            return invalid_series(group.series, problem, source, raw)
        if group.twice:
            detail = (
                f"Series {group.series!r} has {', '.join(sorted(group.twice))} more than "
                f"once at time {group.ts}; send each channel once per time, or change "
                "the series rule (kafka.series_from) so they fall in different series."
            )
            return rejected(RejectReason.MALFORMED, detail, source, raw, group.series, group.ts)
        names, values = tuple(group.values), list(group.values.values())
        return self._checked(group.series, group.ts, names, values, source, raw)

    def _no_tag(self, sample: Sample, tag: str, source: str, data: bytes) -> Rejection:
        has = ", ".join(sorted(sample.tags)) or "none"
        detail = (
            f"The series rule {self.rule.template!r} names the tag {tag} but {sample.name!r} "
            f"has no such tag (its tags: {has}); change kafka.series_from, or tag the metric."
        )
        return rejected(RejectReason.INVALID_SERIES, detail, source, lambda: self.raw(data))


class _Group:
    """The samples of one series at one time: a point in the making."""

    __slots__ = ("series", "ts", "twice", "values")

    def __init__(self, series: str, ts: float) -> None:
        self.series = series
        self.ts = ts
        self.values: dict[str, float | None] = {}
        self.twice: set[str] = set()

    def add(self, channel: str, value: float | None) -> None:
        if channel in self.values:
            self.twice.add(channel)
        self.values[channel] = value
