"""The metrics formats pipelines already send, decoded from messages their own
reference libraries write (`tests.service.reference_messages`)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest
from google.protobuf import json_format
from prometheus_client import CollectorRegistry, Gauge

from stream_ae.connectors.files import open_points
from stream_ae.connectors.formats import InputFormat
from stream_ae.connectors.kafka_source import decode_message, message_decoder
from stream_ae.core.records import Point, Rejection, RejectReason
from stream_ae.errors import ConfigError, InputError
from stream_ae.settings import Settings, load_settings
from tests.service.reference_messages import adapter_messages, influx, otlp_request

NS = 1_732_262_400_123_456_789
SECONDS = NS / 1e9


def decode(fmt: InputFormat, message: bytes, channels: Iterable[str] | None = None) -> list:
    decoder = message_decoder(None if channels is None else tuple(channels), fmt)
    return decode_message(decoder, b"key-series", message, "t/0@1")


def points(items: list) -> list[Point]:
    return [item for item in items if isinstance(item, Point)]


def refusals(items: list) -> list[Rejection]:
    return [item for item in items if isinstance(item, Rejection)]


# --- Influx line protocol -------------------------------------------------------------


def test_influx_lines_from_the_reference_client_become_points() -> None:
    message = b"\n".join(
        [
            influx("pump", {"site": "a b,c", "pump": "7"}, {"temp": 21.5, "rpm": 1200}, NS),
            influx("pump", {"site": "a b,c", "pump": "8"}, {"temp": 22.0, "rpm": 1190}, NS),
        ]
    )
    got = decode(InputFormat("influx"), message)
    assert got == [
        Point("pump,pump=7,site=a b,c", SECONDS, (1200.0, 21.5)),
        Point("pump,pump=8,site=a b,c", SECONDS, (1190.0, 22.0)),
    ]


def test_influx_strings_and_booleans_are_not_channels_and_a_line_of_them_is_refused() -> None:
    kept = influx("pump", {}, {"temp": 21.5, "state": "running", "ok": True}, NS)
    only_text = influx("pump", {}, {"state": "stopped"}, NS)
    got = decode(InputFormat("influx"), kept + b"\n" + only_text)
    assert points(got) == [Point("pump", SECONDS, (21.5,))]
    (refused,) = refusals(got)
    assert refused.reason is RejectReason.MALFORMED
    assert "hold no number" in refused.detail
    assert refused.raw == only_text.decode()


@pytest.mark.parametrize(
    ("line", "why"),
    [
        (b"pump temp=21.5", "no timestamp"),
        (b"pump temp=21.5 yesterday", "not Influx line protocol"),
        (b"pump", "not Influx line protocol"),
        (b"\xff\xfe temp=1 1", "not Influx line protocol"),
    ],
)
def test_a_bad_influx_line_is_refused_with_its_reason_and_the_others_kept(
    line: bytes, why: str
) -> None:
    good = influx("pump", {"pump": "7"}, {"value": 1.0}, NS)
    got = decode(InputFormat("influx"), good + b"\n" + line + b"\n# a comment\n")
    assert points(got) == [Point("pump,pump=7", SECONDS, (1.0,))]
    (refused,) = refusals(got)
    assert refused.reason is RejectReason.MALFORMED
    assert why in refused.detail
    assert refused.source == "t/0@1"
    assert refused.raw == line.decode("utf-8", "replace")


def test_the_series_rule_picks_tags_and_a_missing_tag_is_refused_by_name() -> None:
    fmt = InputFormat("influx", series_from="{site}/{name}-{pump}")
    got = decode(fmt, influx("pump", {"site": "s1", "pump": "7"}, {"value": 1.0}, NS))
    assert got == [Point("s1/pump-7", SECONDS, (1.0,))]
    (refused,) = decode(fmt, influx("pump", {"site": "s1"}, {"value": 1.0}, NS))
    assert refused.reason is RejectReason.INVALID_SERIES
    assert "'pump'" in refused.detail and "its tags: site" in refused.detail


def test_channels_from_names_gathers_measurements_into_one_series() -> None:
    fmt = InputFormat("influx", channels_from="name")
    message = b"\n".join(
        [
            influx("temp", {"pump": "7"}, {"value": 21.5}, NS),
            influx("vibration", {"pump": "7"}, {"rms": 0.2}, NS),
        ]
    )
    assert decode(fmt, message) == [Point("pump=7", SECONDS, (21.5, 0.2))]
    decoder = message_decoder(None, fmt)
    decode_message(decoder, None, message, "x")
    assert decoder.channels_of("pump=7") == ("temp", "vibration_rms")


def test_the_message_key_names_a_series_the_rule_leaves_unnamed() -> None:
    fmt = InputFormat("influx", channels_from="name")
    assert decode(fmt, influx("temp", {}, {"value": 21.5}, NS)) == [
        Point("key-series", SECONDS, (21.5,))
    ]


def test_metrics_points_meet_the_detectors_channels_like_json_points() -> None:
    message = influx("pump", {"pump": "7"}, {"temp": 21.5}, NS)
    (refused,) = decode(InputFormat("influx"), message, channels=("temp", "rpm"))
    assert refused.reason is RejectReason.WRONG_CHANNELS
    # One channel: "value" stands for it, as in stream-ae's JSON.
    one = influx("pump", {}, {"value": 3.0}, NS)
    assert decode(InputFormat("influx"), one, channels=("temp",)) == [
        Point("pump", SECONDS, (3.0,))
    ]


def test_the_same_channel_twice_at_one_time_is_refused() -> None:
    line = influx("pump", {"pump": "7"}, {"value": 1.0}, NS)
    (refused,) = decode(InputFormat("influx"), line + b"\n" + line)
    assert refused.reason is RejectReason.MALFORMED
    assert "more than once" in refused.detail and refused.series == "pump,pump=7"


# --- OpenTelemetry (OTLP) -------------------------------------------------------------


@pytest.mark.parametrize("name", ["otlp_proto", "otlp_json"])
def test_otlp_gauges_and_sums_are_points_and_histograms_one_refusal(name: str) -> None:
    request = otlp_request()
    if name == "otlp_proto":
        message = request.SerializeToString()
    else:
        message = json_format.MessageToJson(request).encode()
    got = decode(InputFormat(name), message)  # type: ignore[arg-type]
    series = {p.series: p.values for p in points(got)}
    assert series == {
        "pump.starts,host.name=h1,pump=7,service.name=plant": (3.0,),
        "pump.temp,host.name=h1,pump=7,service.name=plant": (21.5,),
    }
    stamp = request.resource_metrics[0].scope_metrics[0].metrics[0]
    assert {p.ts for p in points(got)} == {stamp.sum.data_points[0].time_unix_nano / 1e9}
    (refused,) = refusals(got)
    assert "'pump.latency' (histogram)" in refused.detail
    assert "filter processor" in refused.detail


def test_otlp_metric_names_as_channels_of_one_series_per_resource() -> None:
    fmt = InputFormat("otlp_proto", series_from="{service.name}/{pump}", channels_from="name")
    got = decode(fmt, otlp_request().SerializeToString())
    assert points(got) == [Point("plant/7", points(got)[0].ts, (3.0, 21.5))]


def test_an_otlp_point_with_no_recorded_value_is_skipped() -> None:
    request = otlp_request()
    for metric in request.resource_metrics[0].scope_metrics[0].metrics:
        if metric.HasField("gauge"):
            metric.gauge.data_points[0].flags = 1  # DATA_POINT_FLAGS_NO_RECORDED_VALUE
    got = decode(InputFormat("otlp_proto"), request.SerializeToString())
    assert [p.series.split(",")[0] for p in points(got)] == ["pump.starts"]


@pytest.mark.parametrize(
    ("name", "message", "reason"),
    [
        ("otlp_proto", b"\x0a\x05hello", RejectReason.MALFORMED),
        ("otlp_proto", b"", RejectReason.EMPTY),
        ("otlp_json", b'{"resourceMetrics": 3}', RejectReason.MALFORMED),
        ("otlp_json", b"not json", RejectReason.MALFORMED),
        ("otlp_json", b"{}", RejectReason.EMPTY),
    ],
)
def test_a_bad_otlp_message_is_one_refusal(name: str, message: bytes, reason: RejectReason) -> None:
    (refused,) = decode(InputFormat(name), message)  # type: ignore[arg-type]
    assert refused.reason is reason
    assert "OTLP" in refused.detail
    if name == "otlp_proto" and message:
        assert refused.raw.startswith("base64:")  # binary kept so it can be decoded again


# --- Prometheus remote-write adapter --------------------------------------------------


def test_prometheus_adapter_samples_become_one_channel_points() -> None:
    registry = CollectorRegistry()
    load = Gauge("node_load1", "load", ["instance", "job"], registry=registry)
    load.labels("a:9100", "node").set(0.73)
    load.labels("b:9100", "node").set(float("nan"))  # a staleness marker
    messages = adapter_messages(registry, 1_732_262_400_000)
    got = [item for message in messages for item in decode(InputFormat("prometheus_json"), message)]
    assert points(got) == [Point("node_load1,instance=a:9100,job=node", 1_732_262_400.0, (0.73,))]
    (refused,) = refusals(got)
    assert refused.reason is RejectReason.NON_FINITE


@pytest.mark.parametrize(
    "message",
    [
        b'{"timestamp": "2024-11-22T08:00:00Z", "value": "0.5"}',
        b'{"timestamp": "soon", "value": "0.5", "name": "up"}',
        b'{"timestamp": "2024-11-22T08:00:00Z", "value": "high", "name": "up"}',
        b'{"timestamp": "2024-11-22T08:00:00Z", "value": "1", "name": "up", "labels": [1]}',
        b"[1, 2]",
        b"\xff",
    ],
)
def test_a_bad_adapter_message_is_refused_saying_what_to_send(message: bytes) -> None:
    (refused,) = decode(InputFormat("prometheus_json"), message)
    assert refused.reason is RejectReason.MALFORMED
    assert "send objects like" in refused.detail


# --- settings, files, command line ----------------------------------------------------


def test_kafka_settings_name_the_format_and_refuse_a_broken_rule(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[kafka]\ninput_format = "otlp_json"\nseries_from = "{host}/{name}"\n')
    settings = load_settings(config)
    assert InputFormat.of(settings.kafka) == InputFormat("otlp_json", "{host}/{name}")
    config.write_text('[kafka]\ninput_format = "influx"\nseries_from = "{host"\n')
    with pytest.raises(ConfigError, match="braces do not pair up"):
        load_settings(config)
    config.write_text('[kafka]\ninput_format = "graphite"\n')
    with pytest.raises(ConfigError, match="input_format"):
        load_settings(config)
    assert Settings().kafka.input_format == "json"


def test_line_files_of_each_text_format(tmp_path: Path) -> None:
    lines = [influx("pump", {"pump": "7"}, {"value": float(i)}, NS + i * 10**9) for i in range(3)]
    lp = tmp_path / "plant.lp"
    lp.write_bytes(b"\n".join(lines) + b"\n")
    reader = open_points(lp)
    assert [p.values for p in reader] == [(0.0,), (1.0,), (2.0,)]
    assert reader.describe() == "plant.lp: Influx line protocol, channels of the first point: value"
    otlp = tmp_path / "collector.jsonl"
    requests = [otlp_request(gauge=20.0 + i) for i in range(2)]
    otlp.write_text("".join(json_format.MessageToJson(r, indent=None) + "\n" for r in requests))
    got = list(open_points(otlp, input_format=InputFormat("otlp_json")))
    assert [p.values for p in points(got) if p.series.startswith("pump.temp")] == [(20.0,), (21.0,)]
    with pytest.raises(InputError, match="no line framing"):
        open_points(otlp, input_format=InputFormat("otlp_proto"))
    csv = tmp_path / "plant.csv"
    csv.write_text("timestamp,value\n1,2\n")
    with pytest.raises(InputError, match="read by its columns"):
        open_points(csv, input_format=InputFormat("influx"))


def test_the_rule_flags_without_a_format_are_a_sentence(tmp_path: Path) -> None:
    from stream_ae.cli.main import main

    path = tmp_path / "p.jsonl"
    path.write_text('{"series": "a", "ts": 1, "value": 1}\n')
    assert main(["detect", str(path), "--series-from", "{host}"]) == 2


def test_replay_refuses_to_send_json_to_a_detector_that_reads_another_format(
    tmp_path: Path,
) -> None:
    from stream_ae.runtime.replay import run_replay

    path = tmp_path / "p.jsonl"
    path.write_text('{"series": "a", "ts": 1, "value": 1}\n')
    settings = Settings.model_validate({"kafka": {"input_format": "influx"}})
    with pytest.raises(ConfigError, match="replay publishes stream-ae's JSON points"):
        run_replay(path, settings)


def test_one_message_never_fans_out_into_more_refusals_than_a_message_may_hold() -> None:
    (refused,) = decode(InputFormat("influx"), b"bad line\n" * 10_001)
    assert refused.reason is RejectReason.MALFORMED and "10,001 items" in refused.detail


def test_an_empty_series_id_is_refused_like_a_json_point_s() -> None:
    message = b'{"timestamp": "2024-11-22T08:00:00Z", "value": "1", "name": ""}'
    (refused,) = decode(InputFormat("prometheus_json"), message)
    assert refused.reason is RejectReason.INVALID_SERIES and "it is empty" in refused.detail


def test_text_with_a_lone_surrogate_is_refused_not_raised() -> None:
    for name in ("influx", "otlp_json", "prometheus_json"):
        decoder = InputFormat(name).decoder("x")  # type: ignore[arg-type]
        assert all(isinstance(x, Rejection) for x in decoder.decode("cpu v=1 1\ud800", "s"))


def test_an_otlp_point_without_a_time_is_refused() -> None:
    request = otlp_request()
    for metric in request.resource_metrics[0].scope_metrics[0].metrics:
        if metric.HasField("gauge"):
            metric.gauge.data_points[0].time_unix_nano = 0
    got = decode(InputFormat("otlp_proto"), request.SerializeToString())
    assert [p.series.split(",")[0] for p in points(got)] == ["pump.starts"]
    assert any("has no time_unix_nano" in r.detail for r in refusals(got))


def test_comment_lines_of_a_line_protocol_file_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "plant.lp"
    path.write_bytes(b"# written by telegraf\n" + influx("pump", {}, {"value": 1.0}, NS) + b"\n")
    assert list(open_points(path)) == [Point("pump", SECONDS, (1.0,))]
