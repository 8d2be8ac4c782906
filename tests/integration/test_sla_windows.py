"""`sqm.sla_windows(minutes=N)`: coarser windows summed from the one-minute grain, with the
derived rates of docs/metrics.md, against values worked out by hand. Real chDB."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from sqm.sinks.clickhouse import connect
from sqm.sinks.migrations import migrate

pytestmark = pytest.mark.integration

COLUMNS = ("window_start, tenant_id, channel, queue, priority, shard, offered, answered, "
           "answered_in_sla, wait_s_sum, abandoned, short_abandoned, created, repeat_contacts, "
           "version, updated_at")
# (minute, tenant, channel, shard, version, offered, answered, in_sla, wait_s_sum, abandoned,
#  short_abandoned, created, repeat_contacts)
ROWS = [
    ("01:03", "a", "chat", 0, 1, 5, 0, 0, 0, 0, 0, 0, 0),  # superseded by version 2 below
    ("01:03", "a", "chat", 0, 2, 2, 1, 1, 20, 1, 0, 2, 0),
    ("01:04", "a", "chat", 1, 1, 1, 1, 0, 45, 1, 1, 1, 1),
    ("01:05", "a", "chat", 0, 1, 1, 0, 0, 0, 0, 0, 0, 0),
    ("01:14", "a", "chat", 0, 1, 0, 2, 2, 30, 0, 0, 2, 0),
    ("01:14", "a", "chat", 1, 1, 1, 0, 0, 0, 0, 0, 0, 0),
    ("01:03", "b", "phone", 0, 1, 1, 0, 0, 0, 0, 0, 1, 0),
]
RATES = "service_level, wait_s_avg, abandon_rate, repeat_rate"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    c = connect(f"chdb://{tmp_path_factory.mktemp('windows')}")
    try:
        migrate(c)
        values = ", ".join(
            f"('2026-03-02 {m}:00', '{t}', '{ch}', 'q', 'normal', {shard}, {o}, {a}, {s}, {w}, "
            f"{ab}, {sh}, {cr}, {rp}, {v}, now64())"
            for m, t, ch, shard, v, o, a, s, w, ab, sh, cr, rp in ROWS
        )
        c.command(f"INSERT INTO sqm.sla_1m ({COLUMNS}) VALUES {values}")
        yield c
    finally:
        c.close()


def at(hh_mm: str) -> datetime:
    h, m = map(int, hh_mm.split(":"))
    return datetime(2026, 3, 2, h, m, tzinfo=UTC)


def windows(client: Any, minutes: int, tenant: str = "a") -> list[tuple[Any, ...]]:
    return [tuple(r) for r in client.query(
        f"SELECT window_start, offered, answered, answered_in_sla, wait_s_sum, abandoned, "
        f"short_abandoned, created, repeat_contacts, {RATES} "
        f"FROM sqm.sla_windows(minutes = {minutes}) WHERE tenant_id = '{tenant}' "
        f"ORDER BY window_start").result_rows]


def test_five_minute_windows_sum_the_final_shard_rows(client: Any) -> None:
    # 01:00-01:05: offered 2 + 1 (version 2 replaced the 5), answered 2, one in SLA, waits
    # 20 + 45 s, abandons 2 of which 1 short: SL = 1 / (2 + 2 - 1), average wait 32.5 s,
    # abandonment (2 - 1) / 3, repeats 1 of 3 created.
    assert windows(client, 5) == [
        (at("01:00"), 3, 2, 1, Decimal("65.000"), 2, 1, 3, 1, 1 / 3, 32.5, 1 / 3, 1 / 3),
        # Only an offer: every rate is undefined (NULL), not 0.
        (at("01:05"), 1, 0, 0, Decimal("0.000"), 0, 0, 0, 0, None, None, None, None),
        # Both shards of 01:14 are summed.
        (at("01:10"), 1, 2, 2, Decimal("30.000"), 0, 0, 2, 0, 1.0, 15.0, 0.0, 0.0),
    ]


def test_fifteen_minutes_an_hour_and_a_day_hold_everything(client: Any) -> None:
    # 4 answered (3 in SLA, waits 95 s), 2 abandoned (1 short), 5 created (1 repeat):
    # SL 3 / (4 + 2 - 1) = 0.6, average wait 23.75 s, abandonment 1/5, repeats 1/5.
    whole = (5, 4, 3, Decimal("95.000"), 2, 1, 5, 1, 0.6, 23.75, 0.2, 0.2)
    assert windows(client, 15) == [(at("01:00"), *whole)]
    assert windows(client, 60) == [(at("01:00"), *whole)]
    assert windows(client, 1440) == [(at("00:00"), *whole)]


def test_scopes_stay_apart(client: Any) -> None:
    assert windows(client, 5, tenant="b") == [
        (at("01:00"), 1, 0, 0, Decimal("0.000"), 0, 0, 1, 0, None, None, None, 0.0),
    ]
    rows = client.query("SELECT DISTINCT tenant_id, channel FROM sqm.sla_windows(minutes = 60) "
                        "ORDER BY tenant_id").result_rows
    assert [tuple(r) for r in rows] == [("a", "chat"), ("b", "phone")]
