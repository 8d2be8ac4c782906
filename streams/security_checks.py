"""Consistency of the Kafka security and ClickHouse credential settings, checked once when the
settings load, so a mistake is one line naming the setting before anything connects."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from sqm.streams.config import Settings

_SASL = ("SASL_PLAINTEXT", "SASL_SSL")
_SSL = ("SSL", "SASL_SSL")
_TOPIC_CONFIG_KEY = re.compile(r"^[a-z0-9]+([._-][a-z0-9]+)*$")


def env(name: str) -> str:
    return f"SQM_{name.upper()}"


def _check_file(name: str, path: Path | None) -> None:
    if path is None:
        return
    if not path.is_file():
        raise ValueError(f"{env(name)}: no such file: {path}")
    if not os.access(path, os.R_OK):
        raise ValueError(f"{env(name)}: cannot read {path}")


def check_security(s: Settings) -> None:
    """Raise ValueError with one line on the first inconsistency found."""
    protocol = s.kafka_security_protocol
    sasl_set = [n for n in ("kafka_sasl_username", "kafka_sasl_password",
                            "kafka_sasl_password_file") if getattr(s, n) is not None]
    if protocol in _SASL:
        if not s.kafka_sasl_username:
            raise ValueError(f"{env('kafka_sasl_username')} is required with "
                             f"{env('kafka_security_protocol')}={protocol}")
        if s.kafka_sasl_password is None and s.kafka_sasl_password_file is None:
            raise ValueError(f"{env('kafka_sasl_password')} or {env('kafka_sasl_password_file')}"
                             f" is required with {env('kafka_security_protocol')}={protocol}")
    elif sasl_set:
        raise ValueError(f"{env(sasl_set[0])} is set but {env('kafka_security_protocol')} is "
                         f"{protocol} (use SASL_PLAINTEXT or SASL_SSL)")
    if s.kafka_sasl_password is not None and s.kafka_sasl_password_file is not None:
        raise ValueError(f"set {env('kafka_sasl_password')} or "
                         f"{env('kafka_sasl_password_file')}, not both")
    ssl_set = [n for n in ("kafka_ssl_cafile", "kafka_ssl_certfile", "kafka_ssl_keyfile",
                           "kafka_ssl_key_password_file") if getattr(s, n) is not None]
    if ssl_set and protocol not in _SSL:
        raise ValueError(f"{env(ssl_set[0])} is set but {env('kafka_security_protocol')} is "
                         f"{protocol} (use SSL or SASL_SSL)")
    if s.kafka_ssl_keyfile is not None and s.kafka_ssl_certfile is None:
        raise ValueError(f"{env('kafka_ssl_keyfile')} needs {env('kafka_ssl_certfile')}")
    if s.kafka_ssl_key_password_file is not None and s.kafka_ssl_certfile is None:
        raise ValueError(f"{env('kafka_ssl_key_password_file')} needs "
                         f"{env('kafka_ssl_certfile')}")
    for name in ("kafka_sasl_password_file", *ssl_set, "clickhouse_password_file"):
        _check_file(name, getattr(s, name))
    for key in s.kafka_topic_config:
        if not _TOPIC_CONFIG_KEY.match(key):
            raise ValueError(f"{env('kafka_topic_config')}: {key!r} is not a topic config name")
    _check_clickhouse(s)


def _check_clickhouse(s: Settings) -> None:
    if s.clickhouse_password_file is None and s.clickhouse_user is None:
        return
    url = urlsplit(s.clickhouse_url)
    setting = "clickhouse_password_file" if s.clickhouse_password_file else "clickhouse_user"
    if url.scheme not in ("http", "https"):
        raise ValueError(f"{env(setting)} needs an http(s):// {env('clickhouse_url')} "
                         "(chDB has no users)")
    if s.clickhouse_password_file is not None and url.password is not None:
        raise ValueError(f"the password is in {env('clickhouse_url')} and in "
                         f"{env('clickhouse_password_file')}: keep one")
    if s.clickhouse_user is not None and url.username:
        raise ValueError(f"the user is in {env('clickhouse_url')} and in "
                         f"{env('clickhouse_user')}: keep one")
