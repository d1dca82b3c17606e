"""What the Kafka source and sink share: client options, patient start-up, topics."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.abc import AbstractTokenProvider
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.conn import create_conn
from aiokafka.errors import (
    IllegalSaslStateError,
    KafkaConnectionError,
    KafkaError,
    SaslAuthenticationFailed,
    TopicAlreadyExistsError,
    UnsupportedSaslMechanismError,
    for_code,
)
from aiokafka.helpers import create_ssl_context

from stream_ae.errors import ConfigError, StreamAEError
from stream_ae.settings import KafkaSettings

log = logging.getLogger(__name__)


class KafkaUnavailable(StreamAEError):
    """The brokers could not be reached within the configured patience."""

    retriable = True
    exit_status = 1


class TopicMissing(StreamAEError):
    """A topic the service needs does not exist and may not be created."""


def client_options(kafka: KafkaSettings) -> dict[str, Any]:
    """Connection options every aiokafka client of the service takes."""
    options: dict[str, Any] = {
        "bootstrap_servers": kafka.bootstrap_servers,
        "client_id": kafka.client_id,
        "security_protocol": kafka.security_protocol,
    }
    if kafka.security_protocol in ("SSL", "SASL_SSL"):
        key_password = kafka.ssl_password
        options["ssl_context"] = create_ssl_context(
            cafile=kafka.ssl_cafile,
            certfile=kafka.ssl_certfile,
            keyfile=kafka.ssl_keyfile,
            password=key_password.get_secret_value() if key_password else None,
        )
    if kafka.security_protocol.startswith("SASL"):
        options["sasl_mechanism"] = kafka.sasl_mechanism
        options["sasl_plain_username"] = kafka.sasl_username
        # The one place the password is unwrapped: everywhere else it prints as a mask.
        password = kafka.sasl_password
        options["sasl_plain_password"] = password.get_secret_value() if password else None
        options["sasl_kerberos_service_name"] = kafka.sasl_kerberos_service_name
        options["sasl_kerberos_domain_name"] = kafka.sasl_kerberos_domain_name
        if kafka.sasl_mechanism == "OAUTHBEARER":
            if kafka.sasl_oauth_token_file is None:
                raise ConfigError(
                    "kafka.sasl_mechanism = OAUTHBEARER needs kafka.sasl_oauth_token_file, "
                    "the file that holds the bearer token"
                )
            options["sasl_oauth_token_provider"] = TokenFile(kafka.sasl_oauth_token_file)
    return options


class TokenFile(AbstractTokenProvider):  # type: ignore[misc]  # aiokafka is untyped
    """An OAuth bearer token read from a file at each authentication, so a token that a
    sidecar or Kubernetes rotates is picked up without a restart."""

    def __init__(self, path: Path) -> None:
        self.path = path

    async def token(self) -> str:
        try:
            token = self.path.read_text().strip()
        except OSError as exc:
            raise ConfigError(
                f"cannot read the OAuth token file {self.path} (kafka.sasl_oauth_token_file): "
                f"{exc.strerror}"
            ) from None
        if not token:
            raise ConfigError(f"the OAuth token file {self.path} is empty")
        return token


async def topic_reader(
    kafka: KafkaSettings, topic: str, missing: str = ""
) -> tuple[AIOKafkaConsumer, list[TopicPartition]]:
    """A started consumer without a group, every partition of `topic` assigned to it (the
    caller stops it); TopicMissing, with `missing` appended, when the topic is not there."""
    consumer = await start_patiently(
        lambda: AIOKafkaConsumer(enable_auto_commit=False, **client_options(kafka)),
        kafka,
        f"reader of {topic}",
    )
    try:
        # `topics()` fetches fresh metadata: a topic made since the client started counts.
        partitions = (
            consumer.partitions_for_topic(topic) if topic in await consumer.topics() else None
        )
        if not partitions:
            raise TopicMissing(f"topic {topic!r} does not exist on {kafka.bootstrap}{missing}")
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
    except BaseException:
        await consumer.stop()
        raise
    return consumer, tps


class _Client(Protocol):
    async def start(self) -> None: ...


C = TypeVar("C", bound=_Client)


async def _close(client: object) -> None:
    closer = getattr(client, "stop", None) or getattr(client, "close")  # noqa: B009
    await closer()


async def start_patiently(
    make: Callable[[], C],
    kafka: KafkaSettings,
    what: str,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> C:
    """A started client from `make()`, retrying with backoff for `kafka.connect_retry_s`.

    Each failed attempt is logged as one sentence, so an operator sees what the
    service waits for instead of a traceback.
    """
    deadline = clock() + kafka.connect_retry_s
    delay, attempt = 0.25, 0
    while True:
        attempt += 1
        client = make()
        try:
            await client.start()
            if attempt > 1:
                log.info("%s connected to Kafka at %s", what, kafka.bootstrap)
            return client
        except KafkaConnectionError as exc:
            await _close(client)
            refusal = await login_refusal(kafka)
            if refusal is not None:  # waiting will not help a refused login
                raise KafkaUnavailable(_refused_login(kafka, what, refusal)) from None
            left = deadline - clock()
            if left <= 0:
                raise KafkaUnavailable(
                    f"Kafka at {kafka.bootstrap} did not answer within "
                    f"{kafka.connect_retry_s:g} s ({exc}). Start one with `stream-ae broker`, "
                    "or point kafka.bootstrap_servers (--bootstrap) at a running broker."
                ) from None
            log.warning("waiting for Kafka at %s (attempt %d): %s", kafka.bootstrap, attempt, exc)
            await sleep(min(delay, left))
            delay = min(delay * 2, 5.0)
        except asyncio.CancelledError:  # a stop during start-up: leave no connection open
            await _close(client)
            raise
        except KafkaError as exc:  # reached, but refused: waiting will not help
            await _close(client)
            raise KafkaUnavailable(
                f"Kafka at {kafka.bootstrap} refused the {what}: {exc}. Check "
                "kafka.security_protocol and the sasl_* and ssl_* settings."
            ) from None
        except (StreamAEError, ImportError):  # our own sentence, or gssapi not installed
            await _close(client)
            raise
        except Exception as exc:
            # aiokafka's SCRAM client fails on a server's error reply it cannot parse
            # (KeyError 'v'): during a SASL login that is a refusal, not a crash of ours.
            await _close(client)
            if not kafka.security_protocol.startswith("SASL"):
                raise
            detail = f"{type(exc).__name__} {exc} in the client's login"
            raise KafkaUnavailable(_refused_login(kafka, what, detail)) from None


async def login_refusal(kafka: KafkaSettings, timeout_s: float = 5.0) -> str | None:
    """Why the first broker refuses this client's SASL login; None when it takes it, or
    when it cannot be reached or is not ready (then waiting may help).

    aiokafka's start folds a refused login into "unable to bootstrap", as it does an
    unreachable broker; one connection of our own, with the same options, tells the two
    apart.
    """
    if not kafka.security_protocol.startswith("SASL"):
        return None
    host, port = _host_port(kafka.bootstrap_servers[0])
    options = client_options(kafka)
    del options["bootstrap_servers"]
    try:
        conn = await asyncio.wait_for(create_conn(host, port, **options), timeout_s)
    except (SaslAuthenticationFailed, UnsupportedSaslMechanismError, IllegalSaslStateError) as exc:
        return str(exc)
    except KafkaConnectionError:
        return await _closed_during_login(kafka, host, port, timeout_s)
    except (StreamAEError, ImportError, OSError, TimeoutError):  # not the broker's refusal
        return None
    except Exception as exc:  # an authenticator that cannot read the refusal (see above)
        return f"{type(exc).__name__} {exc} in the client's login"
    conn.close()
    return None


async def _closed_during_login(
    kafka: KafkaSettings, host: str, port: int, timeout_s: float
) -> str | None:
    """Some brokers close the connection on a login they refuse. When the same broker
    answers a Kafka request without logging in (ApiVersions, which Kafka serves before
    the SASL handshake), the close came from the login; a proxy whose broker is not up
    yet closes both, and is waited for."""
    plain = "SSL" if kafka.security_protocol == "SASL_SSL" else "PLAINTEXT"
    options = {k: v for k, v in client_options(kafka).items() if k in ("client_id", "ssl_context")}
    try:
        conn = await asyncio.wait_for(
            create_conn(host, port, security_protocol=plain, **options), timeout_s
        )
    except (KafkaError, OSError, TimeoutError):
        return None
    conn.close()
    return "the broker answers, but closed the connection during the SASL login"


def _host_port(server: str) -> tuple[str, int]:
    host, colon, port = server.rpartition(":")
    if not colon or not port.isdigit():
        return server, 9092  # Kafka's port, as the clients assume
    return host.strip("[]"), int(port)


def _refused_login(kafka: KafkaSettings, what: str, why: str) -> str:
    mechanism = kafka.sasl_mechanism
    user = f" as {kafka.sasl_username!r}" if kafka.sasl_username else ""
    check = {
        "OAUTHBEARER": "the token in kafka.sasl_oauth_token_file (expired? for this cluster?)",
        "GSSAPI": "the Kerberos ticket (klist) and kafka.sasl_kerberos_service_name",
    }.get(mechanism, "kafka.sasl_username and kafka.sasl_password")
    return (
        f"Kafka at {kafka.bootstrap} refused the {what}'s {mechanism} login{user} ({why}). "
        f"Check {check}, and that the brokers enable sasl_mechanism {mechanism} for it."
    )


async def ensure_topics(kafka: KafkaSettings, topics: Sequence[str]) -> list[str]:
    """Create the missing topics when allowed (returning their names), else say how."""
    admin = await start_patiently(
        lambda: AIOKafkaAdminClient(**client_options(kafka)), kafka, "admin client"
    )
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in dict.fromkeys(topics) if t not in existing]
        if not missing:
            return []
        if not kafka.create_topics:
            raise TopicMissing(
                f"topic(s) {', '.join(missing)} do not exist on {kafka.bootstrap}; create them "
                f"(e.g. kafka-topics.sh --create --topic {missing[0]} --partitions "
                f"{kafka.partitions}) or set kafka.create_topics = true"
            )
        response = await admin.create_topics(
            [NewTopic(t, kafka.partitions, kafka.replication_factor) for t in missing]
        )
        # Per-topic failures come back as error codes in the response, not as exceptions;
        # "already exists" means another detector of the group was first.
        failed = [
            f"{topic} ({for_code(code).__name__})"
            for topic, code, *_ in response.topic_errors
            if code not in (0, TopicAlreadyExistsError.errno)
        ]
        if failed:
            raise TopicMissing(
                f"could not create topic(s) {', '.join(failed)} on {kafka.bootstrap}; create "
                "them by hand or give this client the right to create topics"
            )
        log.info("created topic(s) %s with %d partitions", ", ".join(missing), kafka.partitions)
        return missing
    finally:
        await admin.close()


async def missing_topics(
    kafka: KafkaSettings, topics: Sequence[str], timeout_s: float = 5.0
) -> list[str]:
    """The topics the brokers do not have; one attempt, no patience: raises
    KafkaError, OSError or TimeoutError when they cannot be reached."""
    admin = AIOKafkaAdminClient(**client_options(kafka), request_timeout_ms=int(timeout_s * 1000))
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
        existing = set(await asyncio.wait_for(admin.list_topics(), timeout_s))
    finally:
        await admin.close()
    return [t for t in dict.fromkeys(topics) if t not in existing]
