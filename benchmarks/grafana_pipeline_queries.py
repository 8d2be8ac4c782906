"""Cost of the pipeline-health alert queries Grafana runs every minute, on chDB (in-process).

    python benchmarks/grafana_pipeline_queries.py [--scopes 100] [--events-per-day 500000]

Fills a fresh store with 7 days of `sqm.sla_1m` (one row per minute and scope, i.e. tenant ×
channel × queue; 10 tenants) and 7 days of `sqm.events`, then times the SQL of the rules
`sqm-tenant-stale` and `sqm-events-stale` as committed, with `$__toTime` expanded to the end of
the data, best of 5 (wall and process CPU time). The newest-event query is also timed with a
7-day lookback, the first version's, to show what the 1-day lookback saves. chDB is not a tuned
server: the figures compare queries with each other, not with production.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clickhouse_connect.driver import Client

sys.path.insert(0, str(Path(__file__).resolve().parent))
import checkout  # noqa: F401  (benchmarks/: this checkout's sqm comes first)

from sqm.dashboards.pipeline import LOOKBACK_S, event_age_query, tenant_freshness_query
from sqm.sinks.clickhouse import connect
from sqm.sinks.migrations import migrate

os.environ["TZ"] = "UTC"  # before the first chDB connection (../shared/notes/chdb.md)
time.tzset()

END = datetime(2026, 3, 9, tzinfo=UTC)
DAYS = 7


def _fill(client: Client, scopes: int, events_per_day: int) -> None:
    end = int(END.timestamp())
    minutes = DAYS * 1440
    client.command(
        f"""INSERT INTO sqm.sla_1m (window_start, tenant_id, channel, queue, priority, shard,
    offered, answered, answered_in_sla, wait_s_sum, abandoned, short_abandoned, created,
    repeat_contacts, version, updated_at)
SELECT toDateTime({end} - 60 * (number % {minutes}) - 60),
    concat('t', toString(intDiv(number, {minutes}) % 10)), 'chat',
    concat('q', toString(intDiv(number, {minutes}))), 'normal', 0,
    1, 1, 1, 1, 0, 0, 1, 0, 1, toDateTime64({end} - 60 * (number % {minutes}), 3)
FROM numbers({minutes * scopes})"""
    )
    total = DAYS * events_per_day
    step = DAYS * 86400 / total
    client.command(
        f"""INSERT INTO sqm.events (event_id, type, occurred_at, tenant_id, contact_id,
    customer_id, channel, raw, ingested_at)
SELECT toString(number), 'message.sent', toDateTime64({end} - {step} * number - 1, 3),
    concat('t', toString(number % 10)), toString(number % 100000), 'u', 'chat', '{{}}',
    toDateTime64({end} - {step} * number, 3)
FROM numbers({total})"""
    )


def _time(client: Client, sql: str) -> tuple[float, float, list[Any]]:
    best_wall, best_cpu, result = float("inf"), float("inf"), []
    for _ in range(5):
        wall, cpu = time.perf_counter(), time.process_time()
        result = list(client.query(sql).result_rows)
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return best_wall, best_cpu, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scopes", type=int, default=100)
    parser.add_argument("--events-per-day", type=int, default=500_000)
    args = parser.parse_args()
    to_time = f"toDateTime({int(END.timestamp())})"
    with tempfile.TemporaryDirectory() as tmp:
        client = connect(f"chdb://{tmp}")
        try:
            migrate(client)
            started = time.perf_counter()
            _fill(client, args.scopes, args.events_per_day)
            rows_sla = client.command("SELECT count() FROM sqm.sla_1m")
            rows_events = client.command("SELECT count() FROM sqm.events")
            print(f"store: {rows_sla:,} sla_1m rows, {rows_events:,} events "
                  f"({time.perf_counter() - started:.1f} s to fill)")
            week = event_age_query().raw_sql.replace("INTERVAL 86400 SECOND",
                                                     f"INTERVAL {LOOKBACK_S} SECOND")
            queries = {
                "sqm-tenant-stale (7 days of sla_1m)": tenant_freshness_query().raw_sql,
                "sqm-events-stale (1-day lookback)": event_age_query().raw_sql,
                "sqm-events-stale, 7-day lookback": week,
            }
            for name, sql in queries.items():
                wall, cpu, result = _time(client, sql.replace("$__toTime", to_time))
                shown = result if len(result) < 3 else f"{len(result)} rows"
                print(f"{name:40s} wall {wall * 1000:7.1f} ms  "
                      f"cpu {cpu * 1000:7.1f} ms  -> {shown}")
        finally:
            client.close()


if __name__ == "__main__":
    main()
