"""CPU of the ClickHouse (chDB) inserts of `sqm replay` alone, per table.

    python benchmarks/replay_inserts.py HISTORY [--against TREE ...] [--runs 3]

The direct runner's writes without the stages that compute them: the history is replayed once
(`DirectReplay`, this tree's code, in a subprocess) with the writer's `write` wrapped to keep
every batch it is given, in order. Each run is then a fresh process of a tree that writes those
same batches with its own `ClickHouseWriter` into a fresh chDB store, one table at a time in
the batches' order, and times each table's writes: process CPU (`time.process_time`, which
counts chDB's threads too) and wall. CPU spent after the last insert (background merges) is
measured over a second of idling. With `--against TREE` (e.g. a `git worktree add --detach`),
the trees run alternately so that both see the same machine. Each run also prints a digest of
every table's `SELECT * ... FINAL ORDER BY ALL`: the trees must store the same rows.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import checkout

ROOT = Path(__file__).resolve().parents[1]

CAPTURE = r"""
import asyncio, os, pickle, sys, tempfile, time
from pathlib import Path

def main():
    sys.path.insert(0, sys.argv[1])  # the tree's view
    os.environ["TZ"] = "UTC"
    time.tzset()
    from sqm.streams.app_config import load_alert_config
    from sqm.streams.config import load_settings
    from sqm.streams.direct import DirectReplay
    from sqm.streams.store import open_store
    store = tempfile.mkdtemp(prefix="sqm-bench-capture-")
    settings = load_settings(None, clickhouse_url=f"chdb://{store}/s", alert_clock="event")
    client = open_store(settings)
    runner = DirectReplay(settings, client, load_alert_config(settings))
    batches, write = [], runner.writer.write
    def keep(batch):
        batches.append(pickle.dumps(dict(batch), protocol=5))  # as given, before any insert
        write(batch)
    runner.writer.write = keep
    asyncio.run(runner.run(Path(sys.argv[2])))
    client.close()
    with open(sys.argv[3], "wb") as f:
        pickle.dump(batches, f, protocol=5)

if __name__ == "__main__":
    main()
"""

ONE_RUN = r"""
import gc, hashlib, json, os, pickle, sys, tempfile, time
sys.path.insert(0, sys.argv[1])  # the tree's view
os.environ["TZ"] = "UTC"
time.tzset()
from sqm.sinks.writer import ClickHouseWriter
from sqm.streams.config import load_settings
from sqm.streams.store import open_store
with open(sys.argv[2], "rb") as f:
    batches = [pickle.loads(b) for b in pickle.load(f)]
store = tempfile.mkdtemp(prefix="sqm-bench-inserts-")
client = open_store(load_settings(None, clickhouse_url=f"chdb://{store}/s"))
writer = ClickHouseWriter(client)
gc.freeze()
cpu, wall, rows = {}, {}, {}
for batch in batches:
    for table, data in batch.items():
        n = len(next(iter(data.values()), ())) if isinstance(data, dict) else len(data)
        if not n:
            continue
        started, clock = time.process_time(), time.perf_counter()
        writer.write({table: data})
        cpu[table] = cpu.get(table, 0.0) + time.process_time() - started
        wall[table] = wall.get(table, 0.0) + time.perf_counter() - clock
        rows[table] = rows.get(table, 0) + n
started = time.process_time()
time.sleep(1.0)
after = time.process_time() - started
digest = {}
for table in rows:
    body = client.raw_query(f"SELECT * FROM sqm.{table} FINAL ORDER BY ALL", fmt="TabSeparated")
    digest[table] = hashlib.blake2b(body, digest_size=8).hexdigest()
client.close()
print(json.dumps({"cpu": cpu, "wall": wall, "rows": rows, "after": after, "digest": digest}))
"""


def capture(history: Path, out: Path) -> None:
    subprocess.run([sys.executable, "-c", CAPTURE, str(checkout.view(ROOT)), str(history),
                    str(out)], check=True, capture_output=True, env=checkout.env(ROOT, TZ="UTC"))


def one_run(tree: Path, batches: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", ONE_RUN, str(checkout.view(tree)), str(batches)],
        capture_output=True, text=True, check=True, env=checkout.env(tree, TZ="UTC")).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("history", type=Path)
    parser.add_argument("--against", type=Path, action="append", default=[])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batches", type=Path, help="reuse (or keep) the captured batches here")
    args = parser.parse_args()
    trees = [ROOT, *args.against]
    with tempfile.TemporaryDirectory(prefix="sqm-bench-batches-") as tmp:
        batches = args.batches or Path(tmp) / "batches.pkl"
        if not batches.exists():
            capture(args.history, batches)
        totals: dict[Path, list[float]] = defaultdict(list)
        per_table: dict[Path, dict[str, list[float]]] = {t: defaultdict(list) for t in trees}
        digests: dict[Path, dict[str, str]] = {}
        for _ in range(args.runs):
            for tree in trees:
                r = one_run(tree, batches)
                total = sum(r["cpu"].values())
                totals[tree].append(total)
                parts = []
                for table, n in r["rows"].items():
                    per_table[tree][table].append(r["cpu"][table] / n * 1e6)
                    parts.append(f"{table} {r['cpu'][table] / n * 1e6:.2f}")
                print(f"{tree}: inserts {total:.2f} s CPU ({sum(r['wall'].values()):.2f} s "
                      f"wall), then {r['after']:.2f} s CPU idle; µs/row: {', '.join(parts)}",
                      flush=True)
                if digests.setdefault(tree, r["digest"]) != r["digest"]:
                    print(f"{tree}: stored rows differ between runs", flush=True)
        for tree in trees:
            summary = ", ".join(f"{t} {statistics.median(v):.2f}"
                                for t, v in per_table[tree].items())
            print(f"{tree}: inserts best {min(totals[tree]):.2f} s CPU, median "
                  f"{statistics.median(totals[tree]):.2f} ({len(totals[tree])} runs); median "
                  f"µs/row: {summary}")
        first = digests[trees[0]]
        for tree in trees[1:]:
            same = "the same rows" if digests[tree] == first else f"DIFFERENT rows: {digests[tree]}"
            print(f"{tree} stores {same} as {trees[0]}")


if __name__ == "__main__":
    main()
