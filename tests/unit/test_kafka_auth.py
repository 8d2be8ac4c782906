"""The Kafka security and ClickHouse credential settings: what each client gets, and one line
for each inconsistent combination."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest

from sqm.streams.config import ConfigError, load_settings
from sqm.streams.kafka_auth import changelog_config, client_auth, faust_auth, replication_factor
from sqm.streams.store import store_url


@pytest.fixture()
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "password"
    path.write_text("p@ss word:/\n")  # what `echo ... > file` leaves: one trailing newline
    return path


def test_sasl_ssl_with_a_password_file(secret: Path) -> None:
    s = load_settings(kafka_bootstrap="k:9093", kafka_security_protocol="SASL_SSL",
                      kafka_sasl_mechanism="SCRAM-SHA-256", kafka_sasl_username="sqm",
                      kafka_sasl_password_file=secret)
    auth = client_auth(s)
    assert {k: v for k, v in auth.items() if k != "ssl_context"} == {
        "security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-256",
        "sasl_plain_username": "sqm", "sasl_plain_password": "p@ss word:/"}
    ctx = auth["ssl_context"]
    assert isinstance(ctx, ssl.SSLContext)
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    creds = faust_auth(s)["broker_credentials"]
    assert (creds.protocol.value, creds.mechanism.value, creds.username, creds.password) == (
        "SASL_SSL", "SCRAM-SHA-256", "sqm", "p@ss word:/")


def test_the_embedded_broker_stays_plaintext(secret: Path) -> None:
    s = load_settings(kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_username="sqm",
                      kafka_sasl_password_file=secret, kafka_replication_factor=3,
                      kafka_topic_config={"retention.ms": 1000})
    assert s.embedded and client_auth(s) == {} and faust_auth(s) == {}
    assert replication_factor(s) == 1 and changelog_config(s) == {}


def test_plaintext_is_the_default() -> None:
    s = load_settings(kafka_bootstrap="k:9092")
    assert client_auth(s) == {} and replication_factor(s) == 1


def test_changelogs_keep_their_cleanup_policy() -> None:
    s = load_settings(kafka_bootstrap="k:9092", kafka_topic_config={
        "retention.ms": 604800000, "cleanup.policy": "delete", "min.insync.replicas": "2"})
    assert changelog_config(s) == {"retention.ms": "604800000", "min.insync.replicas": "2"}


@pytest.mark.parametrize(("overrides", "message"), [
    ({"kafka_security_protocol": "SASL_SSL"},
     "SQM_KAFKA_SASL_USERNAME is required with SQM_KAFKA_SECURITY_PROTOCOL=SASL_SSL"),
    ({"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_sasl_username": "u"},
     "SQM_KAFKA_SASL_PASSWORD or SQM_KAFKA_SASL_PASSWORD_FILE is required"),
    ({"kafka_security_protocol": "SASL_SSL", "kafka_sasl_username": "u",
      "kafka_sasl_password": "p", "kafka_sasl_password_file": "SECRET"},
     "set SQM_KAFKA_SASL_PASSWORD or SQM_KAFKA_SASL_PASSWORD_FILE, not both"),
    ({"kafka_sasl_username": "u"},
     "SQM_KAFKA_SASL_USERNAME is set but SQM_KAFKA_SECURITY_PROTOCOL is PLAINTEXT"),
    ({"kafka_security_protocol": "SASL_SSL", "kafka_sasl_username": "u",
      "kafka_sasl_password_file": "/nonexistent/pw"},
     "SQM_KAFKA_SASL_PASSWORD_FILE: no such file: /nonexistent/pw"),
    ({"kafka_security_protocol": "SSL", "kafka_ssl_cafile": "/nonexistent/ca.pem"},
     "SQM_KAFKA_SSL_CAFILE: no such file: /nonexistent/ca.pem"),
    ({"kafka_ssl_cafile": "SECRET"}, "SQM_KAFKA_SSL_CAFILE is set but "
     "SQM_KAFKA_SECURITY_PROTOCOL is PLAINTEXT (use SSL or SASL_SSL)"),
    ({"kafka_security_protocol": "SSL", "kafka_ssl_keyfile": "SECRET"},
     "SQM_KAFKA_SSL_KEYFILE needs SQM_KAFKA_SSL_CERTFILE"),
    ({"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "GSSAPI"},
     "kafka_sasl_mechanism: Input should be 'PLAIN', 'SCRAM-SHA-256' or 'SCRAM-SHA-512'"),
    ({"kafka_topic_config": {"retention ms": "1"}},
     "SQM_KAFKA_TOPIC_CONFIG: 'retention ms' is not a topic config name"),
    ({"kafka_replication_factor": 0}, "kafka_replication_factor: Input should be greater"),
    ({"clickhouse_password_file": "SECRET"},
     "SQM_CLICKHOUSE_PASSWORD_FILE needs an http(s):// SQM_CLICKHOUSE_URL"),
    ({"clickhouse_url": "https://u:pw@ch:8443/sqm", "clickhouse_password_file": "SECRET"},
     "the password is in SQM_CLICKHOUSE_URL and in SQM_CLICKHOUSE_PASSWORD_FILE: keep one"),
    ({"clickhouse_url": "https://u@ch:8443/sqm", "clickhouse_user": "v"},
     "the user is in SQM_CLICKHOUSE_URL and in SQM_CLICKHOUSE_USER: keep one"),
])
def test_one_line_per_mistake(overrides: dict[str, Any], message: str, secret: Path) -> None:
    fixed = {k: str(secret) if v == "SECRET" else v for k, v in overrides.items()}
    with pytest.raises(ConfigError) as caught:
        load_settings(**fixed)
    text = str(caught.value)
    assert message in text and "\n" not in text and "Value error" not in text, text


def test_an_unreadable_tls_file_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate\n")
    s = load_settings(kafka_bootstrap="k:9093", kafka_security_protocol="SSL",
                      kafka_ssl_cafile=bad)
    with pytest.raises(ConfigError, match=r"^config: the Kafka TLS files \(SQM_KAFKA_SSL_\*\)"):
        client_auth(s)


def test_clickhouse_password_file_goes_into_the_url(secret: Path) -> None:
    s = load_settings(clickhouse_url="https://ch.example:8443/sqm", clickhouse_user="sqm_writer",
                      clickhouse_password_file=secret)
    # Quoted: the password's '@', ' ', ':' and '/' must not end the user part or the host.
    assert store_url(s) == "https://sqm_writer:p%40ss%20word%3A%2F@ch.example:8443/sqm"
    s = load_settings(clickhouse_url="https://analyst@ch.example:8443/sqm",
                      clickhouse_password_file=secret)
    assert store_url(s).startswith("https://analyst:p%40ss")
    s = load_settings(clickhouse_url="http://ch:8123/sqm", clickhouse_password_file=secret)
    assert store_url(s).startswith("http://default:p%40ss")


def test_an_empty_value_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    # docker compose passes `${SQM_KAFKA_SASL_USERNAME:-}` as an empty string.
    for name in ("SQM_KAFKA_SASL_USERNAME", "SQM_KAFKA_SASL_PASSWORD", "SQM_KAFKA_SSL_CAFILE",
                 "SQM_CLICKHOUSE_USER", "SQM_CLICKHOUSE_PASSWORD_FILE"):
        monkeypatch.setenv(name, "")
    s = load_settings(kafka_bootstrap="k:9092", clickhouse_url="https://u:p@ch:8443/sqm")
    assert s.kafka_sasl_username is None and s.kafka_ssl_cafile is None
    assert client_auth(s) == {} and store_url(s) == "https://u:p@ch:8443/sqm"
