"""`sqm.staffing_15m` (migration 0013) and `sqm staffing` on real chDB: the view's inputs
counted by hand, its Erlang C (run in SQL) equal to streams/core/staffing.py's on the same
inputs, and the command's Erlang A equal to streams/core/erlang_a.py's.

Scopes and 15-minute intervals seeded (2026-03-02, UTC):
  t1/phone/sales 10:00  offered 100 (two shards, a stale version replaced), 12 handlings ended
                        (150 s and 210 s, mean 180), targets 20 s ×9 and 5 s ×2 (mode 20),
                        6 abandons after 40, 60, 30, 50, 70 and 90 s and 5 answers after 30 s
                        (queue time 490 s), 22 human agents working: 20 writing, one only
                        assigned, one writing an internal note. Not counted: a bot assigned, a
                        bot and a customer writing, an agent on a contact with no row.
                        λ = 100/900 per s, A = 20 Erlangs.
                 09:45  the 12 handled contacts queued and were answered after 10 s.
                        Over 09:45-10:45: 6 abandons in 610 s of queueing, patience 101.7 s.
                 10:15  offered 30, no handling ended: no AHT, so nothing modelled (NULL).
                 10:30  no arrivals, one agent writing: 0 needed, gap +1.
  t1/chat/support 10:00 offered 12, handle 500 and 700 s: A = 8 on 2 agents (overloaded).
  t2/phone/big   10:00  offered 45,000, handle 180 s: A = 9,000 Erlangs, nobody seen working.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from sqm.dashboards.sql import SERVICE_LEVEL_TARGET
from sqm.sinks.clickhouse import connect
from sqm.sinks.migrations import migrate
from sqm.streams.core.erlang_a import agents_needed_a
from sqm.streams.core.staffing import SERVICE_LEVEL_GOAL, agents_needed_c, service_level_c
from sqm.streams.staffing_report import SHORT_ABANDON_S, staffing

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


SLA_COLUMNS = ["window_start", "tenant_id", "channel", "queue", "priority", "shard", "offered",
               "sl_met", "sl_missed", "version"]


def _sla() -> list[list[Any]]:
    rows: list[list[Any]] = []
    for minute in range(15):  # 6 a minute on shard 0: 90
        met, missed = (70, 20) if minute == 5 else (0, 0)
        rows.append([at(minute), "t1", "phone", "sales", "normal", 0, 6, met, missed, 2])
    rows.append([at(3), "t1", "phone", "sales", "normal", 0, 50, 0, 0, 1])  # stale
    rows.append([at(7), "t1", "phone", "sales", "high", 1, 10, 0, 0, 1])  # shard 1, priority
    rows.append([at(20), "t1", "phone", "sales", "normal", 0, 30, 0, 0, 1])
    rows.append([at(4), "t1", "chat", "support", "normal", 0, 12, 0, 0, 1])
    rows.append([at(1), "t2", "phone", "big", "normal", 3, 45_000, 0, 0, 1])
    return [[r[0].replace(second=0, tzinfo=None), *r[1:]] for r in rows]


CONTACT_COLUMNS = ["tenant_id", "contact_id", "channel", "queue", "queued_at", "answered_at",
                   "first_agent_id", "wait_s", "abandoned_at", "is_abandoned", "resolved_at",
                   "handle_s", "sla_target_s", "version"]


def _contact(contact: str, queued: datetime | None, *, tenant: str = "t1",
             channel: str = "phone", queue: str = "sales", wait: float | None = None,
             abandon_after: float | None = None, resolved: datetime | None = None,
             handle: float | None = None, target: int = 20, version: int = 1) -> list[Any]:
    answered = None if wait is None or queued is None else queued + timedelta(seconds=wait)
    abandoned = None if abandon_after is None or queued is None else (
        queued + timedelta(seconds=abandon_after))
    return [tenant, contact, channel, queue, queued, answered, None if answered is None else "a01",
            None if wait is None else Decimal(str(wait)), abandoned, abandoned is not None,
            resolved, None if handle is None else Decimal(str(handle)), target, version]


def _contacts() -> list[list[Any]]:
    rows = [
        _contact(f"h{i}", at(-10) + timedelta(seconds=i), wait=10, resolved=at(1 + i),
                 handle=150 if i % 2 else 210)
        for i in range(12)
    ]
    rows.append(_contact("h0", at(-10), wait=10, resolved=at(1), handle=9999, version=0))  # stale
    rows.append(_contact("bot", at(-10), resolved=at(2)))  # resolved without a human: no handle
    rows += [_contact(f"q{i}", at(2 + i), wait=30) for i in range(5)]
    rows.append(_contact("u1", at(3), abandon_after=40, target=5))
    rows.append(_contact("u2", at(4), abandon_after=60, target=5))
    rows += [_contact(f"v{i}", at(5 + i), abandon_after=after)
             for i, after in enumerate([30, 50, 70, 90])]
    rows += [
        _contact("c1", at(-30), channel="chat", queue="support", resolved=at(5), handle=500,
                 target=30),
        _contact("c2", at(-30), channel="chat", queue="support", resolved=at(6), handle=700,
                 target=30),
        _contact("c3", at(4), channel="chat", queue="support", target=30),
        _contact("g1", at(-20), tenant="t2", queue="big", resolved=at(2), handle=180),
        _contact("g2", at(1), tenant="t2", queue="big"),
    ]
    return rows


EVENT_COLUMNS = ["event_id", "type", "occurred_at", "tenant_id", "contact_id", "customer_id",
                 "channel", "agent_id", "sender", "raw", "ingested_at"]


def _event(event_id: str, kind: str, when: datetime, contact: str, agent: str | None,
           sender: str | None = None, agent_kind: str | None = None,
           channel: str = "phone") -> list[Any]:
    raw = {"event_id": event_id, "type": kind, "agent_id": agent}
    if agent_kind is not None:
        raw["agent_kind"] = agent_kind
    return [event_id, kind, when, "t1", contact, "u", channel, agent, sender,
            orjson.dumps(raw).decode(), when]


def _events() -> list[list[Any]]:
    rows = [_event(f"m{i}", "message.sent", at(1 + i / 2), f"h{i % 12}", f"a{i + 1:02d}", "agent")
            for i in range(20)]
    rows.append(rows[0])  # a re-delivery: FINAL keeps one
    rows += [
        _event("as21", "contact.assigned", at(6), "q1", "a21", agent_kind="human"),
        _event("n22", "message.sent", at(7), "q2", "a22", "agent"),  # an internal note
        _event("asb", "contact.assigned", at(6), "q3", "bot-1", agent_kind="bot"),
        _event("mb", "message.sent", at(6), "q3", "bot-1", "bot"),
        _event("mc", "message.sent", at(6), "q3", None, "customer"),
        _event("mx", "message.sent", at(6), "nobody", "z99", "agent"),  # no contact row
        _event("l1", "message.sent", at(20), "q4", "a01", "agent"),
        _event("l2", "message.sent", at(31), "q4", "a05", "agent"),
        _event("ch1", "message.sent", at(5), "c1", "a01", "agent", channel="chat"),
        _event("ch2", "contact.assigned", at(5), "c2", "a30", agent_kind="human",
               channel="chat"),
    ]
    return rows


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("staffing")
    c = connect(f"chdb://{path}")
    try:
        migrate(c)
        c.insert("sqm.sla_1m", _sla(), column_names=SLA_COLUMNS)
        c.insert("sqm.contacts", _contacts(), column_names=CONTACT_COLUMNS)
        c.insert("sqm.events", _events(), column_names=EVENT_COLUMNS)
    finally:
        c.close()  # chDB: one engine per process; the CLI test opens the store in a child
    yield path


@pytest.fixture()
def client(store: Path) -> Iterator[Any]:
    c = connect(f"chdb://{store}")
    try:
        yield c
    finally:
        c.close()


@pytest.fixture()
def rows(client: Any) -> dict[tuple[str, str, str, str], dict[str, Any]]:
    result = client.query("SELECT * FROM sqm.staffing_15m ORDER BY ALL")
    return {
        (row["tenant_id"], row["channel"], row["queue"], row["interval_start"].strftime("%H:%M")):
            row
        for row in (dict(zip(result.column_names, r, strict=True)) for r in result.result_rows)
    }


def test_inputs_by_hand(rows: dict[tuple[str, str, str, str], dict[str, Any]]) -> None:
    row = rows[("t1", "phone", "sales", "10:00")]
    assert row["offered"] == 100 and row["arrival_rate_per_s"] == pytest.approx(100 / 900)
    assert row["handled"] == 12 and row["handle_s_avg"] == pytest.approx(180.0)
    assert row["target_answer_s"] == 20
    # One 80 %: the view's goal, the core's default, the ops board's target line and rules.
    assert row["service_level_goal"] == SERVICE_LEVEL_GOAL == SERVICE_LEVEL_TARGET
    assert row["load_erlangs"] == pytest.approx(20.0)
    assert row["agents_actual"] == 22
    assert row["service_level"] == pytest.approx(70 / 90)
    assert (row["abandoned"], row["queue_time_s"]) == (6, 490.0)
    assert row["patience_s"] == pytest.approx(490 / 6)
    earlier = rows[("t1", "phone", "sales", "09:45")]
    assert (earlier["offered"], earlier["target_answer_s"], earlier["queue_time_s"]) == (
        0, 20, 120.0)
    assert earlier["agents_needed"] == 0 and earlier["patience_s"] is None


def test_erlang_c_in_sql_equals_the_core_module(
    rows: dict[tuple[str, str, str, str], dict[str, Any]]
) -> None:
    cases = {("t1", "phone", "sales", "10:00"): (100, 180.0, 20, 22),
             ("t1", "chat", "support", "10:00"): (12, 600.0, 30, 2),
             ("t2", "phone", "big", "10:00"): (45_000, 180.0, 20, 0)}
    for key, (offered, aht, target, actual) in cases.items():
        row = rows[key]
        rate = offered / 900
        needed = agents_needed_c(rate, aht, target, SERVICE_LEVEL_GOAL)
        assert (row["agents_needed"], row["agents_actual"]) == (needed, actual), key
        assert row["agents_gap"] == actual - needed, key
        assert row["modelled_service_level"] == pytest.approx(
            service_level_c(actual, rate * aht, target, aht), rel=1e-9, abs=1e-12), key
    # Worked through: 20 Erlangs, 80 % in 20 s of 180 s need 24 agents (80.89 %; 23 give
    # 70.21 %); the 22 working answer 54.52 % within 20 s by the model.
    sales = rows[("t1", "phone", "sales", "10:00")]
    assert (sales["agents_needed"], sales["agents_gap"]) == (24, -2)
    assert sales["modelled_service_level"] == pytest.approx(0.5452, abs=0.0001)
    assert rows[("t1", "chat", "support", "10:00")]["modelled_service_level"] == 0.0
    assert rows[("t2", "phone", "big", "10:00")]["agents_needed"] == 9013


def test_what_cannot_be_modelled_is_null(
    rows: dict[tuple[str, str, str, str], dict[str, Any]]
) -> None:
    unknown = rows[("t1", "phone", "sales", "10:15")]
    assert (unknown["offered"], unknown["handle_s_avg"], unknown["agents_actual"]) == (30, None, 1)
    assert (unknown["agents_needed"], unknown["agents_gap"], unknown["load_erlangs"]) == (
        None, None, None)
    quiet = rows[("t1", "phone", "sales", "10:30")]
    assert (quiet["offered"], quiet["agents_needed"], quiet["agents_actual"]) == (0, 0, 1)
    assert quiet["agents_gap"] == 1 and quiet["modelled_service_level"] is None


def test_filters_reach_inside_the_view(client: Any) -> None:
    result = client.query(
        "SELECT interval_start, agents_needed FROM sqm.staffing_15m "
        "WHERE tenant_id = 't1' AND channel = 'phone' AND interval_start >= {t:DateTime('UTC')} "
        "ORDER BY interval_start", parameters={"t": at(15)})
    assert [(r[0].strftime("%H:%M"), r[1]) for r in result.result_rows] == [
        ("10:15", None), ("10:30", 0)]


PATIENCE = 610 / 6  # t1/phone/sales over 09:45-10:45: (120 + 150 + 340) s of queueing, 6 abandons


def test_report_adds_erlang_a_where_abandons_allow(client: Any) -> None:
    report = {(r["tenant_id"], r["queue"], r["interval_start"].strftime("%H:%M")): r
              for r in staffing(client, at(-15), at(45), 0.8)}
    sales = report[("t1", "sales", "10:00")]
    assert sales["patience_s"] == pytest.approx(PATIENCE)
    needed_a = agents_needed_a(100 / 900, 180.0, PATIENCE, 20.0, 0.8, SHORT_ABANDON_S)
    assert (sales["agents_needed_c"], sales["agents_needed_a"]) == (24, needed_a)
    assert needed_a < 24  # impatient callers leave the queue: fewer agents reach 80 %
    assert (sales["agents_gap"], sales["model"]) == (22 - needed_a, "A")
    assert report[("t1", "sales", "10:15")]["model"] == ""  # no handle time: unknown
    assert report[("t1", "sales", "10:30")]["agents_needed_a"] == 0  # no arrivals
    support = report[("t1", "support", "10:00")]  # no abandons: Erlang C stands
    assert (support["patience_s"], support["agents_needed_a"], support["model"]) == (
        None, None, "C")
    assert support["agents_needed_c"] == agents_needed_c(12 / 900, 600.0, 30.0, 0.8)
    # Another goal: Erlang C again from the core module, not from the view's 80 %.
    strict = {(r["tenant_id"], r["queue"], r["interval_start"].strftime("%H:%M")): r
              for r in staffing(client, at(-15), at(45), 0.95, tenant="t1")}
    assert strict[("t1", "sales", "10:00")]["agents_needed_c"] == agents_needed_c(
        100 / 900, 180.0, 20.0, 0.95)
    assert {key[0] for key in strict} == {"t1"}


def test_cli_prints_the_report(store: Path) -> None:
    env = {**os.environ, "SQM_LOG_FORMAT": "text", "PYTHONPATH": str(Path(__file__).parents[2])}
    result = subprocess.run(
        [sys.executable, "-m", "sqm.streams.cli", "staffing", "--store", str(store), "--period",
         "1h", "--end", "2026-03-02T10:45:00Z", "--tenant", "t1", "--format", "json"],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )
    assert result.returncode == 0, result.stderr
    printed = {(r["queue"], r["interval_start"][11:16]): r for r in orjson.loads(result.stdout)}
    assert sorted(printed) == [("sales", "09:45"), ("sales", "10:00"), ("sales", "10:15"),
                               ("sales", "10:30"), ("support", "10:00")]
    sales = printed[("sales", "10:00")]
    assert (sales["agents_needed_c"], sales["agents_actual"], sales["model"]) == (24, 22, "A")
    assert sales["agents_needed_a"] == agents_needed_a(100 / 900, 180.0, PATIENCE, 20.0, 0.8,
                                                       SHORT_ABANDON_S)
    bad = subprocess.run(
        [sys.executable, "-m", "sqm.streams.cli", "staffing", "--store", str(store), "--goal", "1"],
        capture_output=True, text=True, timeout=120, env=env, check=False)
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "--goal" in bad.stderr
