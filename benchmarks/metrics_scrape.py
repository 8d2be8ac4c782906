"""What counting the state costs a worker (`sqm_state_*`, streams/observe/state_count.py): a
pass over the state table's keys, on the event loop, started once a minute.

    python benchmarks/metrics_scrape.py [--contacts 20000] [--customers 1000000]

Builds a real shard state from simulated traffic (the core's `Shard`, no Kafka), then a table
of `--customers` customer entries made of copies of those states (plus the windows and the
meta record, as in the Faust table), twice: as live objects (a worker's state after it
processed them) and as encoded bytes (right after a changelog recovery, before they are
touched; each is decoded to count its contacts). Prints the CPU seconds of one whole count and
of the copy of the keys it starts with, then what the worker does: the same pass in slices of
`STATE_SLICE_S`, one per heartbeat (streams/observe/state_count.py): how many heartbeats a pass
takes, and the longest pause of the event loop.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import checkout  # noqa: F401  (benchmarks/: this checkout's sqm comes first)

from sqm.streams.core.records import EventRecord
from sqm.streams.core.shard import Shard, ShardConfig
from sqm.streams.core.state import CustomerState, DictStore
from sqm.streams.core.validate import validate
from sqm.streams.observe.metrics import STATE_SLICE_S
from sqm.streams.observe.state_count import StateCount, count_state
from sqm.streams.simulate import SimConfig, history


def shard_state(contacts: int) -> dict[str, Any]:
    lines = [orjson.dumps(e) for e in history(
        contacts, datetime(2026, 3, 2, tzinfo=UTC), 50.0, SimConfig(customers=contacts // 2))]
    records = [r for r in map(validate, lines) if isinstance(r, EventRecord)]
    store = DictStore()
    shard = Shard(0, store, ShardConfig())
    shard.process([(i, records[j:j + 500], 0)
                   for i, j in enumerate(range(0, len(records), 500))])
    shard.commit()
    return store.data


def table(state: dict[str, Any], customers: int, encoded: bool) -> dict[bytes, Any]:
    states = [v for k, v in state.items() if k.startswith("c\x1f")]
    out: dict[bytes, Any] = {}
    for i in range(customers):
        st = states[i % len(states)]
        out[f"c\x1f0\x1fT\x1fu{i}".encode()] = st.encode() if encoded else st
    for k, v in state.items():
        if not k.startswith("c\x1f"):
            out[k.encode()] = v
    return out


def measure(data: dict[bytes, Any]) -> tuple[float, float, int]:
    gc.freeze()  # as the worker's GC policy does every second (streams/gc_policy.py)
    t0 = time.process_time()
    list(data)
    copy_s = time.process_time() - t0
    t0 = time.process_time()
    _, contacts, _ = count_state(data)
    return copy_s, time.process_time() - t0, contacts


def sliced(data: dict[bytes, Any]) -> tuple[int, float]:
    """The worker's way: slices of STATE_SLICE_S, one per heartbeat. (slices, longest s)."""
    counter, longest, slices = StateCount(), 0.0, 0
    while True:
        t0 = time.process_time()
        done = counter.step(data, STATE_SLICE_S)
        longest = max(longest, time.process_time() - t0)
        slices += 1
        if done is not None:
            return slices, longest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--customers", type=int, default=1_000_000)
    args = parser.parse_args()
    state = shard_state(args.contacts)
    live = [v for v in state.values() if isinstance(v, CustomerState)]
    print(f"simulated state: {len(live):,} customers, "
          f"{sum(len(c.contacts) for c in live):,} contacts, "
          f"{sum(1 for k in state if k.startswith('w')):,} windows")
    for encoded in (False, True):
        data = table(state, args.customers, encoded)
        copy_s, count_s, contacts = measure(data)
        kind = "encoded (after recovery)" if encoded else "live objects"
        slices, longest = sliced(data)
        print(f"{args.customers:,} customers, {kind}: count {count_s:.3f} s CPU, of which "
              f"key copy {copy_s:.3f} s; {contacts:,} contacts; in the worker: {slices:,} "
              f"heartbeats, the longest pause {longest * 1000:.0f} ms")
        del data


if __name__ == "__main__":
    main()
