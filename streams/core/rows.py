"""Shard results → ClickHouse rows (see docs/schema.md).

Two forms: row dicts with datetimes (`event_row`, ...), and the hot path's columns
(`event_columns`, ...): `{column: [value, ...]}` with times as epoch ms, which
`sinks.writer.ClickHouseWriter` takes as they are. Columns skip a dict per row, a datetime per
time value and the writer's pivot back to columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqm.streams.core.derive import ContactView
from sqm.streams.core.records import EventRecord
from sqm.streams.core.rollup import (
    ABANDONED,
    ANSWERED,
    COUNTER_NAMES,
    CREATED,
    CSAT_COUNT,
    CSAT_GOOD,
    CSAT_SUM,
    IN_SLA,
    OFFERED,
    REPEAT,
    SHORT,
    SL_MET,
    SL_MISSED,
    WAIT_MS,
    WindowKey,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
RAW_LIMIT = 64 * 1024

Row = dict[str, Any]
Columns = dict[str, Sequence[Any]]


def ts(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


def opt_ts(ms: int | None) -> datetime | None:
    return None if ms is None else EPOCH + timedelta(milliseconds=ms)


# Decimal × int is exact (up to 28 digits) and keeps the 3 places of `Decimal(ms).scaleb(-3)`,
# at a third of its cost.
_MILLI = Decimal("0.001")


def seconds(ms: int) -> Decimal:
    return _MILLI * ms


def opt_seconds(ms: int | None) -> Decimal | None:
    return None if ms is None else _MILLI * ms


def event_row(e: EventRecord, now: datetime) -> Row:
    return {
        "event_id": e.event_id,
        "type": e.type,
        "occurred_at": ts(e.ts),
        "tenant_id": e.tenant_id,
        "contact_id": e.contact_id,
        "customer_id": e.customer_id,
        "channel": e.channel,
        "queue": e.queue if e.queue is not None else e.to_queue,
        "agent_id": e.agent_id,
        "sender": e.sender,
        "raw": e.raw,
        "ingested_at": now,
    }


def contact_row(v: ContactView, version: int, now: datetime) -> Row:
    return {
        "tenant_id": v.tenant_id,
        "contact_id": v.contact_id,
        "customer_id": v.customer_id,
        "channel": v.channel,
        "queue": v.queue,
        "priority": v.priority,
        "order_id": v.order_id,
        "topic": v.topic,
        "created_at": opt_ts(v.created_at),
        "queued_at": opt_ts(v.queued_at),
        "answered_at": opt_ts(v.answered_at),
        "first_agent_id": v.first_agent_id,
        "abandoned_at": opt_ts(v.abandoned_at),
        "wait_s": opt_seconds(v.wait_ms),
        "sla_target_s": v.sla_target_s,
        "answered_in_sla": v.answered_in_sla,
        "is_abandoned": v.is_abandoned,
        "is_short_abandon": v.is_short_abandon,
        "is_repeat": v.is_repeat,
        "resolved_at": opt_ts(v.resolved_at),
        "resolved_by": v.resolved_by,
        "bot_contained": v.bot_contained,
        "transferred_to_human": v.transferred_to_human,
        "csat": v.csat,
        "nps": v.nps,
        "first_event_at": ts(v.first_event_at),
        "last_event_at": ts(v.last_event_at),
        "event_count": v.event_count,
        "first_resolved_at": opt_ts(v.first_resolved_at),
        "first_resolution_s": opt_seconds(v.first_resolution_ms),
        "resolution_s": opt_seconds(v.resolution_ms),
        "reopen_count": v.reopen_count,
        "transfer_count": v.transfer_count,
        "ratings": dict(v.ratings),
        "sla_clock": v.sla_clock,
        "sla_start_at": opt_ts(v.sla_start_at),
        "sla_due_at": opt_ts(v.sla_due_at),
        "first_response_s": opt_seconds(v.first_response_ms),
        "sla_outcome": v.sla_outcome,
        "next_response_count": v.next_response_count,
        "next_response_sum_s": seconds(v.next_response_sum_ms),
        "next_response_max_s": opt_seconds(v.next_response_max_ms),
        "next_response_missed": v.next_response_missed,
        "resolution_target_s": v.resolution_target_s,
        "resolution_in_sla": v.resolution_in_sla,
        "handle_s": opt_seconds(v.handle_ms),
        "surveyed_at": opt_ts(v.surveyed_at),
        "policy_version": v.policy_version,
        "version": version,
        "updated_at": now,
    }


def sla_row(key: WindowKey, counts: list[int], shard: int, version: int, now: datetime,
            policy_version: str = "default") -> Row:
    start, tenant, channel, queue, priority = key
    return {
        "window_start": ts(start),
        "tenant_id": tenant,
        "channel": channel,
        "queue": queue,
        "priority": priority,
        "shard": shard,
        "offered": counts[OFFERED],
        "answered": counts[ANSWERED],
        "answered_in_sla": counts[IN_SLA],
        "wait_s_sum": seconds(counts[WAIT_MS]),
        "abandoned": counts[ABANDONED],
        "short_abandoned": counts[SHORT],
        "created": counts[CREATED],
        "repeat_contacts": counts[REPEAT],
        "sl_met": counts[SL_MET],
        "sl_missed": counts[SL_MISSED],
        "csat_count": counts[CSAT_COUNT],
        "csat_sum": counts[CSAT_SUM],
        "csat_good": counts[CSAT_GOOD],
        "policy_version": policy_version,
        "version": version,
        "updated_at": now,
    }


def dropped_correction_row(shard: int, key: WindowKey, delta: list[int], offset: int,
                           now: datetime) -> Row:
    """A correction aimed at a window no longer in state (sqm.dropped_corrections)."""
    start, tenant, channel, queue, priority = key
    row: dict[str, Any] = {
        "window_start": datetime.fromtimestamp(start / 1000, UTC), "tenant_id": tenant,
        "channel": channel, "queue": queue, "priority": priority, "shard": shard,
        "source_offset": offset, "recorded_at": now,
    }
    for name, value in zip(COUNTER_NAMES, delta, strict=True):
        row[name] = value
    row["wait_s_sum"] = seconds(delta[WAIT_MS])
    del row["wait_ms_sum"]
    return row


def dead_letter_row(
    *,
    dl_id: str,
    stage: str,
    reason: str,
    topic: str,
    partition: int,
    offset: int,
    raw: bytes | str,
    now: datetime,
    event_id: str | None = None,
    tenant_id: str | None = None,
) -> Row:
    data = raw.encode() if isinstance(raw, str) else raw
    return {
        "dl_id": dl_id,
        "received_at": now,
        "stage": stage,
        "reason": reason,
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "event_id": event_id,
        "tenant_id": tenant_id,
        "raw": data[:RAW_LIMIT].decode("utf-8", errors="replace"),
        "raw_truncated": len(data) > RAW_LIMIT,
    }


# --- column form ---------------------------------------------------------------------------------


def epoch_ms(dt: datetime) -> int:
    """Aware datetime → epoch ms, floored like the writer floors datetimes to ticks."""
    return (dt - EPOCH) // timedelta(milliseconds=1)


EVENT_COLUMNS = (
    "event_id", "type", "occurred_at", "tenant_id", "contact_id", "customer_id", "channel",
    "queue", "agent_id", "sender", "raw", "ingested_at",
)


def event_columns(events: Sequence[EventRecord], now_ms: int) -> Columns:
    """`event_row` for many events, as columns."""
    if not events:
        return dict.fromkeys(EVENT_COLUMNS, ())
    # A comprehension per column: the interpreter's specialised slot reads cost about half of
    # `map(attrgetter(...))` or of a tuple per event transposed.
    return {
        "event_id": [e.event_id for e in events],
        "type": [e.type for e in events],
        "occurred_at": [e.ts for e in events],
        "tenant_id": [e.tenant_id for e in events],
        "contact_id": [e.contact_id for e in events],
        "customer_id": [e.customer_id for e in events],
        "channel": [e.channel for e in events],
        "queue": [e.queue if e.queue is not None else e.to_queue for e in events],
        "agent_id": [e.agent_id for e in events],
        "sender": [e.sender for e in events],
        "raw": [e.raw for e in events],
        "ingested_at": [now_ms] * len(events),
    }


CONTACT_COLUMNS = (
    "tenant_id", "contact_id", "customer_id", "channel", "queue", "priority", "order_id", "topic",
    "created_at", "queued_at", "answered_at", "first_agent_id", "abandoned_at", "wait_s",
    "sla_target_s", "answered_in_sla", "is_abandoned", "is_short_abandon", "is_repeat",
    "resolved_at", "resolved_by", "bot_contained", "transferred_to_human", "csat", "nps",
    "first_event_at", "last_event_at", "event_count", "first_resolved_at", "first_resolution_s",
    "resolution_s", "reopen_count", "transfer_count", "ratings", "sla_clock", "sla_start_at",
    "sla_due_at", "first_response_s", "sla_outcome", "next_response_count",
    "next_response_sum_s", "next_response_max_s", "next_response_missed", "resolution_target_s",
    "resolution_in_sla", "handle_s", "surveyed_at", "policy_version", "version", "updated_at",
)
# ContactView fields in milliseconds, written as Decimal seconds under another name.
_MS_AS_SECONDS = (("wait_s", "wait_ms"), ("first_resolution_s", "first_resolution_ms"),
                  ("resolution_s", "resolution_ms"), ("first_response_s", "first_response_ms"),
                  ("next_response_max_s", "next_response_max_ms"), ("handle_s", "handle_ms"))
_NEXT_SUM = ContactView._fields.index("next_response_sum_ms")
# ContactView fields that are columns of the same name (all but has_queued and the ms ones).
_SAME_NAMED = tuple(
    (name, ContactView._fields.index(name))
    for name in CONTACT_COLUMNS
    if name in ContactView._fields
)
_RATINGS = ContactView._fields.index("ratings")
_MS_FIELDS = tuple((column, ContactView._fields.index(f)) for column, f in _MS_AS_SECONDS)


def contact_columns(contacts: Sequence[tuple[ContactView, int]], now_ms: int) -> Columns:
    """`contact_row` for many (view, version) pairs, as columns."""
    if not contacts:
        return dict.fromkeys(CONTACT_COLUMNS, ())
    views, versions = zip(*contacts, strict=True)
    fields = list(zip(*views, strict=True))  # views are tuples: one tuple per field
    out: Columns = {name: fields[index] for name, index in _SAME_NAMED}
    milli = _MILLI  # `seconds`, inline
    for column, index in _MS_FIELDS:
        out[column] = [None if ms is None else milli * ms for ms in fields[index]]
    out["ratings"] = [dict(r) for r in fields[_RATINGS]]
    out["next_response_sum_s"] = [milli * ms for ms in fields[_NEXT_SUM]]
    out["version"] = versions
    out["updated_at"] = [now_ms] * len(contacts)
    return {name: out[name] for name in CONTACT_COLUMNS}


SLA_COLUMNS = (
    "window_start", "tenant_id", "channel", "queue", "priority", "shard", "offered", "answered",
    "answered_in_sla", "wait_s_sum", "abandoned", "short_abandoned", "created", "repeat_contacts",
    "sl_met", "sl_missed", "csat_count", "csat_sum", "csat_good", "policy_version",
    "version", "updated_at",
)


def sla_columns(windows: Sequence[tuple[int, WindowKey, list[int], int]], now_ms: int,
                policy_version: str = "default") -> Columns:
    """`sla_row` for many (shard, window key, counts, version), as columns."""
    if not windows:
        return dict.fromkeys(SLA_COLUMNS, ())
    shard, keys, counts, versions = zip(*windows, strict=True)
    start, tenant, channel, queue, priority = zip(*keys, strict=True)
    c = list(zip(*counts, strict=True))
    return {
        "window_start": start,
        "tenant_id": tenant,
        "channel": channel,
        "queue": queue,
        "priority": priority,
        "shard": shard,
        "offered": c[OFFERED],
        "answered": c[ANSWERED],
        "answered_in_sla": c[IN_SLA],
        "wait_s_sum": [_MILLI * ms for ms in c[WAIT_MS]],  # `seconds`, inline
        "abandoned": c[ABANDONED],
        "short_abandoned": c[SHORT],
        "created": c[CREATED],
        "repeat_contacts": c[REPEAT],
        "sl_met": c[SL_MET],
        "sl_missed": c[SL_MISSED],
        "csat_count": c[CSAT_COUNT],
        "csat_sum": c[CSAT_SUM],
        "csat_good": c[CSAT_GOOD],
        "policy_version": [policy_version] * len(windows),
        "version": versions,
        "updated_at": [now_ms] * len(windows),
    }
