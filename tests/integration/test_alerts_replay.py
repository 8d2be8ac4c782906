"""Alerts end to end: a replayed hour in which one queue breaches its service level and
recovers, beside a calm queue. Real CLI, embedded broker, the Faust agents, chDB.

Expected by hand (default rules, docs/alerting.md): one contact every 20 s per queue, chat
(target 30 s, at-risk at 80 % = 24 s). Calm: every answer after 10 s. Hot: contacts queued
from 20:00 to 34:59 wait 60 s (misses), all others 10 s. The 15-minute service level of the hot
queue falls below 0.8 a few minutes after 20:00 and, with the 2-minute `for`, fires once; it
recovers to ≥ 0.85 a few minutes after the slow period leaves the 15-minute window and resolves
once. Each slow contact first raises an at-risk warning at 24 s, before any breach.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from sinks.clickhouse import connect

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def scenario() -> list[bytes]:
    lines: list[tuple[datetime, bytes]] = []
    n = 0
    for queue in ("hot", "calm"):
        for i in range(180):  # 60 minutes, one contact every 20 s
            n += 1
            start = T0 + timedelta(seconds=20 * i)
            slow = queue == "hot" and 20 * 60 <= 20 * i < 35 * 60
            answer = start + timedelta(seconds=60 if slow else 10)
            base = {"tenant_id": "shop", "contact_id": f"{queue}-{i}",
                    "customer_id": f"cust-{n}", "channel": "chat"}
            for k, (at, fields) in enumerate([
                (start, {"type": "contact.created", "queue": queue}),
                (start, {"type": "contact.queued", "queue": queue}),
                (answer, {"type": "message.sent", "sender": "agent", "agent_id": "a1"}),
                (answer + timedelta(seconds=30), {"type": "contact.resolved",
                                                  "resolved_by": "human"}),
            ]):
                event = {"event_id": f"{queue}-{i}-{k}", "occurred_at": at.isoformat(), **base,
                         **fields}
                lines.append((at, orjson.dumps(event)))
    lines.sort(key=lambda x: x[0])
    return [line for _, line in lines]


def test_breach_and_recovery_fire_once_with_a_warning_first(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(scenario()) + b"\n")
    store = tmp_path / "store"
    run = subprocess.run(
        [sys.executable, "-m", "streams.cli", "replay", str(events), "--store", str(store),
         "--no-progress"], capture_output=True, text=True, timeout=300,
        env={"TZ": "UTC", "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr
    client = connect(f"chdb://{store}")
    try:
        rows = client.query("""
            SELECT rule_id, kind, state, queue, toUnixTimestamp64Milli(started_at),
                   toUnixTimestamp64Milli(ended_at)
            FROM sqm.alerts FINAL ORDER BY started_at""").result_rows
    finally:
        client.close()
    breaches = [r for r in rows if r[1] != "at_risk"]
    assert [(r[0], r[2], r[3]) for r in breaches] == [("service-level-low", "resolved", "hot")]
    _, _, _, _, started, ended = breaches[0]
    t0 = int(T0.timestamp() * 1000)
    assert t0 + 20 * 60_000 < started < t0 + 30 * 60_000
    assert t0 + 35 * 60_000 < ended < t0 + 55 * 60_000
    warnings = [r for r in rows if r[1] == "at_risk"]
    assert warnings and all(r[3] == "hot" for r in warnings)
    # The first slow contact (queued 20:00) is warned at 20:24, before the breach fires.
    assert min(r[4] for r in warnings) == t0 + 20 * 60_000 + 24_000 < started
    assert len(warnings) == 45  # one per slow contact, each resolved
    assert all(r[2] == "resolved" for r in warnings)
