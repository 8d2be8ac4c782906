"""`sqm migrate`: the store's schema."""

from __future__ import annotations

from typing import TYPE_CHECKING

from streams.commands.base import (
    Command,
    ConfigOpt,
    StoreOpt,
    check_store,
    cli,
    guarded,
    out,
    settings_for,
)

if TYPE_CHECKING:
    pass


@cli.command(cls=Command)
@guarded
def migrate(config: ConfigOpt = None, store: StoreOpt = None) -> None:
    """Apply the ClickHouse schema migrations (idempotent); creates a missing store."""
    from sinks.clickhouse import connect
    from sinks.migrations import migrate as apply
    from streams.store import store_url

    settings = settings_for(config, store)
    check_store(settings, create=True)
    client = connect(store_url(settings))
    try:
        applied = apply(client)
    finally:
        client.close()
    out.print(f"applied: {', '.join(applied)}" if applied else "schema is up to date")
