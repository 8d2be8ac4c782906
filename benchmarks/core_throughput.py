"""Per-event cost of each step of the engine-free core, without Kafka or Faust.

    python benchmarks/core_throughput.py [--contacts 7000] [--store /tmp/cbench] [--wire list]
        [--batch-messages 10] [--freeze]

Prints µs per event for: validation, the internal wire format (encode and decode), the shard's
state update, building rows (the column form the customer agent writes), the chDB insert, the
changelog encoding, the alert stage's inputs (built by the customer stage) and the alert stage
itself (apply them, evaluate on the event clock, write its changelog parts, build its rows).
`--freeze` sets the worker's GC thresholds and freezes what is alive after each step and batch,
as its GC policy does every second (streams/gc_policy.py): the collector then scans only the
young objects, and the figures move less with the collector's timing. `--wire dict` measures
`EventRecord.to_wire`/`from_wire`, `--wire list` the positional `to_wire_list`/`from_wire_list`.
The store directory is emptied first (chDB allows one process per directory).
"""

from __future__ import annotations

import argparse
import gc
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import checkout  # noqa: F401  (benchmarks/: this checkout's sqm comes first)

from sqm.sinks.clickhouse import connect
from sqm.sinks.migrations import migrate
from sqm.sinks.writer import ClickHouseWriter
from sqm.streams.core import rows
from sqm.streams.core.alerting import DEFAULT_CONFIG
from sqm.streams.core.alerting.changes import change_columns
from sqm.streams.core.alerting.partition import AlertStateStore
from sqm.streams.core.partitions import KeyedBytesStore
from sqm.streams.core.records import EventRecord
from sqm.streams.core.shard import Shard, ShardConfig
from sqm.streams.core.state import DictStore
from sqm.streams.core.validate import validate
from sqm.streams.core.wire import alert_inputs
from sqm.streams.gc_policy import THRESHOLDS
from sqm.streams.simulate import SimConfig, history

MESSAGE_EVENTS = 500  # events per sqm.by-customer message
BATCH_MESSAGES = 10  # messages per processing batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=7000)
    parser.add_argument("--store", type=Path, default=Path("/tmp/cbench"))
    parser.add_argument("--wire", choices=("dict", "list"), default="list")
    parser.add_argument("--batch-messages", type=int, default=BATCH_MESSAGES,
                        help=f"messages of {MESSAGE_EVENTS} events per batch")
    parser.add_argument("--freeze", action="store_true")
    args = parser.parse_args()

    lines = [orjson.dumps(e) for e in history(
        args.contacts, datetime(2026, 3, 2, tzinfo=UTC), 50.0, SimConfig(customers=20_000))]
    n = len(lines)
    if args.freeze:
        gc.set_threshold(*THRESHOLDS)
        gc.freeze()
    cost: dict[str, float] = {}
    gc_pauses = GcPauses()

    t = time.perf_counter()
    records = [r for r in map(validate, lines) if isinstance(r, EventRecord)]
    cost["validate"] = time.perf_counter() - t
    as_list = args.wire == "list"
    t = time.perf_counter()
    if as_list:
        wire = b"[" + b",".join(orjson.dumps(r.to_wire_list()) for r in records) + b"]"
    else:
        wire = b"[" + b",".join(orjson.dumps(r.to_wire()) for r in records) + b"]"
    cost["wire encode"] = time.perf_counter() - t
    t = time.perf_counter()
    if as_list:
        decoded = [EventRecord.from_wire_list(d) for d in orjson.loads(wire)]
    else:
        decoded = [EventRecord.from_wire(d) for d in orjson.loads(wire)]
    cost["wire decode"] = time.perf_counter() - t
    assert decoded == records
    if args.freeze:
        gc.freeze()

    shutil.rmtree(args.store, ignore_errors=True)
    client = connect(f"chdb://{args.store.resolve()}")
    migrate(client)
    writer = ClickHouseWriter(client)
    shard = Shard(0, DictStore(), ShardConfig())
    messages = [(i, decoded[j:j + MESSAGE_EVENTS], 0)
                for i, j in enumerate(range(0, len(decoded), MESSAGE_EVENTS))]
    now_ms = rows.epoch_ms(datetime.now(UTC))
    alert_store = AlertStateStore(KeyedBytesStore({}, {}, lambda _p, _k, _v: None),
                                  DEFAULT_CONFIG)
    for step in ("shard process", "rows", "chDB insert", "changelog encode", "alert inputs",
                 "alert stage"):
        cost[step] = 0.0
    alert_changes = 0
    for k in range(0, len(messages), args.batch_messages):
        t0 = time.perf_counter()
        res = shard.process(messages[k:k + args.batch_messages])
        t1 = time.perf_counter()
        batch = {
            "events": rows.event_columns(res.accepted, now_ms),
            "contacts": rows.contact_columns(res.contacts, now_ms),
            "sla_1m": rows.sla_columns([(0, *w) for w in res.windows], now_ms),
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
        inputs = alert_inputs(0, shard.meta.low_watermark, res.windows, res.contacts, 1,
                              res.before)
        t5 = time.perf_counter()
        part = alert_store.get(0)
        for message in inputs[0]:
            part.apply(message)
        assert part.clock is not None
        changes = part.monitor.evaluate(part.clock, on_grid=True)
        change_columns(changes)
        alert_store.flush(0, part)
        t6 = time.perf_counter()
        alert_changes += len(changes)
        cost["alert inputs"] += t5 - t4
        cost["alert stage"] += t6 - t5
        if args.freeze:
            gc.freeze()
    client.close()
    gc_pauses.stop()

    print(f"events: {n:,}, batches of {args.batch_messages * MESSAGE_EVENTS:,}, alert changes "
          f"{alert_changes:,}")
    for step, seconds in cost.items():
        print(f"{step:>18}: {seconds / n * 1e6:6.1f} µs/event")
    total = sum(cost.values()) / n * 1e6
    print(f"{'total':>18}: {total:6.1f} µs/event  (~{1e6 / total:,.0f} events/s on one core)")
    print(f"{'of which gc':>18}: {gc_pauses.seconds / n * 1e6:6.1f} µs/event  (collector pauses "
          f"inside the steps above, {gc_pauses.full} full collections)")


class GcPauses:
    """Time spent in the cyclic garbage collector: it lands in whichever step allocates when a
    threshold trips, so per-step figures move with it; this says how much of the total it is."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.full = 0
        self._start = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._start
            self.full += info["generation"] == 2

    def stop(self) -> None:
        gc.callbacks.remove(self._callback)


if __name__ == "__main__":
    main()
