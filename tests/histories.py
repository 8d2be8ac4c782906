"""Generated multi-week histories for property tests: several tenants, customers who come back
across weeks (repeat windows and state eviction exercised), long-lived contacts (a ticket
reopened ten days later, a survey two weeks later), small disorder and re-deliveries."""

from __future__ import annotations

import random

from sqm.streams.core.records import EventRecord
from tests.events import ev

BASE = 1_772_326_800_000  # 2026-03-01T01:00:00Z
MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
CHANNELS = ("chat", "phone", "email", "social", "app")


def contact(rnd: random.Random, i: int, t0: int, tenant: str, customer: str) -> list[EventRecord]:
    channel = rnd.choice(CHANNELS)
    kw = {"tenant": tenant, "customer": customer, "channel": channel}
    cid = f"{tenant}-c{i}"
    queue = rnd.choice(("orders", "returns"))
    out = [ev("contact.created", t0, cid, queue=queue,
              priority=rnd.choice(("low", "normal", "urgent")), **kw)]
    t = t0 + rnd.randrange(1, 20_000)
    out.append(ev("contact.queued", t, cid, queue=queue, **kw))
    if rnd.random() < 0.12:
        out.append(ev("contact.abandoned", t + rnd.randrange(1_000, 90_000), cid, **kw))
    else:
        t += rnd.randrange(2_000, 120_000)
        out.append(ev("contact.assigned", t, cid, agent_id=f"a{rnd.randrange(5)}",
                      agent_kind="human", **kw))
        out.append(ev("message.sent", t + 500, cid, sender="agent", agent_id="a1", public=True,
                      **kw))
        out.append(ev("message.sent", t + rnd.randrange(5_000, 60_000), cid, sender="customer",
                      public=True, **kw))
    end = t + rnd.randrange(MINUTE, 3 * HOUR)
    out.append(ev("contact.resolved", end, cid, resolved_by="human", **kw))
    if rnd.random() < 0.3:
        out.append(ev("survey.submitted", end + rnd.randrange(MINUTE, 6 * HOUR), cid,
                      csat=rnd.randrange(1, 6), **kw))
    if rnd.random() < 0.08:  # long-lived: reopened 9-12 days later, resolved again
        later = end + rnd.randrange(9 * DAY, 12 * DAY)
        out.append(ev("contact.reopened", later, cid, **kw))
        out.append(ev("contact.resolved", later + rnd.randrange(MINUTE, HOUR), cid,
                      resolved_by="human", **kw))
    if rnd.random() < 0.06:  # a survey two weeks after the answer, replacing any earlier one
        out.append(ev("survey.submitted", end + rnd.randrange(13 * DAY, 15 * DAY), cid,
                      csat=rnd.randrange(1, 6), **kw))
    return out


def history(seed: int, *, weeks: int, tenants: int = 3, customers: int = 40,
            contacts: int = 300) -> list[EventRecord]:
    """Every event once, in event-time order."""
    rnd = random.Random(seed)
    span = weeks * 7 * DAY
    out: list[EventRecord] = []
    for i in range(contacts):
        tenant = f"t{rnd.randrange(tenants)}"
        out += contact(rnd, i, BASE + rnd.randrange(span), tenant,
                       f"u{rnd.randrange(customers)}")
    out.sort(key=lambda e: (e.ts, e.event_id))
    return out


def arrival(events: list[EventRecord], seed: int, *, disorder_ms: int = 20 * MINUTE,
            duplicates: float = 0.05) -> list[EventRecord]:
    """Arrival order: each event delayed by up to `disorder_ms` (within the 1 h lateness of
    every partition's order), some delivered twice."""
    rnd = random.Random(seed)
    keyed = [(e.ts + rnd.randrange(disorder_ms + 1), i, e) for i, e in enumerate(events)]
    n = len(events)
    keyed += [(e.ts + rnd.randrange(disorder_ms + 1), n + j, e)
              for j, e in enumerate(e for e in events if rnd.random() < duplicates)]
    keyed.sort(key=lambda k: (k[0], k[1]))
    return [e for _, _, e in keyed]


def to_json(e: EventRecord) -> bytes:
    """The contract's JSON for an event built here (field names are the record's)."""
    import dataclasses
    from datetime import UTC, datetime

    import orjson

    data = {k: v for k, v in dataclasses.asdict(e).items()
            if v not in (None, {}, "") and k not in ("ts", "raw")}
    at = datetime.fromtimestamp(e.ts / 1000, UTC).isoformat(timespec="milliseconds")
    return orjson.dumps({**data, "occurred_at": at.replace("+00:00", "Z"), "schema_version": 1})
