"""`sqm.wait_quantiles` / `sqm.resolution_quantiles`: exact p50/p90 per window from contacts,
checked against Python's inclusive quantiles and by hand. Real chDB."""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from sqm.sinks.clickhouse import connect
from sqm.sinks.migrations import migrate

pytestmark = pytest.mark.integration

COLS = ("tenant_id, contact_id, channel, queue, answered_at, wait_s, resolved_at, resolution_s, "
        "version")
WAITS = [10, 20, 30, 40]  # answered in 01:00-01:05 on chat
RESOLUTIONS = [100, 300, 200]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    c = connect(f"chdb://{tmp_path_factory.mktemp('quantiles')}")
    try:
        migrate(c)
        rows = [f"('t1', 'w{i}', 'chat', 'q', '2026-03-02 01:0{i}:00', {w}, NULL, NULL, 2)"
                for i, w in enumerate(WAITS)]
        # An older version of w0 with a huge wait: FINAL must ignore it.
        rows.append("('t1', 'w0', 'chat', 'q', '2026-03-02 01:00:00', 9999, NULL, NULL, 1)")
        rows += [f"('t1', 'r{i}', 'chat', 'q', NULL, NULL, '2026-03-02 01:1{i}:00', {r}, 1)"
                 for i, r in enumerate(RESOLUTIONS)]
        rows.append("('t1', 'x', 'email', 'q', '2026-03-02 01:02:00', 5000, NULL, NULL, 1)")
        c.command(f"INSERT INTO sqm.contacts ({COLS}) VALUES {', '.join(rows)}")
        yield c
    finally:
        c.close()


def inclusive(values: list[int], q: float) -> float:
    cuts = statistics.quantiles(values, n=10, method="inclusive")  # deciles
    return {0.5: cuts[4], 0.9: cuts[8]}[q]


def test_wait_quantiles_per_window_and_channel(client: Any) -> None:
    rows = client.query(
        "SELECT window_start, channel, answered, wait_s_p50, wait_s_p90, wait_s_max "
        "FROM sqm.wait_quantiles(minutes = 5) ORDER BY channel").result_rows
    start = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    # Sorted waits 10, 20, 30, 40: p50 = 25 (halfway between 20 and 30), p90 = 30 + 0.7 * 10.
    assert [tuple(r) for r in rows] == [
        (start, "chat", 4, 25.0, 37.0, 40.0),
        (start, "email", 1, 5000.0, 5000.0, 5000.0),
    ]
    assert (inclusive(WAITS, 0.5), inclusive(WAITS, 0.9)) == (25.0, 37.0)


def test_resolution_quantiles(client: Any) -> None:
    rows = client.query("SELECT resolved, resolution_s_p50, resolution_s_p90 "
                        "FROM sqm.resolution_quantiles(minutes = 60)").result_rows
    # Sorted 100, 200, 300: p50 = 200, p90 = 200 + 0.8 * 100.
    assert [tuple(r) for r in rows] == [(3, 200.0, 280.0)]
    assert inclusive(RESOLUTIONS, 0.9) == pytest.approx(280.0)
