"""Simulated omnichannel traffic: contact lifecycles as contract-v1 events.

Used by `sqm demo` (live, paced to the wall clock), `sqm simulate` (a JSONL file, optionally
messy: duplicates, disorder, +08:00 offsets, invalid lines) and the benchmark. `history` starts
contacts at a constant rate; `streams/simulate_days.py` spreads them over days of event time.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

CHANNEL_MIX = (("chat", 0.4), ("phone", 0.2), ("email", 0.15), ("social", 0.1), ("app", 0.15))
# Typical answer delay (seconds) per channel: most within target, a tail beyond.
ANSWER_DELAY_S = {"chat": 25, "phone": 18, "email": 9000, "social": 2400, "app": 45}
QUEUES = ("orders", "returns", "payments")
SHANGHAI = timezone(timedelta(hours=8))


@dataclass(frozen=True)
class SimConfig:
    tenants: int = 3
    customers: int = 500
    seed: int = 7
    bot_share: float = 0.25
    abandon_share: float = 0.08


@dataclass(frozen=True)
class LongLived:
    """Shares of contacts that come back long after their resolution: the state's TTL (8 days
    of event time) has evicted them by then."""

    reopen_share: float  # of human-resolved email tickets: reopened 9-11 days later
    survey_share: float  # of human-resolved contacts: the survey comes 13-15 days later


def _pick_channel(rnd: random.Random) -> str:
    x, acc = rnd.random(), 0.0
    for name, share in CHANNEL_MIX:
        acc += share
        if x < acc:
            return name
    return CHANNEL_MIX[-1][0]


def _iso(t: datetime, rnd: random.Random, offsets: bool) -> str:
    if offsets and rnd.random() < 0.5:
        return t.astimezone(SHANGHAI).isoformat(timespec="milliseconds")
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def contact_lifecycle(
    n: int, start: datetime, rnd: random.Random, cfg: SimConfig, offsets: bool = False, *,
    tenant: str | None = None, customer: str | None = None, long_lived: LongLived | None = None,
) -> list[tuple[datetime, dict[str, Any]]]:
    """The events of contact number `n`, created at `start`, as (time, event) pairs; tenant and
    customer are drawn unless given (draws are skipped, not wasted, so a seed's constant-rate
    history stays what it was)."""
    tenant = tenant or f"shop-{rnd.randrange(cfg.tenants) + 1}"
    channel = _pick_channel(rnd)
    base = {
        "tenant_id": tenant, "contact_id": f"{tenant}-c{n}",
        "customer_id": customer or f"cust-{rnd.randrange(cfg.customers)}", "channel": channel,
    }
    seq = 0
    out: list[tuple[datetime, dict[str, Any]]] = []

    def emit(type_: str, at: datetime, **fields: Any) -> None:
        nonlocal seq
        seq += 1
        event = {"event_id": f"{base['contact_id']}-e{seq}", "type": type_,
                 "occurred_at": _iso(at, rnd, offsets), **base, **fields}
        out.append((at, event))

    queue = rnd.choice(QUEUES)
    priority = rnd.choices(("low", "normal", "high", "urgent"), (1, 6, 2, 1))[0]
    emit("contact.created", start, queue=queue, priority=priority)
    t = start + timedelta(seconds=rnd.uniform(0.5, 3))
    if rnd.random() < cfg.bot_share:
        emit("contact.assigned", t, agent_id="bot-1", agent_kind="bot")
        emit("message.sent", t + timedelta(seconds=1), sender="bot", agent_id="bot-1")
        if rnd.random() < 0.6:
            emit("contact.resolved", t + timedelta(seconds=30), resolved_by="bot")
            return out
        t += timedelta(seconds=40)
        emit("contact.transferred", t, from_queue="bot", to_queue=queue, to_kind="human")
    emit("contact.queued", t, queue=queue)
    mean = ANSWER_DELAY_S[channel]
    delay = rnd.expovariate(1 / mean) if rnd.random() < 0.9 else mean * rnd.uniform(1.5, 4)
    if rnd.random() < cfg.abandon_share:
        emit("contact.abandoned", t + timedelta(seconds=min(delay, rnd.uniform(2, 120))))
        return out
    answer = t + timedelta(seconds=delay)
    agent = f"agent-{rnd.randrange(12) + 1}"
    emit("contact.assigned", answer - timedelta(seconds=1), agent_id=agent, agent_kind="human")
    if rnd.random() < 0.2:
        emit("message.sent", answer - timedelta(seconds=0.5), sender="agent", agent_id=agent,
             public=False)
    emit("message.sent", answer, sender="agent", agent_id=agent)
    emit("message.sent", answer + timedelta(seconds=20), sender="customer")
    done = answer + timedelta(seconds=rnd.uniform(60, 600))
    emit("contact.resolved", done, resolved_by="human")
    if long_lived and channel == "email" and rnd.random() < long_lived.reopen_share:
        # The customer writes again about the same ticket; it is answered and solved again.
        reopened = done + timedelta(days=rnd.uniform(9, 11))
        emit("contact.reopened", reopened)
        emit("message.sent", reopened, sender="customer")
        reply = reopened + timedelta(seconds=rnd.expovariate(1 / mean))
        emit("message.sent", reply, sender="agent", agent_id=agent)
        done = reply + timedelta(seconds=rnd.uniform(60, 600))
        emit("contact.resolved", done, resolved_by="human")
    if long_lived and rnd.random() < long_lived.survey_share:
        survey_at = done + timedelta(days=rnd.uniform(13, 15))
    elif rnd.random() < 0.5:
        survey_at = done + timedelta(seconds=30)
    else:
        return out
    csat = rnd.choices((1, 2, 3, 4, 5), (1, 1, 2, 4, 6))[0]
    ratings = {"professionalism": rnd.randint(3, 5), "patience": rnd.randint(2, 5)}
    emit("survey.submitted", survey_at, csat=csat, ratings=ratings)
    return out


def history(
    contacts: int, start: datetime, per_second: float, cfg: SimConfig | None = None,
    *, messy: bool = False,
) -> Iterator[dict[str, Any] | str]:
    """A finite stream in roughly time order; messy adds duplicates, local disorder,
    +08:00 offsets and a few invalid lines (as raw strings)."""
    cfg = cfg or SimConfig()
    rnd = random.Random(cfg.seed)
    events: list[tuple[datetime, dict[str, Any]]] = []
    for n in range(contacts):
        at = start + timedelta(seconds=n / per_second)
        events.extend(contact_lifecycle(n, at, rnd, cfg, offsets=messy))
    yield from emission_order(events, rnd, messy=messy)


def emission_order(
    events: list[tuple[datetime, dict[str, Any]]], rnd: random.Random, *, messy: bool,
    max_swap: timedelta | None = None,
) -> Iterator[dict[str, Any] | str]:
    """The events sorted by time (in place); messy adds local disorder (neighbours swapped, if
    at most `max_swap` apart), re-deliveries and a few invalid lines."""
    events.sort(key=lambda te: te[0])
    if messy:
        # Local disorder: swap neighbours within a few minutes of event time.
        for i in range(0, len(events) - 1, 3):
            if rnd.random() < 0.5 and (
                max_swap is None or events[i + 1][0] - events[i][0] <= max_swap
            ):
                events[i], events[i + 1] = events[i + 1], events[i]
    for i, (_, event) in enumerate(events):
        yield event
        if messy and rnd.random() < 0.03:
            yield dict(event)  # a re-delivery
        if messy and i % 997 == 0:
            yield rnd.choice(['{"type": "contact.created"', '{"event_id": "x", "type": "nope"}',
                              '[1, 2, 3]'])
