"""`sqm replay --policy FILE`: the SLA policy through the real pipeline (embedded broker, Faust
agents, chDB). Every expected value is worked out by hand in the comments."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from tests.integration.test_replay import opened, q, sqm

pytestmark = pytest.mark.integration

POLICY = """
version: "shop-2025-06"
calendars:
  cn:
    timezone: Asia/Shanghai
    hours: {mon: "09:00-18:00", tue: "09:00-18:00", wed: "09:00-18:00", thu: "09:00-18:00",
            fri: "09:00-18:00"}
    holidays: [2025-06-02]
default:
  calendar: cn
  targets:
    email:
      first_response: {target: 4h, clock: business}
  clock:
    pause_states: [waiting_on_customer]
  service_level:
    abandons: met_within_threshold
"""


def event(eid: str, type_: str, at: str, contact: str, channel: str, **fields: object) -> bytes:
    return orjson.dumps({"event_id": eid, "type": type_, "occurred_at": at, "tenant_id": "shop",
                         "contact_id": contact, "customer_id": f"u-{contact}",
                         "channel": channel, **fields})


EVENTS = [
    # e1: email created Friday 6 June 2025 17:50 +08:00, answered Monday 10:00: 1 h 10 min of
    # business time, met; due Monday 12:50 (04:50Z).
    event("a1", "contact.created", "2025-06-06T17:50:00+08:00", "e1", "email", queue="mail"),
    event("a2", "message.sent", "2025-06-09T10:00:00+08:00", "e1", "email", sender="agent",
          agent_id="ag1"),
    # e2: created Friday 30 May 17:50; Monday 2 June a holiday; answered Tuesday 13:00:
    # 10 min + 4 h = 4 h 10 min, missed; due Tuesday 12:50 (04:50Z).
    event("b1", "contact.created", "2025-05-30T17:50:00+08:00", "e2", "email", queue="mail"),
    event("b2", "message.sent", "2025-06-03T13:00:00+08:00", "e2", "email", sender="agent",
          agent_id="ag1"),
    # c1: chat (30 s, calendar time) queued 02:00:00Z, paused 02:00:10-02:01:10, answered
    # 02:01:20: 20 s of clock time, met; real wait 80 s. Arrives out of order.
    event("c3", "message.sent", "2025-06-09T02:01:20Z", "c1", "chat", sender="agent",
          agent_id="ag2"),
    event("c1", "contact.created", "2025-06-09T02:00:00Z", "c1", "chat", queue="live"),
    event("c2", "contact.status_changed", "2025-06-09T02:00:10Z", "c1", "chat",
          status="waiting_on_customer"),
    event("c4", "contact.status_changed", "2025-06-09T02:01:10Z", "c1", "chat", status="open"),
    # c2: chat abandoned after 20 s (within the 30 s target: met under met_within_threshold).
    event("d1", "contact.created", "2025-06-09T02:00:00Z", "c2", "chat", queue="live"),
    event("d2", "contact.abandoned", "2025-06-09T02:00:20Z", "c2", "chat"),
]


def test_replay_applies_the_policy_file(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join([*EVENTS, EVENTS[0]]) + b"\n")  # and one duplicate
    store = tmp_path / "store"
    run = sqm("replay", str(events), "--store", str(store), "--no-progress",
              "--policy", str(policy))
    assert run.returncode == 0, run.stderr
    with opened(store) as c:
        contacts = q(c, """
            SELECT contact_id, sla_clock, first_response_s, sla_outcome,
                   toString(sla_due_at), wait_s, policy_version
            FROM sqm.contacts FINAL ORDER BY contact_id""")
        windows = q(c, """
            SELECT channel, sum(sl_met), sum(sl_missed), sum(answered_in_sla),
                   any(policy_version)
            FROM sqm.sla_1m FINAL GROUP BY channel ORDER BY channel""")
        levels = q(c, """
            SELECT channel, service_level FROM sqm.sla_windows(minutes = 1440)
            WHERE service_level IS NOT NULL ORDER BY channel, window_start""")
    v = "shop-2025-06"
    assert contacts == [
        ("c1", "calendar", Decimal("20.000"), "met", "2025-06-09 02:01:30.000",
         Decimal("80.000"), v),
        ("c2", "calendar", None, "met", "2025-06-09 02:00:30.000", None, v),
        ("e1", "business", Decimal("4200.000"), "met", "2025-06-09 04:50:00.000",
         Decimal("231000.000"), v),  # 64 h 10 min
        ("e2", "business", Decimal("15000.000"), "missed", "2025-06-03 04:50:00.000",
         Decimal("328200.000"), v),
    ]
    # chat: c1 met, c2 met (abandoned within the target); email: e1 met, e2 missed.
    assert windows == [("chat", 2, 0, 1, v), ("email", 1, 1, 1, v)]
    # Email days: Tuesday 3 June (e2 answered) 0/1, Monday 9 June (e1) 1/1; chat 2/2.
    assert levels == [("chat", 1.0), ("email", 0.0), ("email", 1.0)]


def test_a_bad_policy_file_is_one_line(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text('version: "x"\ndefault:\n  targets:\n    chat:\n      first_response: 1.5\n')
    events = tmp_path / "events.jsonl"
    events.write_bytes(EVENTS[0] + b"\n")
    run = sqm("replay", str(events), "--store", str(tmp_path / "s"), "--policy", str(policy))
    assert run.returncode == 1
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in run.stderr
    assert "policy.yaml: default.targets.chat.first_response" in lines[0]
