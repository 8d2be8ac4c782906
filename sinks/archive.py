"""The shards' archive (`streams.core.archive.Archive`) over the ClickHouse tables they wrote.

An evicted contact is rebuilt from its stored events (`sqm.events.raw`, validated again exactly
as the ingest stage did) and its stored repeat flag; an evicted window from the shard's own
`sqm.sla_1m` row. Only contacts with a row in `sqm.contacts` are read back, so asking about a
contact that is simply new costs one primary-key lookup per batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, TypeVar

from clickhouse_connect.driver import Client

from sqm.streams.core.archive import ArchivedContact, ContactKey
from sqm.streams.core.records import EventRecord
from sqm.streams.core.rollup import N_COUNTERS, WindowKey
from sqm.streams.core.validate import Rejection, validate_wire

_SLA_COUNTERS = (
    "offered", "answered", "answered_in_sla", "wait_s_sum", "abandoned", "short_abandoned",
    "created", "repeat_contacts", "sl_met", "sl_missed", "csat_count", "csat_sum", "csat_good",
)
assert len(_SLA_COUNTERS) == N_COUNTERS
T = TypeVar("T")


def _once(call: Callable[[], T]) -> T:
    return call()


class ClickHouseArchive:
    """`retry` runs each read (the writer's `retrying`: reads wait out an outage as writes do)."""

    def __init__(self, client: Client, retry: Callable[[Callable[[], Any]], Any] = _once) -> None:
        self.client = client
        self._retry = retry

    def _query(self, sql: str, parameters: dict[str, Any]) -> Sequence[Sequence[Any]]:
        return self._retry(lambda: self.client.query(sql, parameters=parameters).result_rows)

    def contacts(self, keys: Sequence[ContactKey]) -> dict[ContactKey, ArchivedContact]:
        if not keys:
            return {}
        # Without FINAL (which merges every part of the table: most of a read-back's time),
        # the latest row by version is taken here, as FINAL would keep it. Its flag is the
        # contact's: the version counts events and the flag, which only turns on.
        stored = self._query(
            "SELECT tenant_id, contact_id, is_repeat, version FROM sqm.contacts "
            "WHERE (tenant_id, contact_id) IN {keys:Array(Tuple(String, String))}",
            {"keys": list(keys)},
        )
        if not stored:
            return {}
        latest: dict[ContactKey, tuple[int, bool]] = {}
        for t, c, r, version in stored:
            seen = latest.get((t, c))
            if seen is None or version > seen[0]:
                latest[(t, c)] = (version, bool(r))
        events = self.events(list(latest))
        return {k: ArchivedContact(events[k], repeat) for k, (_v, repeat) in latest.items()}

    def events(self, keys: Sequence[ContactKey]) -> dict[ContactKey, list[EventRecord]]:
        """Every stored event of each contact in `keys`, in (occurred_at, event_id) order."""
        # One row per sorting key, as FINAL would give (rows written twice for one key, by a
        # replay after a crash, are the same event), without FINAL's merge of every part.
        rows = self._query(
            "SELECT tenant_id, contact_id, toUnixTimestamp64Milli(occurred_at), event_id, raw "
            "FROM sqm.events "
            "WHERE (tenant_id, contact_id) IN {keys:Array(Tuple(String, String))}",
            {"keys": list(keys)},
        )
        unique = {(tenant, ts, event_id): (tenant, contact, raw)
                  for tenant, contact, ts, event_id, raw in rows}
        events: dict[ContactKey, list[EventRecord]] = {k: [] for k in keys}
        for key in sorted(unique):
            tenant, contact, raw = unique[key]
            wire = validate_wire(raw.encode() if isinstance(raw, str) else raw)
            if not isinstance(wire, Rejection):  # stored events were valid when stored
                events[(tenant, contact)].append(EventRecord.from_wire_list(wire))
        return events

    def windows(self, shard: int, keys: Sequence[WindowKey]) -> dict[
            WindowKey, tuple[list[int], int]]:
        if not keys:
            return {}
        rows = self._query(
            "SELECT toInt64(toUnixTimestamp(window_start)) * 1000, tenant_id, channel, queue, "
            "priority, "
            f"{', '.join(_SLA_COUNTERS)}, version FROM sqm.sla_1m FINAL "
            "WHERE shard = {shard:UInt16} AND (toInt64(toUnixTimestamp(window_start)) * 1000, "
            "tenant_id, "
            "channel, queue, priority) IN {keys:Array(Tuple(Int64, String, String, String, "
            "String))}",
            {"shard": shard, "keys": [tuple(k) for k in keys]},
        )
        out: dict[WindowKey, tuple[list[int], int]] = {}
        for row in rows:
            key: WindowKey = (int(row[0]), row[1], row[2], row[3], row[4])
            counts: list[Any] = list(row[5:5 + N_COUNTERS])
            counts[3] = Decimal(counts[3]).scaleb(3)  # wait_s_sum: seconds -> ms, as in state
            out[key] = ([int(c) for c in counts], int(row[5 + N_COUNTERS]))
        return out
