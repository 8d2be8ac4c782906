"""Small builders for EventRecords in tests."""

from __future__ import annotations

from datetime import datetime
from itertools import count
from typing import Any

from sqm.streams.core.records import EventRecord

_ids = count()


def ms(iso: str) -> int:
    """'2026-03-02T09:00:05+08:00' -> epoch ms (the offset is required)."""
    dt = datetime.fromisoformat(iso)
    assert dt.tzinfo is not None
    return round(dt.timestamp() * 1000)


def ev(type_: str, at: int | str, contact: str, *, tenant: str = "t1", customer: str = "u1",
       channel: str = "chat", event_id: str | None = None, **fields: Any) -> EventRecord:
    return EventRecord(
        event_id=event_id or f"e{next(_ids)}",
        type=type_,
        ts=ms(at) if isinstance(at, str) else at,
        tenant_id=tenant,
        contact_id=contact,
        customer_id=customer,
        channel=channel,
        **fields,
    )
