"""The writer's counters and insert timing behind sqm_clickhouse_retries_total,
sqm_clickhouse_failures_total and sqm_clickhouse_insert_seconds, against chDB; the failures
are the driver's own exception types raised by the wrapping client of test_clickhouse.py."""

from __future__ import annotations

import pytest
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from sqm.sinks.writer import ClickHouseWriter, RetryPolicy, SinkError
from tests.integration.test_clickhouse import CountingClient, contact_row, no_sleep, sla_row

pytestmark = pytest.mark.integration



def test_retries_failures_and_insert_times_are_counted(client: Client) -> None:
    timeout = DatabaseError("Code: 159. Timeout exceeded", code=159, name="TIMEOUT_EXCEEDED")
    flaky = CountingClient(client, timeout, fail=2)
    writer = ClickHouseWriter(flaky, sleep=no_sleep)  # type: ignore[arg-type]
    inserts: list[tuple[str, float]] = []
    writer.on_insert = lambda table, s: inserts.append((table, s))
    writer.write({"contacts": [contact_row()], "events": []})  # no rows: no insert
    assert (writer.retries, writer.failures) == (2, 0)
    assert [t for t, _ in inserts] == ["contacts"] and inserts[0][1] > 0

    down = CountingClient(client, timeout, fail=100)
    writer = ClickHouseWriter(down, retry=RetryPolicy(attempts=3),  # type: ignore[arg-type]
                              sleep=no_sleep)
    with pytest.raises(SinkError):
        writer.write({"contacts": [contact_row()]})
    assert (writer.retries, writer.failures) == (2, 1)
    # Refused by the server (a view takes no insert): a failure at once, no retry.
    view_row = {k: v for k, v in sla_row().items()
                if k not in ("shard", "version", "policy_version")}
    writer = ClickHouseWriter(client, sleep=no_sleep)
    with pytest.raises(SinkError):
        writer.write({"sla_1m_total": [view_row]})
    assert (writer.retries, writer.failures) == (0, 1)
