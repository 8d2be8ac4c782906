"""A deliberately simple reference for the metric definitions (docs/metrics.md).

It sees the whole event set at once, sorts, and computes every contact and window directly from
the written definitions, sharing no code with `streams.core`, so the streaming path can be
checked against it.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqm.streams.core.records import EventRecord

TARGETS = {"chat": 30, "phone": 20, "app": 60, "social": 3600, "email": 14400}
WEEK_MS = 7 * 24 * 3600 * 1000


def contacts(events: list[EventRecord]) -> dict[tuple[str, str], dict[str, Any]]:
    unique = {e.event_id: e for e in events}
    by_contact: dict[tuple[str, str], list[EventRecord]] = defaultdict(list)
    for e in unique.values():
        by_contact[(e.tenant_id, e.contact_id)].append(e)
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for key, evs in by_contact.items():
        evs.sort(key=lambda e: (e.ts, e.event_id))

        def of(t: str, evs: list[EventRecord] = evs) -> list[EventRecord]:
            return [e for e in evs if e.type == t]

        created = of("contact.created")
        queued = of("contact.queued")
        c0 = created[0] if created else None
        created_at = c0.ts if c0 else None
        queued_at = queued[0].ts if queued else created_at
        answers = [e for e in evs if e.type == "message.sent" and e.sender == "agent"
                   and e.public is not False]
        abandons = of("contact.abandoned")
        answer = answers[0].ts if answers else None
        abandoned = bool(abandons) and (answer is None or abandons[0].ts < answer)
        answered_at = None if abandoned else answer
        abandoned_at = abandons[0].ts if abandoned else None
        channel = c0.channel if c0 else evs[0].channel
        wait = None
        if answered_at is not None and queued_at is not None:
            wait = max(0, answered_at - queued_at)
        resolves = of("contact.resolved")
        reopens = of("contact.reopened")
        resolved = resolves[-1] if resolves else None
        if resolved and reopens and (reopens[-1].ts, reopens[-1].event_id) > (
            resolved.ts, resolved.event_id
        ):
            resolved = None
        to_human = any(e.to_kind == "human" for e in of("contact.transferred"))
        first_resolution = resolution = None
        if created_at is not None:
            first_resolution = resolves[0].ts - created_at if resolves else None
            resolution = resolved.ts - created_at if resolved else None
        out[key] = {
            "customer_id": evs[0].customer_id,
            "channel": channel,
            "queue": queued[0].queue if queued else (c0.queue if c0 else ""),
            "priority": (c0.priority or "normal") if c0 else "normal",
            "created_at": created_at,
            "queued_at": queued_at,
            "has_queued": bool(queued),
            "answered_at": answered_at,
            "abandoned_at": abandoned_at,
            "wait_ms": wait,
            "in_sla": None if wait is None else wait <= TARGETS[channel] * 1000,
            "short": abandoned_at is not None and queued_at is not None
            and abandoned_at - queued_at < 5000,
            "resolved_by": resolved.resolved_by if resolved else None,
            "bot_contained": bool(resolved) and resolved.resolved_by == "bot"
            and not answers and not to_human,
            "csat": of("survey.submitted")[-1].csat if of("survey.submitted") else None,
            "event_count": len(evs),
            "first_resolution_ms": None if first_resolution is None else max(0, first_resolution),
            "resolution_ms": None if resolution is None else max(0, resolution),
            "reopen_count": len(reopens),
            "transfer_count": len(of("contact.transferred")),
            "ratings": dict(of("survey.submitted")[-1].ratings) if of("survey.submitted") else {},
            "surveyed_at": of("survey.submitted")[-1].ts if of("survey.submitted") else None,
            "sla_outcome": outcome(wait, abandoned_at, queued_at, channel),
            "next_responses": next_responses(evs, answers[0] if answered_at is not None else None),
            "handle_ms": handle(evs, answers, resolved),
        }
    # Repeat: brute force over every pair of the same tenant and customer.
    for key, c in out.items():
        c["is_repeat"] = False
        if c["created_at"] is None:
            continue
        for other_key, o in out.items():
            if other_key == key or other_key[0] != key[0] or o["customer_id"] != c["customer_id"]:
                continue
            if o["created_at"] is None:
                continue
            earlier = (o["created_at"], other_key[1]) < (c["created_at"], key[1])
            if earlier and o["created_at"] >= c["created_at"] - WEEK_MS:
                c["is_repeat"] = True
    return out


def outcome(wait: int | None, abandoned_at: int | None, queued_at: int | None,
            channel: str) -> str | None:
    """Contract v1's policy: answered in target met, else missed; abandons missed unless short."""
    if wait is not None:
        return "met" if wait <= TARGETS[channel] * 1000 else "missed"
    if abandoned_at is not None and queued_at is not None:
        return "excluded" if abandoned_at - queued_at < 5000 else "missed"
    return None


