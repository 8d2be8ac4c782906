"""CPU of the alert stage alone (event clock, in-memory state) over a history, per event.

    python benchmarks/alert_stage.py HISTORY [--against TREE ...] [--runs 3]

The direct runner's alert workers without their neighbours: the history goes through ingest
(`route_batch`) and the customer stage as the direct runner does (chunks of 20,000 lines,
`SQM_PARTITIONS` shards, no archive), once, in a process of this tree, and each chunk's alert
inputs per partition (`PreparedCustomers.alert_inputs`) are kept in a temporary file. Each run
(a fresh process) then feeds them to a fresh `AlertStage` with the default alert config and the
default lateness, chunk by chunk through `direct_workers.step_split` and `merge`, and times only
that (process CPU time). With `--against TREE` (another checkout, e.g. `git worktree add
--detach`), the trees run alternately on the same inputs. Each run prints its CPU, µs/event, the
number of alert changes and a digest (sha256 of the repr of the changes list): equal digests
are equal output.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import checkout

ROOT = Path(__file__).resolve().parents[1]
CHUNK = 20_000

# argv: view, history, chunk size, output file. Writes a pickle of (events, chunks), each chunk
# the alert inputs of every partition.
INPUTS = r"""
import pickle, sys, time
sys.path.insert(0, sys.argv[1])
from datetime import UTC, datetime
import orjson
from sqm.streams.config import Settings
from sqm.streams.core.ingest_batch import route_batch
from sqm.streams.core.partitions import MemoryPartitions
from sqm.streams.core.records import EventRecord
from sqm.streams.core.stages.customers import CustomerBatch, CustomerStage, Origin
from sqm.streams.core.state import Progress
settings = Settings()
n = settings.partitions
stage = CustomerStage(settings.shard_config(), n, MemoryPartitions(), None)
lines = [line.strip() for line in open(sys.argv[2], "rb")]
lines = [line for line in lines if line]
size = int(sys.argv[3])
offsets, mark, now, chunks, events = [0] * n, 0, datetime.now(UTC), [], 0
for i in range(0, len(lines), size):
    values = lines[i:i + size]
    horizon_ms = int(time.time() * 1000) + settings.max_future_s * 1000
    routed = route_batch(values, [0] * len(values), n, horizon_ms, settings.max_future_s,
                         settings.max_past_days)
    events += routed.forwarded
    mark = max(mark, routed.marks.get(0, 0))
    last = i + size >= len(lines)
    progress = Progress(1, {0: mark}, frozenset({0}) if last else frozenset())
    messages = {p: [] for p in range(n)}
    for target, _source, value in routed.chunks:
        batch = [EventRecord(*w) for w in orjson.loads(value)["events"]]
        messages[target].append((offsets[target], batch, 0, None))
        offsets[target] += 1
    for p in range(n):
        messages[p].append((offsets[p], [], -1, progress))
        offsets[p] += 1
    prepared = stage.prepare(CustomerBatch(messages, Origin("history", lines=None), now))
    chunks.append({p: prepared.alert_inputs.get(p, []) for p in range(n)})
with open(sys.argv[4], "wb") as f:
    pickle.dump((events, n, chunks), f)
"""

# argv: view, inputs file. Prints events, CPU s, changes, digest.
ONE_RUN = r"""
import gc, hashlib, pickle, sys, time
sys.path.insert(0, sys.argv[1])
from sqm.streams.app_config import load_alert_config
from sqm.streams.config import Settings
from sqm.streams.core.partitions import MemoryPartitions
from sqm.streams.core.stages.alerts import AlertStage
from sqm.streams.direct_workers import merge, step_split
with open(sys.argv[2], "rb") as f:
    events, n, chunks = pickle.load(f)
settings = Settings()
stage = AlertStage(load_alert_config(settings), MemoryPartitions(),
                   lateness_ms=settings.lateness_s * 1000)
gc.freeze()
changes, cpu = [], 0.0
for inputs in chunks:
    started = time.process_time()
    changes += merge(step_split(stage, inputs), n)
    cpu += time.process_time() - started
print(events, cpu, len(changes), hashlib.sha256(repr(changes).encode()).hexdigest())
"""


def run_in(tree: Path, script: str, *args: str) -> list[str]:
    return subprocess.run([sys.executable, "-c", script, str(checkout.view(tree)), *args],
                          capture_output=True, text=True, check=True).stdout.split()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("history", type=Path)
    parser.add_argument("--against", type=Path, action="append", default=[])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    trees = [ROOT, *args.against]
    per_event: dict[Path, list[float]] = {tree: [] for tree in trees}
    digests: dict[Path, set[str]] = {tree: set() for tree in trees}
    folder = Path(tempfile.mkdtemp(prefix="sqm-alert-inputs-"))
    try:
        inputs = folder / "inputs.pickle"
        run_in(ROOT, INPUTS, str(args.history), str(CHUNK), str(inputs))
        for _ in range(args.runs):
            for tree in trees:
                events, cpu, changes, digest = run_in(tree, ONE_RUN, str(inputs))
                n, seconds = int(events), float(cpu)
                per_event[tree].append(seconds / n * 1e6)
                digests[tree].add(digest)
                print(f"{tree}: {n:,} events, alert stage {seconds:.2f} s CPU, "
                      f"{seconds / n * 1e6:.1f} µs/event, {int(changes):,} changes, "
                      f"digest {digest[:16]}", flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    for tree, values in per_event.items():
        print(f"{tree}: best {min(values):.1f} µs/event, median "
              f"{statistics.median(values):.1f} ({len(values)} runs), "
              f"digest {' '.join(sorted(d[:16] for d in digests[tree]))}")
    if len({d for ds in digests.values() for d in ds}) > 1:
        print("the trees' outputs differ")


if __name__ == "__main__":
    main()
