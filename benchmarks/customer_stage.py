"""CPU of the customer stage alone (`CustomerStage.prepare`) over a history, per event.

    python benchmarks/customer_stage.py HISTORY [--against TREE ...] [--runs 3] [--freeze]
                                        [--chunk 20000]

The direct runner's hot stage without its neighbours (ingest child, alert workers, ClickHouse
writes, start-up), whose CPU swamps a few % of it in `benchmarks/replay_direct.py`: the
history's valid events are validated up front, routed to `SQM_PARTITIONS` shards as the
direct runner does, and prepared in chunks of 20,000 lines (`--chunk 500`: batches the size
of the live worker's) on in-memory state without an archive; only `prepare` is timed (process
CPU time). Each run is a fresh process; with `--against TREE` (a checkout of another version,
e.g. a `git worktree add --detach`), the trees run alternately so that both see the same
machine. Prints each run and the best and median.
`--freeze` sets the runner's GC thresholds and freezes what is alive after each batch, as
`sqm replay` does (streams/gc_policy.py); without it the stock collector's full collections
over the growing state weigh on every run (~40 % of the figure).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import checkout

ROOT = Path(__file__).resolve().parents[1]
CHUNK = 20_000

ONE_RUN = r"""
import gc, sys, time
sys.path.insert(0, sys.argv[1])  # the tree's view
from datetime import UTC, datetime
from sqm.streams.config import Settings
from sqm.streams.core.partitions import MemoryPartitions
from sqm.streams.core.records import EventRecord
from sqm.streams.core.routing import shard_for
from sqm.streams.core.stages.customers import CustomerBatch, CustomerStage, Origin
from sqm.streams.core.state import Progress
from sqm.streams.core.validate import validate
settings = Settings()
n = settings.partitions
stage = CustomerStage(settings.shard_config(), n, MemoryPartitions(), None)
lines = [line.strip() for line in open(sys.argv[2], "rb")]
events = [e for e in map(validate, filter(None, lines)) if isinstance(e, EventRecord)]
gc.freeze()
freeze = sys.argv[4] == "freeze"
if freeze:  # the runner's GC policy (streams/gc_policy.py), ticked after each batch
    from sqm.streams.gc_policy import THRESHOLDS
    gc.set_threshold(*THRESHOLDS)
size = int(sys.argv[3])
offsets, mark, cpu, now = [0] * n, 0, 0.0, datetime.now(UTC)
for i in range(0, len(events), size):
    chunk = events[i:i + size]
    mark = max(mark, *(e.ts for e in chunk))
    closed = frozenset({0}) if i + size >= len(events) else frozenset()
    per = {p: [] for p in range(n)}
    for e in chunk:
        per[shard_for(e.tenant_id, e.customer_id, n)].append(e)
    messages = {}
    for p in range(n):
        messages[p] = [(offsets[p], per[p], 0, None),
                       (offsets[p] + 1, [], -1, Progress(1, {0: mark}, closed))]
        offsets[p] += 2
    started = time.process_time()
    stage.prepare(CustomerBatch(messages, Origin("history", lines={}), now))
    cpu += time.process_time() - started
    if freeze:
        gc.freeze()
print(len(events), cpu)
"""


def one_run(tree: Path, history: Path, freeze: bool, chunk: int) -> tuple[int, float]:
    out = subprocess.run(
        [sys.executable, "-c", ONE_RUN, str(checkout.view(tree)), str(history), str(chunk),
         "freeze" if freeze else "stock"],
        capture_output=True, text=True, check=True).stdout.split()
    return int(out[0]), float(out[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("history", type=Path)
    parser.add_argument("--against", type=Path, action="append", default=[])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--freeze", action="store_true")
    parser.add_argument("--chunk", type=int, default=CHUNK, help="events per batch")
    args = parser.parse_args()
    trees = [ROOT, *args.against]
    per_event: dict[Path, list[float]] = {tree: [] for tree in trees}
    for _ in range(args.runs):
        for tree in trees:
            n, cpu = one_run(tree, args.history, args.freeze, args.chunk)
            per_event[tree].append(cpu / n * 1e6)
            print(f"{tree}: {n:,} events, customer stage {cpu:.2f} s CPU, "
                  f"{cpu / n * 1e6:.1f} µs/event", flush=True)
    for tree, values in per_event.items():
        print(f"{tree}: best {min(values):.1f} µs/event, median "
              f"{statistics.median(values):.1f} ({len(values)} runs)")


if __name__ == "__main__":
    main()
