"""`sqm.agent_windows(minutes)` and `sqm.first_response_quantiles(minutes)` (migration 0009) on
real chDB, against values worked out by hand."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sqm.sinks.clickhouse import connect
from sqm.sinks.migrations import migrate

pytestmark = pytest.mark.integration

COLS = ("tenant_id, contact_id, channel, queue, first_agent_id, answered_at, first_response_s, "
        "sla_outcome, csat, nps, ratings, resolved_at, reopen_count, next_response_count, "
        "next_response_sum_s, handle_s, version")
ROWS = [
    # agent a1, chat/q, window 01:00-01:15
    "('t1', 'k1', 'chat', 'q', 'a1', '2026-03-02 01:00:10', 10, 'met', 5, 10, "
    "{'professionalism': 5, 'patience': 4}, '2026-03-02 01:05:00', 0, 2, 30, 100, 1)",
    "('t1', 'k2', 'chat', 'q', 'a1', '2026-03-02 01:03:00', 40, 'missed', 3, 6, {'patience': 2}, "
    "NULL, 1, 0, 0, NULL, 1)",
    "('t1', 'k3', 'chat', 'q', 'a1', '2026-03-02 01:04:00', 20, 'met', NULL, NULL, {}, "
    "'2026-03-02 01:09:00', 0, 1, 10, 300, 2)",
    # an older version of k3: FINAL must ignore it
    "('t1', 'k3', 'chat', 'q', 'a1', '2026-03-02 01:04:00', 999, 'missed', 1, 0, {}, NULL, 0, 0, "
    "0, NULL, 1)",
    # agent a2 in the same window; a1 again in the next window
    "('t1', 'k4', 'chat', 'q', 'a2', '2026-03-02 01:02:00', 5, 'met', NULL, NULL, {}, NULL, 0, 0, "
    "0, NULL, 1)",
    "('t1', 'k5', 'chat', 'q', 'a1', '2026-03-02 01:20:00', 50, 'missed', NULL, NULL, {}, NULL, 0, "
    "0, 0, NULL, 1)",
    # never answered: in neither view
    "('t1', 'k6', 'chat', 'q', NULL, NULL, NULL, 'missed', NULL, NULL, {}, NULL, 0, 0, 0, NULL, 1)",
]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    c = connect(f"chdb://{tmp_path_factory.mktemp('agents')}")
    try:
        migrate(c)
        c.command(f"INSERT INTO sqm.contacts ({COLS}) VALUES {', '.join(ROWS)}")
        yield c
    finally:
        c.close()


def test_agent_windows_by_hand(client: Any) -> None:
    rows = client.query("""
        SELECT toString(window_start), agent_id, answered, met, response_in_sla,
               first_response_s_avg, first_response_s_p50, first_response_s_p90, resolved,
               reopened, rated, csat_mean, csat_share, professionalism_mean, patience_mean,
               next_responses, next_response_s_avg, handle_s_avg, nps_n, nps_score
        FROM sqm.agent_windows(minutes = 15)
        ORDER BY window_start, agent_id""").result_rows
    a1, a2, a1_later = rows
    # a1, 01:00: first responses 10, 40, 20 → mean 70/3; p50 20; p90 at rank 0.9 × 2 = 1.8:
    # 20 + 0.8 × (40 − 20) = 36. Resolved k1, k3; reopened k2; rated k1 (5), k2 (3); one of
    # them 4-5; professionalism only k1 (5); patience (4 + 2) / 2; next responses 2 + 1 = 3
    # taking 30 + 10 s; handle (100 + 300) / 2.
    assert a1[:5] == ("2026-03-02 01:00:00", "a1", 3, 2, pytest.approx(2 / 3))
    assert a1[5:8] == (pytest.approx(70 / 3), 20.0, pytest.approx(36.0))
    # NPS: k1 10 (promoter), k2 6 (detractor): 100 × (1 − 1) / 2 = 0.
    assert a1[8:] == (2, 1, 2, 4.0, 0.5, 5.0, 3.0, 3, pytest.approx(40 / 3), 200.0, 2, 0.0)
    assert a2[:5] == ("2026-03-02 01:00:00", "a2", 1, 1, 1.0)
    assert a2[11:15] == (None, None, None, None)  # nothing rated: undefined, not 0
    assert a2[18:] == (0, None)
    assert a1_later[:4] == ("2026-03-02 01:15:00", "a1", 1, 0)


def test_first_response_quantiles_by_hand(client: Any) -> None:
    rows = client.query("""
        SELECT toString(window_start), answered, first_response_s_p50, first_response_s_p90,
               first_response_s_max
        FROM sqm.first_response_quantiles(minutes = 15) ORDER BY window_start""").result_rows
    # 01:00: 5, 10, 20, 40 → p50 at rank 1.5: 15; p90 at rank 2.7: 20 + 0.7 × 20 = 34.
    assert rows == [("2026-03-02 01:00:00", 4, 15.0, pytest.approx(34.0), 40.0),
                    ("2026-03-02 01:15:00", 1, 50.0, 50.0, 50.0)]
