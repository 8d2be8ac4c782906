"""Opening the ClickHouse store a command works on (no broker, no Faust: quick to import)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from clickhouse_connect.driver.client import Client

from sqm.sinks.clickhouse import StoreError, connect
from sqm.sinks.migrations import migrate
from sqm.streams.config import Settings

__all__ = ["check_store_dir", "open_store", "store_url"]


def store_url(settings: Settings) -> str:
    """The URL to connect with: the chDB directory made absolute, or the server's URL with the
    user and the password file's content in it (SQM_CLICKHOUSE_USER, _PASSWORD_FILE)."""
    store = settings.store_dir()
    if store is not None:
        return f"chdb://{store}"
    if settings.clickhouse_password_file is None and settings.clickhouse_user is None:
        return settings.clickhouse_url
    from sqm.streams.kafka_auth import read_secret

    parts = urlsplit(settings.clickhouse_url)
    user = settings.clickhouse_user or unquote(parts.username or "") or "default"
    creds = quote(user, safe="")
    if settings.clickhouse_password_file is not None:
        password = read_secret(settings.clickhouse_password_file, "SQM_CLICKHOUSE_PASSWORD_FILE")
        creds += ":" + quote(password, safe="")
    elif parts.password is not None:
        creds += ":" + parts.password  # already quoted in the URL
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{creds}@{host}"))


def open_store(settings: Settings, *, reset: bool = False) -> Client:
    """Connect to ClickHouse and apply migrations (idempotent); `reset` drops `sqm` first."""
    store = settings.store_dir()
    if store is not None:
        store.mkdir(parents=True, exist_ok=True)
    client = connect(store_url(settings))
    if reset:
        on = f" ON CLUSTER {settings.clickhouse_cluster}" if settings.clickhouse_cluster else ""
        client.command(f"DROP DATABASE IF EXISTS sqm{on} SYNC")
    migrate(client, settings.clickhouse_cluster)
    return client


def check_store_dir(path: Path, *, create: bool) -> None:
    """Refuse in one line (StoreError) a store directory chDB cannot use, before chDB tries: its
    own failure is an engine error with the cause (a file, no permission) buried in it.

    `create`: make the directory when missing (replay, migrate); else it must hold a store
    already, so a mistyped --store of a command that only reads is not a new, empty store."""
    if path.exists() and not path.is_dir():
        raise StoreError(f"store {path} is a file, not a directory")
    if not path.exists():
        if not create:
            raise StoreError(f"no store at {path}: pass --store with a directory that "
                             "`sqm replay` or `sqm migrate` wrote")
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the store {path}: {exc.strerror or exc}") from None
    elif not create and not (path / "metadata").is_dir():  # every chDB data directory has it
        raise StoreError(f"no store at {path}: the directory holds no chDB data")
    try:
        # chDB writes even to read (a status file, temporary data).
        fd, probe = tempfile.mkstemp(dir=path, prefix=".sqm-write-check-")
    except OSError as exc:
        raise StoreError(f"store {path} is not writable: {exc.strerror or exc}") from None
    os.close(fd)
    os.unlink(probe)


def open_existing_store(settings: Settings) -> Client:
    """Connect to a store that must already exist and be migrated (the reading commands): a
    mistyped `--store` or a store from an older sqm is one line, never a new empty store."""
    from sqm.sinks.migrations import pending
    from sqm.streams.config import ConfigError

    store = settings.store_dir()
    if store is not None:
        check_store_dir(store, create=False)
    client = connect(store_url(settings))
    if missing := pending(client):
        client.close()
        raise ConfigError(f"the store lacks schema migrations {', '.join(missing)}: run "
                          "`sqm migrate` with the same --store/--config first")
    return client
