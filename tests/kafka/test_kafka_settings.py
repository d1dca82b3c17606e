"""Kafka settings as Kafka users write them: broker lists, client id, client
certificates, OAuth tokens from a file, and pass-through options that reach the real
broker."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer

from stream_ae.connectors.kafka_common import TokenFile, client_options, ensure_topics
from stream_ae.connectors.kafka_sink import KafkaSink
from stream_ae.errors import ConfigError
from stream_ae.runtime.broker import EmbeddedBroker
from stream_ae.settings import KafkaSettings, Settings, load_settings


def test_brokers_are_a_list_and_the_old_name_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = tmp_path / "old.toml"
    old.write_text('[kafka]\nbootstrap = "a:9092, b:9092"\n')
    assert load_settings(old).kafka.bootstrap_servers == ["a:9092", "b:9092"]
    new = tmp_path / "new.toml"
    new.write_text('[kafka]\nbootstrap_servers = ["c:9093"]\nclient_id = "plant-7"\n')
    kafka = load_settings(new).kafka
    assert kafka.bootstrap == "c:9093"
    options = client_options(kafka)
    assert options["bootstrap_servers"] == ["c:9093"] and options["client_id"] == "plant-7"
    monkeypatch.setenv("STREAM_AE_KAFKA__BOOTSTRAP", "old:1")  # the old name, as deployed
    assert load_settings(new).kafka.bootstrap_servers == ["old:1"]  # the environment wins
    monkeypatch.setenv("STREAM_AE_KAFKA__BOOTSTRAP_SERVERS", "d:1,e:2")
    monkeypatch.delenv("STREAM_AE_KAFKA__BOOTSTRAP")
    assert load_settings(new).kafka.bootstrap_servers == ["d:1", "e:2"]
    assert kafka.with_servers("f:3").bootstrap_servers == ["f:3"]
    both = tmp_path / "both.toml"
    both.write_text('[kafka]\nbootstrap = "a:1"\nbootstrap_servers = ["b:2"]\n')
    with pytest.raises(ConfigError, match="old name of bootstrap_servers: keep one"):
        load_settings(both)
    with pytest.raises(ValueError, match="at least one broker"):
        KafkaSettings(bootstrap_servers=" , ")


def test_options_stream_ae_sets_itself_are_refused_with_a_sentence() -> None:
    with pytest.raises(ValueError, match="enable_auto_commit, group_id are set by stream-ae"):
        KafkaSettings(consumer_options={"group_id": "x", "enable_auto_commit": True})
    assert Settings.model_validate(
        {"kafka": {"producer_options": {"compression_type": "gzip"}}}
    ).kafka.producer_options == {"compression_type": "gzip"}


def test_options_from_the_environment_keep_their_types(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAM_AE_KAFKA__CONSUMER_OPTIONS__FETCH_MIN_BYTES", "1024")
    monkeypatch.setenv("STREAM_AE_KAFKA__PRODUCER_OPTIONS__COMPRESSION_TYPE", "gzip")
    kafka = load_settings(None).kafka
    assert kafka.consumer_options == {"fetch_min_bytes": 1024}
    assert kafka.producer_options == {"compression_type": "gzip"}
    with pytest.raises(ValueError, match="transactional_id"):  # it would break every send
        KafkaSettings(producer_options={"transactional_id": "t"})


def test_a_client_certificate_goes_into_the_tls_context(tmp_path: Path) -> None:
    cert, key = tmp_path / "client.pem", tmp_path / "client.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=stream-ae", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    kafka = KafkaSettings(
        security_protocol="SSL", ssl_cafile=cert, ssl_certfile=cert, ssl_keyfile=key
    )
    context = client_options(kafka)["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.get_ca_certs()[0]["subject"] == ((("commonName", "stream-ae"),),)
    with pytest.raises(ssl.SSLError):  # the key is checked against the certificate
        other = tmp_path / "other.key"
        subprocess.run(
            ["openssl", "genrsa", "-out", str(other), "2048"], check=True, capture_output=True
        )
        client_options(kafka.model_copy(update={"ssl_keyfile": other}))


def test_an_oauth_token_is_read_from_its_file_at_each_login(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("first\n")
    kafka = KafkaSettings(
        security_protocol="SASL_PLAINTEXT", sasl_mechanism="OAUTHBEARER",
        sasl_oauth_token_file=token,
    )  # fmt: skip
    provider = client_options(kafka)["sasl_oauth_token_provider"]
    assert isinstance(provider, TokenFile)
    assert asyncio.run(provider.token()) == "first"
    token.write_text("rotated")
    assert asyncio.run(provider.token()) == "rotated"
    token.unlink()
    with pytest.raises(ConfigError, match="cannot read the OAuth token file"):
        asyncio.run(provider.token())
    with pytest.raises(ConfigError, match=r"needs kafka\.sasl_oauth_token_file"):
        client_options(kafka.model_copy(update={"sasl_oauth_token_file": None}))


def test_producer_options_reach_the_real_broker(broker: EmbeddedBroker) -> None:
    topic = f"t{uuid.uuid4().hex[:10]}.alerts"
    kafka = KafkaSettings(
        bootstrap=broker.address,
        alert_topic=topic,
        partitions=1,
        producer_options={"compression_type": "gzip", "linger_ms": 1},
    )

    async def roundtrip() -> list[bytes]:
        await ensure_topics(kafka, [topic])
        sink = KafkaSink(kafka)
        await sink.start()
        try:
            assert sink._producer is not None
            assert sink._producer.client._client_id == "stream-ae"
            await sink.send([(topic, b"k", b"squeezed " * 50, [])])
        finally:
            await sink.stop()
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=broker.address, auto_offset_reset="earliest"
        )
        await consumer.start()
        try:
            message = await asyncio.wait_for(consumer.getone(), 30)
            return [message.value or b""]
        finally:
            await consumer.stop()

    assert asyncio.run(roundtrip()) == [b"squeezed " * 50]
