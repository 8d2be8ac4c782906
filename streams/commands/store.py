"""`sqm migrate`: the store's schema."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqm.streams.commands.base import (
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
    """Apply the ClickHouse schema migrations and the configured TTLs (idempotent); creates a
    missing store."""
    from sqm.sinks.clickhouse import connect
    from sqm.sinks.migrations import migrate as apply
    from sqm.sinks.retention import apply_ttls, plan
    from sqm.streams.store import store_url

    settings = settings_for(config, store)
    check_store(settings, create=True)
    client = connect(store_url(settings))
    try:
        applied = apply(client, settings.clickhouse_cluster)
        ttls = apply_ttls(client, plan(settings.raw_ttl_days, settings.table_ttl_days),
                          settings.clickhouse_cluster)
    finally:
        client.close()
    out.print(f"applied: {', '.join(applied)}" if applied else "schema is up to date")
    if ttls:
        out.print(f"ttl: {', '.join(ttls)}")