def next_responses(evs: list[EventRecord], first: EventRecord | None
                   ) -> tuple[int, int, int | None]:
    """(count, total ms, max ms) of customer message → next human reply after the first answer."""
    if first is None:
        return (0, 0, None)
    after = [e for e in evs if e.type == "message.sent" and e.public is not False
             and (e.ts, e.event_id) > (first.ts, first.event_id)]
    spans = []
    asked = None
    for e in after:
        if e.sender == "customer" and asked is None:
            asked = e.ts
        elif e.sender == "agent" and asked is not None:
            spans.append(e.ts - asked)
            asked = None
    return (len(spans), sum(spans), max(spans) if spans else None)


def handle(evs: list[EventRecord], answers: list[EventRecord], resolved: EventRecord | None
           ) -> int | None:
    humans = [e for e in evs if e.type == "contact.assigned" and e.agent_kind == "human"]
    begin = humans[0] if humans else (answers[0] if answers else None)
    if resolved is None or begin is None:
        return None
    return max(0, resolved.ts - begin.ts)


def windows(events: list[EventRecord]) -> dict[tuple[int, str, str, str, str], dict[str, int]]:
    names = ("offered", "answered", "answered_in_sla", "wait_ms_sum", "abandoned",
             "short_abandoned", "created", "repeat_contacts", "sl_met", "sl_missed",
             "csat_count", "csat_sum", "csat_good")
    out: dict[tuple[int, str, str, str, str], dict[str, int]] = defaultdict(
        lambda: dict.fromkeys(names, 0)
    )

    def minute(t: int) -> int:
        return t // 60000 * 60000

    for (tenant, _), c in contacts(events).items():
        dims = (tenant, c["channel"], c["queue"], c["priority"])
        if c["created_at"] is not None:
            out[(minute(c["created_at"]), *dims)]["created"] += 1
            out[(minute(c["created_at"]), *dims)]["repeat_contacts"] += c["is_repeat"]
        if c["csat"] is not None:
            w = out[(minute(c["surveyed_at"]), *dims)]
            w["csat_count"] += 1
            w["csat_sum"] += c["csat"]
            w["csat_good"] += c["csat"] >= 4
        if c["has_queued"]:
            out[(minute(c["queued_at"]), *dims)]["offered"] += 1
        if c["queued_at"] is None:
            continue
        if c["answered_at"] is not None:
            w = out[(minute(c["answered_at"]), *dims)]
            w["answered"] += 1
            w["answered_in_sla"] += c["in_sla"]
            w["wait_ms_sum"] += c["wait_ms"]
            # Contract v1's policy: met iff in SLA, every other answer missed.
            w["sl_met" if c["in_sla"] else "sl_missed"] += 1
        if c["abandoned_at"] is not None:
            w = out[(minute(c["abandoned_at"]), *dims)]
            w["abandoned"] += 1
            w["short_abandoned"] += c["short"]
            w["sl_missed"] += not c["short"]  # abandons are misses, short ones excluded
    return {k: v for k, v in out.items() if any(v.values())}
