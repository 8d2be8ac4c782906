"""Opening the ClickHouse store a command works on (no broker, no Faust: quick to import)."""

from __future__ import annotations

from clickhouse_connect.driver.client import Client

from sinks.clickhouse import connect
from sinks.migrations import migrate
from streams.config import Settings

__all__ = ["open_store", "store_url"]


def store_url(settings: Settings) -> str:
    store = settings.store_dir()
    return f"chdb://{store}" if store is not None else settings.clickhouse_url


def open_store(settings: Settings, *, reset: bool = False) -> Client:
    """Connect to ClickHouse and apply migrations (idempotent); `reset` drops `sqm` first."""
    store = settings.store_dir()
    if store is not None:
        store.mkdir(parents=True, exist_ok=True)
    client = connect(store_url(settings))
    if reset:
        client.command("DROP DATABASE IF EXISTS sqm SYNC")
    migrate(client)
    return client
