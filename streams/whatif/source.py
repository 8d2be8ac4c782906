"""What `sqm whatif` reads from a store: SELECTs only, on a connection ClickHouse itself keeps
read-only (`readonly=1`: any write, DDL or settings change is refused by the server).

The scope of a period [start, end) is every contact with a stored event in it, since a contact
counts in a one-minute window only at one of its own event times, plus the contacts that may
still be waiting at its start: their at-risk point (no event time) may fall in the period. All
of a scope contact's events are read, whenever they happened: its stored row was derived from
all of them.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass
from datetime import datetime

from clickhouse_connect.driver.client import Client

from sqm.sinks.clickhouse import connect
from sqm.streams.core.records import EventRecord
from sqm.streams.core.rows import epoch_ms
from sqm.streams.core.validate import Rejection, validate_wire

ContactKey = tuple[str, str]

_PERIOD = ("occurred_at >= fromUnixTimestamp64Milli({start:Int64}, 'UTC') "
           "AND occurred_at < fromUnixTimestamp64Milli({end:Int64}, 'UTC')")
_IN_PERIOD = f"SELECT tenant_id, contact_id FROM sqm.events WHERE {_PERIOD}"
# Contacts with an event in the `lookback` before the start and, before it, neither an abandon
# nor a public human answer: under any policy either one ends the wait (a bot's reply may not).
# A contact whose clock started earlier than that was let go by the at-risk tracker.
_WAITING = (
    "SELECT tenant_id, {columns} FROM sqm.events "
    "WHERE occurred_at >= fromUnixTimestamp64Milli({{start:Int64}} - {{lookback:Int64}}, 'UTC') "
    "AND occurred_at < fromUnixTimestamp64Milli({{start:Int64}}, 'UTC') "
    "GROUP BY tenant_id, contact_id HAVING countIf(type = 'contact.abandoned' OR (type = "
    "'message.sent' AND sender = 'agent' AND NOT (JSONHas(raw, 'public') "
    "AND NOT JSONExtractBool(raw, 'public')))) = 0")
_SCOPE = f"{_IN_PERIOD} UNION DISTINCT {_WAITING.format(columns='contact_id')}"
_CUSTOMERS = (f"SELECT tenant_id, customer_id FROM sqm.events WHERE {_PERIOD} UNION DISTINCT "
              f"{_WAITING.format(columns='any(customer_id)')}")


@dataclass(frozen=True, slots=True)
class StoredRow:
    """What the pipeline stored for a contact, to check the recomputation against."""

    policy_version: str
    sla_outcome: str | None
    sla_target_s: int
    is_repeat: bool


@dataclass(frozen=True, slots=True)
class Events:
    records: list[EventRecord]
    invalid: int  # stored events that no longer validate (left out)


def open_read_only(url: str) -> Client:
    client = connect(url)
    client.set_client_setting("readonly", "1")
    return client


def scope_events(client: Client, start_ms: int, end_ms: int, lookback_ms: int) -> Events:
    """Every stored event of the scope's contacts, validated again as the ingest stage did
    (the archive's way: `sinks/archive.py`); `lookback_ms`: how long before the start a
    contact may have started waiting and still be at risk in the period."""
    return _validated(client, f"SELECT tenant_id, contact_id, raw FROM sqm.events FINAL "
                              f"WHERE (tenant_id, contact_id) IN ({_SCOPE})",
                      {"start": start_ms, "end": end_ms, "lookback": lookback_ms})


def neighbour_creations(client: Client, start_ms: int, end_ms: int, lookback_ms: int,
                        lo_ms: int, hi_ms: int, known: Container[ContactKey]) -> Events:
    """The `contact.created` events in [lo, hi] of the scope's customers, but those of the
    `known` contacts: they make the scope's repeats and end its FCRs."""
    return _validated(
        client,
        "SELECT tenant_id, contact_id, raw FROM sqm.events FINAL WHERE type = 'contact.created' "
        "AND occurred_at >= fromUnixTimestamp64Milli({lo:Int64}, 'UTC') "
        "AND occurred_at <= fromUnixTimestamp64Milli({hi:Int64}, 'UTC') "
        f"AND (tenant_id, customer_id) IN ({_CUSTOMERS})",
        {"start": start_ms, "end": end_ms, "lookback": lookback_ms, "lo": lo_ms, "hi": hi_ms},
        known)


def stored_rows(client: Client, start_ms: int, end_ms: int) -> dict[ContactKey, StoredRow]:
    """The stored rows of the contacts with an event in [start, end): those were all derived
    again at an event in the period, so under the policy then in force."""
    rows = client.query(
        "SELECT tenant_id, contact_id, policy_version, sla_outcome, sla_target_s, is_repeat "
        f"FROM sqm.contacts FINAL WHERE (tenant_id, contact_id) IN ({_IN_PERIOD})",
        parameters={"start": start_ms, "end": end_ms}).result_rows
    return {(t, c): StoredRow(str(v), o, int(target), bool(r)) for t, c, v, o, target, r in rows}


def newest_event_ms(client: Client) -> int | None:
    """The newest event time stored: FCRs created less than a window before it are provisional
    (as `sqm scorecard` says)."""
    latest = client.query("SELECT max(last_event_at) FROM sqm.contacts").result_rows[0][0]
    return epoch_ms(latest) if isinstance(latest, datetime) else None


def _validated(client: Client, sql: str, parameters: dict[str, int],
               skip: Container[ContactKey] = ()) -> Events:
    records: list[EventRecord] = []
    invalid = 0
    # Streamed in blocks: a period's raw JSON is never all in memory at once.
    with client.query_rows_stream(sql, parameters=parameters) as stream:
        for tenant, contact, raw in stream:
            if (tenant, contact) in skip:
                continue
            wire = validate_wire(raw.encode() if isinstance(raw, str) else raw)
            if isinstance(wire, Rejection):  # valid when stored: a contract change since
                invalid += 1
                continue
            record = EventRecord.from_wire_list(wire)
            record.raw = ""  # facts never read it
            records.append(record)
    return Events(records, invalid)
