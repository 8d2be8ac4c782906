"""What setting a raw TTL costs on a filled `sqm.events`, and what migrating again costs.

    python benchmarks/ttl_retention.py [--rows 1000000] [--days 60] [--ttl-days 30]

In chDB (in-process ClickHouse), in a temporary store: migrate, fill `sqm.events` with `--rows`
events spread evenly over the last `--days` days (each with a 400-byte payload), then time
1. `apply_ttls` setting `raw_ttl_days` (its first `MODIFY TTL` also applies the TTL to the rows
   already stored, as a background mutation),
2. `OPTIMIZE TABLE sqm.events FINAL` (forces the merges that delete expired rows),
3. `apply_ttls` again with the same settings (what every later `sqm migrate` pays),
and print wall and CPU time of each and the rows left against those expected (the events
younger than the TTL, counted just before the merge). Figures are printed, not judged.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from collections.abc import Callable

os.environ["TZ"] = "UTC"
time.tzset()

from sqm.sinks.clickhouse import connect  # noqa: E402
from sqm.sinks.migrations import migrate  # noqa: E402
from sqm.sinks.retention import apply_ttls, plan  # noqa: E402


def timed(label: str, fn: Callable[[], object]) -> object:
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    print(f"{label:<44} wall {time.perf_counter() - wall:7.2f} s   "
          f"cpu {time.process_time() - cpu:7.2f} s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--ttl-days", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as store:
        client = connect(f"chdb://{store}")
        migrate(client)
        span_s = args.days * 86400
        timed(f"fill {args.rows:,} events over {args.days} days", lambda: client.command(
            "INSERT INTO sqm.events (event_id, occurred_at, tenant_id, contact_id, raw) "
            f"SELECT toString(number), now64(3, 'UTC') - toIntervalSecond("
            f"intDiv(number * {span_s}, {args.rows})), concat('t', toString(number % 10)), "
            f"toString(intDiv(number, 4)), repeat('x', 400) FROM numbers({args.rows})"))
        ttls = plan(args.ttl_days, {})
        print("changed:", timed(f"apply_ttls raw_ttl_days={args.ttl_days} (first)",
                                lambda: apply_ttls(client, ttls)))
        # Counted just before the merge: one event crosses the TTL every days/rows seconds.
        expected = client.command(
            "SELECT count() FROM sqm.events WHERE occurred_at > now64(3, 'UTC') - "
            f"toIntervalDay({args.ttl_days})")
        timed("OPTIMIZE TABLE sqm.events FINAL", lambda: client.command(
            "OPTIMIZE TABLE sqm.events FINAL"))
        print("changed:", timed("apply_ttls again, same settings",
                                lambda: apply_ttls(client, ttls)))
        left = client.command("SELECT count() FROM sqm.events")
        print(f"rows left {left:,}, expected {expected:,} (younger than {args.ttl_days} days)")
        client.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:,.0f} MB")


if __name__ == "__main__":
    main()
