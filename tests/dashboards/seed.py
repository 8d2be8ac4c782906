"""A small store with known rows, and what every board query must return on it (by hand).

Time range of the boards: 2024-05-01 00:00–02:00 UTC, one-hour `$__interval`, bucket `hour`.
Rows outside it, stale versions (replaced under FINAL) and a second shard of a window are there
to catch a missing time filter, a missing FINAL or a missing sum over shards.

sla_1m, per hour and (tenant, channel), summed over shards, latest versions only:
  00h t1 chat  : answered 2, in SLA 2, abandoned 2, short 1 -> handled 3, SL 2/3, abandon 1/3
  00h t1 phone : answered 2, in SLA 1                       -> handled 2, SL 1/2
  00h t2 email : answered 4, in SLA 3                       -> handled 4, SL 3/4
  01h t1 chat  : answered 1, in SLA 1                       -> handled 1, SL 1
  01h t1 phone : abandoned 1, short 1                       -> handled 0, SL NULL
(00:20 t1 chat offers 6 more contacts, with nothing else yet.)

Staffing (sqm.staffing_15m, docs/staffing.md), t1/chat/billing:
  00:00 offered 4, handling ended: s1 after 450 s; targets 30 (c1, c2); a1 writes in c1, c2:
        A = 4/900 × 450 = 2 Erlangs -> Erlang C needs 4 (3 answer 58.4 %, 4 answer 84.8 % in
        30 s); 1 handling, gap -3
  00:15 offered 6, handling ended: c1 after 880 s, s2 after 330 s (mean 605); target 30 (s2);
        a1 writes and is assigned, a bot writes and is assigned: A = 6/900 × 605 = 4.03 ->
        7 needed (6 answer 73.4 %, 7 answer 87.9 %); 1 handling, gap -6
t1/phone/support: 00:00 nothing offered (c3 queued), 00:15 a2 writes in c3: gaps 0 and +1.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

FROM = datetime(2024, 5, 1, 0, 0, tzinfo=UTC)
TO = datetime(2024, 5, 1, 2, 0, tzinfo=UTC)
BEFORE = datetime(2024, 4, 30, 22, 0, tzinfo=UTC)  # outside the range


def at(hh: int, mm: int, ss: int = 0) -> datetime:
    return FROM + timedelta(hours=hh, minutes=mm, seconds=ss)


def _sla(tenant: str, channel: str, queue: str, window: datetime, shard: int, version: int,
         offered: int, answered: int, in_sla: int, wait: str, abandoned: int, short: int,
         created: int, repeats: int) -> dict[str, Any]:
    return {
        "window_start": window, "tenant_id": tenant, "channel": channel, "queue": queue,
        "priority": "normal", "shard": shard, "offered": offered, "answered": answered,
        "answered_in_sla": in_sla, "wait_s_sum": Decimal(wait), "abandoned": abandoned,
        "short_abandoned": short, "created": created, "repeat_contacts": repeats,
        "version": version, "updated_at": window,
    }


SLA = [
    # stale version of the next row: FINAL must drop it
    _sla("t1", "chat", "billing", at(0, 10), 0, 1, 2, 1, 0, "50", 0, 0, 2, 0),
    _sla("t1", "chat", "billing", at(0, 10), 0, 2, 3, 2, 2, "30.5", 1, 0, 3, 1),
    # another shard's partial totals for the same window: must be summed
    _sla("t1", "chat", "billing", at(0, 10), 1, 1, 1, 0, 0, "0", 1, 1, 1, 0),
    _sla("t1", "phone", "support", at(0, 30), 0, 1, 2, 2, 1, "40", 0, 0, 2, 1),
    _sla("t1", "chat", "billing", at(1, 5), 0, 1, 1, 1, 1, "5", 0, 0, 1, 0),
    _sla("t1", "phone", "support", at(1, 40), 2, 1, 1, 0, 0, "0", 1, 1, 1, 1),
    _sla("t2", "email", "general", at(0, 15), 0, 1, 4, 4, 3, "400", 0, 0, 4, 2),
    _sla("t1", "chat", "billing", at(0, 20), 0, 1, 6, 0, 0, "0", 0, 0, 0, 0),
    # before the range
    _sla("t1", "chat", "billing", at(-1, 59), 0, 1, 100, 100, 0, "9999", 0, 0, 100, 100),
]


def _contact(contact_id: str, version: int = 1, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "tenant_id": "t1", "contact_id": contact_id, "customer_id": f"u-{contact_id}",
        "channel": "chat", "queue": "billing", "priority": "normal", "order_id": None,
        "topic": None, "created_at": None, "queued_at": None, "answered_at": None,
        "first_agent_id": None, "abandoned_at": None, "wait_s": None, "sla_target_s": 30,
        "answered_in_sla": None, "is_abandoned": False, "is_short_abandon": False,
        "is_repeat": False, "resolved_at": None, "resolved_by": None, "bot_contained": False,
        "transferred_to_human": False, "csat": None, "nps": None,
        "first_event_at": FROM, "last_event_at": FROM, "event_count": 1,
        "first_resolved_at": None, "first_resolution_s": None, "resolution_s": None,
        "reopen_count": 0, "transfer_count": 0, "ratings": {}, "handle_s": None,
        "version": version, "updated_at": FROM,
    }
    row.update(fields)
    return row


def _answered(contact_id: str, created: datetime, wait_s: int, agent: str, in_sla: bool,
              **fields: Any) -> dict[str, Any]:
    return _contact(
        contact_id, version=2, created_at=created, queued_at=created,
        answered_at=created + timedelta(seconds=wait_s), wait_s=Decimal(wait_s),
        first_agent_id=agent, answered_in_sla=in_sla, **fields,
    )


CONTACTS = [
    # c1: its stale first version is still open; FINAL must see it answered
    _contact("c1", version=1, created_at=at(0, 5), queued_at=at(0, 5)),
    _answered("c1", at(0, 5), 20, "a1", True, csat=5, resolved_at=at(0, 20), resolved_by="human",
              resolution_s=Decimal(900), ratings={"patience": 5}, handle_s=Decimal(880)),
    _answered("c2", at(0, 6), 60, "a1", False, csat=3),
    _answered("c3", at(0, 10), 10, "a2", True, channel="phone", queue="support", csat=4,
              resolved_at=at(0, 30), resolved_by="human", resolution_s=Decimal(1200),
              reopen_count=1, ratings={"patience": 3, "professionalism": 4}),
    _contact("c4", created_at=at(0, 30), queued_at=at(0, 30)),  # open
    _contact("c5", created_at=at(0, 40), queued_at=at(0, 40), abandoned_at=at(0, 41),
             is_abandoned=True),
    _contact("c6", channel="app", queue="", created_at=at(0, 50), queued_at=at(0, 50),
             resolved_at=at(0, 52), resolved_by="bot", bot_contained=True),
    _answered("c7", at(1, 10), 30, "a2", False, channel="phone", queue="support"),
    _contact("c9", created_at=at(1, 30), queued_at=at(1, 30)),  # open
    _contact("c10", created_at=BEFORE, queued_at=BEFORE),  # open, but queued before the range
    _contact("c11"),  # only a late event seen so far: no created/queued time
    _answered("c8", at(0, 15), 1800, "b1", True, tenant_id="t2", channel="email",
              queue="general", csat=2, resolved_at=at(1, 0), resolved_by="human",
              resolution_s=Decimal(2700)),
    # Only their handling is in the range: queued the day before, or with no answer recorded.
    _contact("s1", queued_at=BEFORE, resolved_at=at(0, 12), resolved_by="human",
             handle_s=Decimal(450)),
    _contact("s2", queued_at=at(0, 20), resolved_at=at(0, 27), resolved_by="human",
             handle_s=Decimal(330)),
]


def _event(event_id: str, kind: str, when: datetime, contact: str, agent: str,
           sender: str | None = None, agent_kind: str | None = None,
           channel: str = "chat") -> dict[str, Any]:
    raw = f'{{"agent_kind": "{agent_kind}"}}' if agent_kind else "{}"
    return {
        "event_id": event_id, "type": kind, "occurred_at": when, "tenant_id": "t1",
        "contact_id": contact, "customer_id": f"u-{contact}", "channel": channel, "queue": None,
        "agent_id": agent, "sender": sender, "raw": raw, "ingested_at": when,
    }


EVENTS = [
    _event("e1", "message.sent", at(0, 5, 20), "c1", "a1", "agent"),
    _event("e2", "message.sent", at(0, 7), "c2", "a1", "agent"),
    _event("e3", "message.sent", at(0, 16), "c2", "bot-1", "bot"),
    _event("e4", "message.sent", at(0, 17), "c2", "a1", "agent"),
    _event("e5", "message.sent", at(0, 20), "c3", "a2", "agent", channel="phone"),
    _event("e6", "contact.assigned", at(0, 21), "s2", "bot-1", agent_kind="bot"),
    _event("e7", "contact.assigned", at(0, 21), "s2", "a1", agent_kind="human"),
]


def _dead_letter(dl_id: str, received: datetime, stage: str, reason: str,
                 tenant: str | None) -> dict[str, Any]:
    return {
        "dl_id": dl_id, "received_at": received, "stage": stage, "reason": reason,
        "topic": "sqm.events", "partition": 0, "offset": int(dl_id[2:]), "event_id": None,
        "tenant_id": tenant, "raw": "{", "raw_truncated": False,
    }


DEAD_LETTERS = [
    _dead_letter("dl1", at(0, 10), "ingest", "invalid json", None),
    _dead_letter("dl2", at(0, 20), "ingest", "invalid json", "t1"),
    _dead_letter("dl3", at(1, 0), "late", "behind watermark", "t2"),
    _dead_letter("dl4", BEFORE, "ingest", "invalid json", "t1"),
]


def _alert(alert_id: str, version: int, started: datetime, ended: datetime | None, *,
           tenant: str, channel: str, kind: str, severity: str, state: str) -> dict[str, Any]:
    return {
        "alert_id": alert_id, "rule_id": f"rule-{kind}", "kind": kind, "severity": severity,
        "state": state, "metric": "service_level", "tenant_id": tenant, "channel": channel,
        "queue": "", "priority": "", "agent_id": "", "contact_id": None, "value": 0.5,
        "threshold": 0.8, "started_at": started, "ended_at": ended,
        "message": f"{alert_id} {state}", "version": version, "updated_at": started,
    }


ALERTS = [
    _alert("al1", 1, at(0, 30), None, tenant="t1", channel="chat", kind="breach",
           severity="critical", state="firing"),
    _alert("al2", 1, at(0, 40), None, tenant="t1", channel="phone", kind="at_risk",
           severity="warning", state="firing"),
    _alert("al2", 2, at(0, 40), at(1, 0), tenant="t1", channel="phone", kind="at_risk",
           severity="warning", state="resolved"),
    _alert("al3", 1, at(1, 30), None, tenant="", channel="", kind="anomaly",
           severity="warning", state="firing"),
    _alert("al4", 1, at(0, 50), None, tenant="t2", channel="email", kind="breach",
           severity="critical", state="acknowledged"),
    _alert("al5", 1, BEFORE - timedelta(hours=2), BEFORE - timedelta(hours=1), tenant="t1",
           channel="chat", kind="breach", severity="warning", state="resolved"),
    _alert("al6", 1, at(-1, 0), None, tenant="t2", channel="chat", kind="breach",
           severity="warning", state="firing"),
]

def _dropped(tenant: str, channel: str, queue: str, window: datetime, shard: int, offset: int,
             recorded: datetime) -> dict[str, Any]:
    counters = ("offered", "answered", "answered_in_sla", "abandoned", "short_abandoned",
                "created", "repeat_contacts", "sl_met", "sl_missed", "csat_count", "csat_sum",
                "csat_good")
    return {
        "window_start": window, "tenant_id": tenant, "channel": channel, "queue": queue,
        "priority": "normal", "shard": shard, "source_offset": offset,
        **dict.fromkeys(counters, 0), "answered": 1, "wait_s_sum": Decimal("12.5"),
        "recorded_at": recorded,
    }


# Corrections to evicted windows, by when they were recorded: two in the range (one written
# twice, as a replay would: FINAL keeps one), one before it.
DROPPED = [
    _dropped("t1", "chat", "billing", at(-1, 0), 0, 7, at(0, 40)),
    _dropped("t1", "chat", "billing", at(-1, 0), 0, 7, at(0, 40)),
    _dropped("t2", "email", "general", at(-2, 0), 1, 9, at(1, 10)),
    _dropped("t1", "chat", "billing", at(-3, 0), 0, 3, BEFORE),
]

BATCH = {"sla_1m": SLA, "contacts": CONTACTS, "dead_letters": DEAD_LETTERS, "alerts": ALERTS,
         "events": EVENTS, "dropped_corrections": DROPPED}
