"""The [kafka] section: how the service reaches the brokers, in the terms Kafka users
write them, and which client options stream-ae keeps for itself."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from stream_ae.settings.sections import _SECTION, _list_from_text


def _scalar_from_text(value: object) -> object:
    """'1024' -> 1024, '0.5' -> 0.5, 'true' -> True; other text stays text."""
    if not isinstance(value, str):
        return value
    try:
        parsed = json.loads(value)
    except ValueError:
        return value
    return parsed if isinstance(parsed, int | float | bool) else value


InputFormatName = Literal["json", "influx", "otlp_proto", "otlp_json", "prometheus_json"]
ChannelsFrom = Literal["field", "name"]
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def template_problem(template: str) -> str | None:
    """Why `template` cannot build series ids from metric names and tags, or None.

    >>> template_problem("{host}/{name}") is None
    True
    >>> template_problem("{host")
    'its braces do not pair up; write placeholders as {tag}'
    """
    names = PLACEHOLDER.findall(template)
    if any(not name.strip() for name in names):
        return "it has an empty placeholder {}; name a tag, or {name}"
    rest = PLACEHOLDER.sub("", template)
    if "{" in rest or "}" in rest:
        return "its braces do not pair up; write placeholders as {tag}"
    if template and not names:
        return "it has no placeholder, so every sample would be one series; use {name} or {tag}"
    return None


MANAGED_CLIENT_OPTIONS = frozenset(
    {
        "bootstrap_servers",
        "client_id",
        "security_protocol",
        "ssl_context",
        "sasl_mechanism",
        "sasl_plain_username",
        "sasl_plain_password",
        "sasl_kerberos_service_name",
        "sasl_kerberos_domain_name",
        "sasl_oauth_token_provider",
        "group_id",
        "enable_auto_commit",
        "auto_offset_reset",
        "session_timeout_ms",
        "heartbeat_interval_ms",
        "fetch_max_wait_ms",
        "max_partition_fetch_bytes",
        "key_deserializer",
        "value_deserializer",
        "key_serializer",
        "value_serializer",
        "acks",
        "enable_idempotence",
        "isolation_level",
        "transactional_id",
    }
)
"""aiokafka options stream-ae sets itself: not to be overridden by consumer_options or
producer_options."""


class KafkaSettings(BaseModel):
    model_config = _SECTION
    bootstrap_servers: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["127.0.0.1:9092"],
        validation_alias=AliasChoices("bootstrap_servers", "bootstrap"),
    )
    """host:port of Kafka brokers to start from, as a list or comma-separated (the old
    name `bootstrap` is read too)."""
    client_id: str = Field(default="stream-ae", min_length=1)
    """How this detector names itself to the brokers (their logs and quotas)."""
    input_topic: str = Field(default="stream-ae.points", min_length=1)
    """Topic the points arrive on (key = series id)."""
    input_format: InputFormatName = "json"
    """What the input topic's messages hold: "json" (stream-ae's points), "influx"
    (Telegraf's line protocol), "otlp_proto" or "otlp_json" (the OpenTelemetry
    Collector's Kafka exporter: gauges and sums), "prometheus_json" (the Prometheus
    remote-write adapter's JSON)."""
    series_from: str = ""
    """Metrics formats: the series id built from the metric's {name} and its {tags}, as
    "{host}/{name}"; empty, the name and every tag, as "cpu,host=a,region=eu"."""
    channels_from: ChannelsFrom = "field"
    """Metrics formats: a series' channels are its "field"s (Influx fields; one channel
    "value" for the other formats) or the metric "name"s (one series gathers the
    metrics sent together; the default id then leaves the name out)."""
    alert_topic: str = Field(default="stream-ae.alerts", min_length=1)
    """Topic alerts are written to (key = series id, header alert_id)."""
    dead_letter_topic: str = Field(default="stream-ae.dead-letters", min_length=1)
    """Topic for input that cannot be scored, with the reason and where it came from."""
    group_id: str = Field(default="stream-ae", min_length=1)
    """Consumer group: detectors sharing it split the input partitions."""
    create_topics: bool = True
    """Create missing topics at start (off where topics are managed elsewhere)."""
    partitions: int = Field(default=8, ge=1)
    """Partitions of topics this service creates."""
    replication_factor: int = Field(default=1, ge=1)
    """Replicas of topics this service creates (1 suits one broker; clusters want 3)."""
    score_topic: str | None = None
    """When set, every scored point's score, threshold and alert state is written here
    (key = series id): for debugging and audits; it multiplies the output traffic."""
    max_batch_points: int = Field(default=5000, ge=1)
    """Most points in one micro-batch."""
    max_wait_ms: int = Field(default=50, ge=1)
    """Longest a micro-batch waits for its first message. A batch with messages goes
    as soon as those that have arrived are decoded:
    under load they pile up while the batch before is scored, so batches grow with the
    rate, and a quiet input is scored at once."""
    fetch_wait_ms: int = Field(default=20, ge=1)
    """Longest a broker may hold a fetch that finds no new message. Kafka answers as
    soon as one arrives; a broker that holds a fetch anyway adds part of this wait to
    every point's latency (the embedded one: p99 about half of it,
    `benchmarks/broker_fetch_hold.py`)."""
    max_queued_batches: int = Field(default=1, ge=1)
    """Batches waiting for the scorer before input partitions are paused (backpressure).
    One keeps the scorer fed (while a batch is scored, the next waits and the fetcher
    holds the one after); more only lengthen the wait below the maximum rate
    (benchmarks/RESULTS.md, "Where a paced point's time goes")."""
    max_message_bytes: int = Field(default=1_000_000, ge=1024)
    """Larger input messages go to the dead-letter topic unread."""
    session_timeout_ms: int = Field(default=10_000, ge=1000)
    """Consumer group session timeout; a detector silent this long loses its partitions."""
    rebuild_messages: int = Field(default=20_000, ge=0)
    """On assignment, re-read up to this many messages before each partition's committed
    offset to rebuild its series' windows and thresholds; their alerts are not sent again.
    Enough covers window length + threshold history points of every series in a partition."""
    connect_retry_s: float = Field(default=120.0, ge=0)
    """How long start-up keeps retrying an unreachable broker before giving up."""
    topic_check_s: float = Field(default=10.0, gt=0)
    """How often a running detector checks that the brokers answer and its topics exist
    (a replaced broker may have lost them): it re-creates them when kafka.create_topics
    is on, else logs an error and reports not ready on /readyz."""
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    """How to reach the brokers."""
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "GSSAPI", "OAUTHBEARER"] = (
        "PLAIN"
    )
    """SASL mechanism when the protocol uses SASL (GSSAPI needs `pip install gssapi` and a
    Kerberos ticket; OAUTHBEARER reads its token from sasl_oauth_token_file)."""
    sasl_username: str | None = None
    """SASL user (set it from a secret: STREAM_AE_KAFKA__SASL_USERNAME)."""
    sasl_password: SecretStr | None = None
    """SASL password (set it from a secret: STREAM_AE_KAFKA__SASL_PASSWORD). Printed and
    logged only as a mask; the Kafka client alone reads it."""
    sasl_kerberos_service_name: str = "kafka"
    """GSSAPI: the brokers' Kerberos service name."""
    sasl_kerberos_domain_name: str | None = None
    """GSSAPI: the brokers' Kerberos domain, when not their host names'."""
    sasl_oauth_token_file: Path | None = None
    """OAUTHBEARER: a file holding the bearer token, read again at each authentication
    (a token a sidecar or Kubernetes refreshes)."""
    ssl_cafile: Path | None = None
    """CA bundle for SSL, when the system's is not the one."""
    ssl_certfile: Path | None = None
    """Client certificate (PEM) for brokers that authenticate clients by TLS (mTLS)."""
    ssl_keyfile: Path | None = None
    """The client certificate's private key (PEM), when not in ssl_certfile."""
    ssl_password: SecretStr | None = None
    """Password of the private key, if it has one (STREAM_AE_KAFKA__SSL_PASSWORD)."""
    consumer_options: dict[str, str | int | float | bool] = Field(default_factory=dict)
    """More aiokafka consumer options, passed as they are (e.g. {fetch_min_bytes =
    1024}); the ones this section or the service sets are refused here."""
    producer_options: dict[str, str | int | float | bool] = Field(default_factory=dict)
    """More aiokafka producer options, passed as they are (e.g. {compression_type =
    "gzip"}); the ones this section or the service sets are refused here."""

    _servers_from_text = field_validator("bootstrap_servers", mode="before")(_list_from_text)

    @field_validator("bootstrap_servers")
    @classmethod
    def _servers_named(cls, servers: list[str]) -> list[str]:
        named = [server.strip() for server in servers if server.strip()]
        if not named:
            raise ValueError("name at least one broker, as host:port")
        return named

    @field_validator("series_from")
    @classmethod
    def _template_usable(cls, template: str) -> str:
        problem = template_problem(template)
        if problem is not None:
            raise ValueError(problem)
        return template

    @field_validator("consumer_options", "producer_options", mode="before")
    @classmethod
    def _typed_from_text(cls, options: object) -> object:
        # From the environment every value is text: '1024' and 'true' mean a number and
        # a flag to aiokafka, as they do in the TOML file.
        if not isinstance(options, dict):
            return options
        return {key: _scalar_from_text(value) for key, value in options.items()}

    @field_validator("consumer_options", "producer_options")
    @classmethod
    def _not_managed(cls, options: dict[str, object]) -> dict[str, object]:
        taken = sorted(set(options) & MANAGED_CLIENT_OPTIONS)
        if taken:
            raise ValueError(
                f"{', '.join(taken)} are set by stream-ae itself (its offsets, delivery and "
                "connection depend on them): set them through this section's own keys, or "
                "leave them out"
            )
        return options

    @property
    def bootstrap(self) -> str:
        """The brokers as one comma-separated string, for log lines and messages."""
        return ",".join(self.bootstrap_servers)

    def with_servers(self, servers: str) -> KafkaSettings:
        """These settings with other brokers (a command line's --bootstrap)."""
        return KafkaSettings.model_validate({**self.model_dump(), "bootstrap_servers": servers})
