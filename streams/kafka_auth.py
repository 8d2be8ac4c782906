"""Kafka security settings turned into the keyword arguments of every Kafka client sqm makes.

One shape serves both client libraries: aiokafka and kafka-python take the same
`security_protocol`, `sasl_mechanism`, `sasl_plain_username`, `sasl_plain_password` and
`ssl_context`, and Faust's `credentials_to_aiokafka_auth` produces that shape from the app's
`broker_credentials`. The embedded broker speaks PLAINTEXT only, so it gets none of this.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqm.streams.config import ConfigError

if TYPE_CHECKING:
    from sqm.streams.config import Settings

AUTH_KEYS = ("security_protocol", "sasl_mechanism", "sasl_plain_username",
             "sasl_plain_password", "ssl_context")
# Faust's changelogs are compacted tables: a topic config must not turn that off.
CHANGELOG_FIXED = frozenset({"cleanup.policy"})


def read_secret(path: Path, setting: str) -> str:
    """A password file's content without its trailing newline (editors and `echo` add one)."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config: {setting}: cannot read {path}: "
                          f"{getattr(exc, 'strerror', None) or exc}") from None
    return text.removesuffix("\n").removesuffix("\r")


def ssl_context(settings: Settings) -> ssl.SSLContext:
    """Verifying context: the CA file (or the system's CAs), and the client certificate."""
    try:
        ctx = ssl.create_default_context(
            cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None)
        if settings.kafka_ssl_certfile is not None:
            key_password = (read_secret(settings.kafka_ssl_key_password_file,
                                        "SQM_KAFKA_SSL_KEY_PASSWORD_FILE")
                            if settings.kafka_ssl_key_password_file is not None else None)
            ctx.load_cert_chain(
                str(settings.kafka_ssl_certfile),
                str(settings.kafka_ssl_keyfile) if settings.kafka_ssl_keyfile else None,
                key_password)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(f"config: the Kafka TLS files (SQM_KAFKA_SSL_*) cannot be used: "
                          f"{getattr(exc, 'strerror', None) or exc}") from None
    return ctx


def sasl_password(settings: Settings) -> str:
    if settings.kafka_sasl_password_file is not None:
        return read_secret(settings.kafka_sasl_password_file, "SQM_KAFKA_SASL_PASSWORD_FILE")
    secret = settings.kafka_sasl_password
    return secret.get_secret_value() if secret is not None else ""


def client_auth(settings: Settings) -> dict[str, Any]:
    """The security keyword arguments of an aiokafka or kafka-python client for the broker
    `settings` name; empty (PLAINTEXT) for the embedded broker."""
    protocol = settings.kafka_security_protocol
    if settings.embedded or protocol == "PLAINTEXT":
        return {}
    out: dict[str, Any] = {"security_protocol": protocol}
    if protocol in ("SSL", "SASL_SSL"):
        out["ssl_context"] = ssl_context(settings)
    if protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
        out["sasl_mechanism"] = settings.kafka_sasl_mechanism
        out["sasl_plain_username"] = settings.kafka_sasl_username
        out["sasl_plain_password"] = sasl_password(settings)
    return out


def faust_auth(settings: Settings) -> dict[str, Any]:
    """Faust's `broker_credentials` for the same: its producer, consumer and topic creation,
    and sqm's ingest consumer (which takes them from the app's conf), all follow it."""
    import faust

    auth = client_auth(settings)
    if not auth:
        return {}
    if auth["security_protocol"] == "SSL":
        return {"broker_credentials": faust.SSLCredentials(auth["ssl_context"])}
    return {"broker_credentials": faust.SASLCredentials(
        username=auth["sasl_plain_username"], password=auth["sasl_plain_password"],
        mechanism=auth["sasl_mechanism"], ssl_context=auth.get("ssl_context"))}


def auth_of(config: Mapping[str, Any]) -> dict[str, Any]:
    """The security part of a client's keyword arguments (to make another client alike)."""
    return {k: config[k] for k in AUTH_KEYS if k in config}


def replication_factor(settings: Settings) -> int:
    return 1 if settings.embedded else settings.kafka_replication_factor


def topic_config(settings: Settings) -> dict[str, str]:
    """Configs of the topics sqm creates (the embedded broker has no use for them)."""
    if settings.embedded:
        return {}
    return {k: str(v) for k, v in settings.kafka_topic_config.items()}


def changelog_config(settings: Settings) -> dict[str, str]:
    return {k: v for k, v in topic_config(settings).items() if k not in CHANGELOG_FIXED}
