"""Shard results → ClickHouse rows (dicts keyed by column name; see docs/schema.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from streams.core.derive import ContactView
from streams.core.records import EventRecord
from streams.core.rollup import (
    ABANDONED,
    ANSWERED,
    CREATED,
    IN_SLA,
    OFFERED,
    REPEAT,
    SHORT,
    WAIT_MS,
    WindowKey,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
RAW_LIMIT = 64 * 1024

Row = dict[str, Any]


def ts(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


def opt_ts(ms: int | None) -> datetime | None:
    return None if ms is None else EPOCH + timedelta(milliseconds=ms)


def seconds(ms: int) -> Decimal:
    return Decimal(ms).scaleb(-3)


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
        "wait_s": None if v.wait_ms is None else seconds(v.wait_ms),
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
        "version": version,
        "updated_at": now,
    }


def sla_row(key: WindowKey, counts: list[int], shard: int, version: int, now: datetime) -> Row:
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
        "version": version,
        "updated_at": now,
    }


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
