"""Per-event cost of each step of the engine-free core, without Kafka or Faust.

    python benchmarks/core_throughput.py [--contacts 7000] [--store /tmp/cbench]

Prints µs per event for: validation, the internal wire format (encode and decode), the shard's
state update, building rows, the chDB insert and the changelog encoding. The store directory is
emptied first (chDB allows one process per directory).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sinks.clickhouse import connect
from sinks.migrations import migrate
from sinks.writer import ClickHouseWriter
from streams.core import rows
from streams.core.records import EventRecord
from streams.core.shard import Shard, ShardConfig
from streams.core.state import DictStore
from streams.core.validate import validate
from streams.simulate import SimConfig, history

MESSAGE_EVENTS = 500  # events per sqm.by-customer message
BATCH_MESSAGES = 10  # messages per processing batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=7000)
    parser.add_argument("--store", type=Path, default=Path("/tmp/cbench"))
    args = parser.parse_args()

    lines = [orjson.dumps(e) for e in history(
        args.contacts, datetime(2026, 3, 2, tzinfo=UTC), 50.0, SimConfig(customers=20_000))]
    n = len(lines)
    cost: dict[str, float] = {}

    t = time.perf_counter()
    records = [r for r in map(validate, lines) if isinstance(r, EventRecord)]
    cost["validate"] = time.perf_counter() - t
    t = time.perf_counter()
    wire = b"[" + b",".join(orjson.dumps(r.to_wire()) for r in records) + b"]"
    cost["wire encode"] = time.perf_counter() - t
    t = time.perf_counter()
    decoded = [EventRecord.from_wire(d) for d in orjson.loads(wire)]
    cost["wire decode"] = time.perf_counter() - t

    shutil.rmtree(args.store, ignore_errors=True)
    client = connect(f"chdb://{args.store.resolve()}")
    migrate(client)
    writer = ClickHouseWriter(client)
    shard = Shard(0, DictStore(), ShardConfig())
    messages = [(i, decoded[j:j + MESSAGE_EVENTS], 0)
                for i, j in enumerate(range(0, len(decoded), MESSAGE_EVENTS))]
    now = datetime.now(UTC)
    for step in ("shard process", "rows", "chDB insert", "changelog encode"):
        cost[step] = 0.0
    for k in range(0, len(messages), BATCH_MESSAGES):
        t0 = time.perf_counter()
        res = shard.process(messages[k:k + BATCH_MESSAGES])
        t1 = time.perf_counter()
        batch: dict[str, list[dict[str, Any]]] = {
            "events": [rows.event_row(e, now) for e in res.accepted],
            "contacts": [rows.contact_row(v, ver, now) for v, ver in res.contacts],
            "sla_1m": [rows.sla_row(key, c, 0, ver, now) for key, c, ver in res.windows],
        }
        t2 = time.perf_counter()
        writer.write(batch)
        t3 = time.perf_counter()
        shard.commit()
        t4 = time.perf_counter()
        cost["shard process"] += t1 - t0
        cost["rows"] += t2 - t1
        cost["chDB insert"] += t3 - t2
        cost["changelog encode"] += t4 - t3
    client.close()

    print(f"events: {n:,}")
    for step, seconds in cost.items():
        print(f"{step:>18}: {seconds / n * 1e6:6.1f} µs/event")
    total = sum(cost.values()) / n * 1e6
    print(f"{'total':>18}: {total:6.1f} µs/event  (~{1e6 / total:,.0f} events/s on one core)")


if __name__ == "__main__":
    main()
