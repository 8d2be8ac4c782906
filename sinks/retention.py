"""Configurable retention: the TTL of each table, set by `sqm migrate` from the settings.

Not a migration file: the TTLs are settings, so they are compared with what the server has and
changed (`MODIFY TTL`) or removed (`REMOVE TTL`) only where they differ; running it again with
the same settings sends nothing. A row is deleted once its time column is older than the TTL,
when ClickHouse next merges its part (in the background; `OPTIMIZE TABLE ... FINAL` forces it).
Which tables and columns, and why the archived ones must outlive the pipeline's state:
docs/schema.md, "Retention".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from clickhouse_connect.driver import Client
from clickhouse_connect.driver.exceptions import Error as ClickHouseDriverError

from sqm.sinks.cluster import local_name
from sqm.sinks.migrations import MigrationError

__all__ = ["RAW_TABLES", "TABLE_GROUPS", "RetentionError", "TableTtl", "apply_ttls", "plan"]


@dataclass(frozen=True, slots=True)
class TableTtl:
    table: str  # without the database, e.g. "events"
    column: str  # the row's time: a row older than `days` by it is deleted
    days: int  # 0 = keep forever

    @property
    def expression(self) -> str | None:
        """The TTL as ClickHouse prints it in `engine_full`, or None for no TTL."""
        if self.days == 0:
            return None
        return f"toDateTime({self.column}) + toIntervalDay({self.days})"


# The raw payloads (`raw_ttl_days`): every valid event as received, every rejected input.
RAW_TABLES: dict[str, str] = {"events": "occurred_at", "dead_letters": "received_at"}
# The table groups of `table_ttl_days`: table -> its time column. sqm.schema_migrations has none.
TABLE_GROUPS: dict[str, dict[str, str]] = {
    "contacts": {"contacts": "last_event_at"},
    "windows": {"sla_1m": "window_start", "dropped_corrections": "window_start"},
    "alerts": {"alerts": "started_at"},
    "scorecard": {"scorecard_scores": "period_end"},
}
_TTL_IN_ENGINE = re.compile(r"\bTTL (?P<ttl>.+?)(?: SETTINGS |$)")


class RetentionError(MigrationError):
    """A TTL could not be read or set; str() is one line (`sqm migrate` prints it as such)."""


def plan(raw_ttl_days: int, table_ttl_days: Mapping[Any, int]) -> list[TableTtl]:
    """The TTL every table with one should have under these settings."""
    ttls = [TableTtl(t, c, raw_ttl_days) for t, c in RAW_TABLES.items()]
    for group, tables in TABLE_GROUPS.items():
        days = table_ttl_days.get(group, 0)
        ttls += [TableTtl(t, c, days) for t, c in tables.items()]
    return ttls


def apply_ttls(client: Client, ttls: list[TableTtl], cluster: str | None = None) -> list[str]:
    """Bring each table's TTL to `ttls`; return what changed, e.g. ["events: 30 days"]."""
    changed: list[str] = []
    for ttl in ttls:
        # On a cluster the data, and so the TTL, is in the replicated local tables.
        table = local_name(ttl.table) if cluster else ttl.table
        current = _current_ttl(client, table)
        if current == ttl.expression:
            continue
        on = f" ON CLUSTER {cluster}" if cluster else ""
        if ttl.expression is None:
            _command(client, f"ALTER TABLE sqm.{table}{on} REMOVE TTL")
            changed.append(f"{ttl.table}: forever")
        else:
            _command(client, f"ALTER TABLE sqm.{table}{on} MODIFY TTL {ttl.expression}")
            changed.append(f"{ttl.table}: {ttl.days} days")
    return changed


def _current_ttl(client: Client, table: str) -> str | None:
    rows = _query(client, "SELECT engine_full FROM system.tables "
                          "WHERE database = 'sqm' AND name = {t:String}", {"t": table})
    if not rows:
        raise RetentionError(f"table sqm.{table} does not exist: run `sqm migrate` first")
    match = _TTL_IN_ENGINE.search(str(rows[0][0]))
    return match.group("ttl").strip() if match else None


def _query(client: Client, sql: str, parameters: dict[str, object]) -> list[list[object]]:
    try:
        return [list(r) for r in client.query(sql, parameters=parameters).result_rows]
    except ClickHouseDriverError as ex:
        raise RetentionError(f"cannot read the TTLs: {ex}") from None


def _command(client: Client, sql: str) -> None:
    try:
        client.command(sql, use_database=False)
    except ClickHouseDriverError as ex:
        first = str(ex).strip().splitlines()[0] if str(ex).strip() else type(ex).__name__
        raise RetentionError(f"`{sql}` failed: {first}") from None
