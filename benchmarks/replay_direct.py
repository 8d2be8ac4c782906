"""`sqm replay` (direct runner) on a 30-day history beside a ClickHouse-only SQL computation.

    python benchmarks/replay_direct.py [--contacts 23500] [--days 30] [--history FILE]
        [--runs 1] [--against REV] [--faust] [--profile OUT] [--stores DIR]

In one run, each as a user runs it (a subprocess, wall time from its start to its exit, a fresh
store each time):
- `sqm replay HISTORY --store DIR` on a `sqm simulate --days 30` history (generated once into
  /tmp/sqm-bench/, ~150k events for the default 23,500 contacts);
- `sqm replay` of a 4-event file (start-up dominates);
- optionally `sqm replay --engine faust` of the history (`--faust`: slow, minutes);
- the SQL baseline: a fresh Python process loads the same JSON lines into chDB (in memory) and
  computes per-contact facts and one-minute windows with SQL only.

`--against REV` also replays the history with the version REV (checked out in a temporary
worktree), alternating with this tree's runs, so that both see the same machine.

CPU seconds (user + system of the process and all its descendants, those it did not wait for
included: this process is their subreaper) are printed beside the wall times: on a machine
shared with other work they vary less. `--profile OUT` runs the history replay under cProfile
(the parent process only; the helper processes are not in it).

What the SQL does NOT compute (so it is a floor for the work, not the same work): event-id
deduplication only (no version/correction semantics, no late-event dead letters), no policy
(the service-level target is a fixed 60 s for every channel; no business hours, no per-tenant
targets, no short-abandon threshold), no repeat flags (7-day look-back per customer), no CSAT,
no state eviction or archive, no alerts, no dead letters, no `events` table copy of each
event. It computes: per contact created / queued / first human answer / abandoned / resolved
times, channel, queue, priority, wait; per (minute, tenant, channel, queue, priority):
offered, answered, answered within 60 s, wait sum, abandoned, created.
"""

from __future__ import annotations

import argparse
import atexit
import ctypes
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import checkout

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = Path("/tmp/sqm-bench")
PR_SET_CHILD_SUBREAPER = 36
FOUR = b"""\
{"event_id":"b-c1-1","type":"contact.created","occurred_at":"2026-03-02T09:00:00+08:00","tenant_id":"A","contact_id":"c1","customer_id":"u1","channel":"chat","queue":"q1"}
{"event_id":"b-c1-2","type":"contact.queued","occurred_at":"2026-03-02T01:00:05Z","tenant_id":"A","contact_id":"c1","customer_id":"u1","channel":"chat","queue":"q1"}
{"event_id":"b-c1-3","type":"message.sent","occurred_at":"2026-03-02T01:00:40Z","tenant_id":"A","contact_id":"c1","customer_id":"u1","channel":"chat","sender":"agent","agent_id":"ag1"}
{"event_id":"b-c1-4","type":"contact.resolved","occurred_at":"2026-03-02T01:05:00Z","tenant_id":"A","contact_id":"c1","customer_id":"u1","channel":"chat","resolved_by":"agent"}
"""

# The SQL baseline, run in a fresh process: load, then contact facts, then the windows.
SQL_SCRIPT = r"""
import sys, time
t0 = time.monotonic()
from chdb import session
s = session.Session()
t1 = time.monotonic()
path = sys.argv[1]
s.query("CREATE DATABASE b")
s.query('''CREATE TABLE b.events ENGINE = MergeTree ORDER BY (tenant_id, contact_id) AS
SELECT event_id, type, parseDateTime64BestEffort(occurred_at, 3, 'UTC') AS ts, tenant_id,
       contact_id, customer_id, channel, ifNull(queue, '') AS queue,
       ifNull(priority, '') AS priority, ifNull(sender, '') AS sender,
       ifNull(agent_kind, '') AS agent_kind
FROM file('%s', 'JSONEachRow',
  'event_id String, type String, occurred_at String, tenant_id String, contact_id String,
   customer_id String, channel String, queue Nullable(String), priority Nullable(String),
   sender Nullable(String), agent_kind Nullable(String)')
LIMIT 1 BY event_id''' % path)
t2 = time.monotonic()
s.query('''CREATE TABLE b.contacts ENGINE = MergeTree ORDER BY (tenant_id, contact_id) AS
SELECT tenant_id, contact_id, any(channel) AS channel,
       argMinIf(queue, ts, queue != '') AS queue, anyIf(priority, priority != '') AS priority,
       minIf(ts, type = 'contact.created') AS created_at,
       minIf(ts, type = 'contact.queued') AS queued_at,
       minIf(ts, type = 'message.sent' AND sender = 'agent') AS answered_at,
       minIf(ts, type = 'contact.abandoned') AS abandoned_at,
       maxIf(ts, type = 'contact.resolved') AS resolved_at,
       countIf(type = 'contact.queued') > 0 AS has_queued,
       has_queued AND answered_at > toDateTime64(0, 3) AS answered,
       has_queued AND NOT answered AND abandoned_at > toDateTime64(0, 3) AS abandoned,
       if(answered, toInt64(dateDiff('millisecond', queued_at, answered_at)), 0) AS wait_ms
FROM b.events GROUP BY tenant_id, contact_id''')
t3 = time.monotonic()
s.query('''CREATE TABLE b.sla_1m ENGINE = MergeTree ORDER BY (minute, tenant_id) AS
SELECT toStartOfMinute(at) AS minute, tenant_id, channel, queue, priority,
       sum(k = 0) AS offered, sum(k = 1) AS answered, sum(k = 1 AND wait_ms <= 60000) AS in_sla,
       sumIf(wait_ms, k = 1) AS wait_ms_sum, sum(k = 2) AS abandoned, sum(k = 3) AS created
FROM (SELECT tenant_id, channel, queue, priority, wait_ms,
             arrayJoin(arrayFilter(x -> x.2 > toDateTime64(0, 3),
               [(0, if(has_queued, queued_at, toDateTime64(0, 3))),
                (1, if(answered, answered_at, toDateTime64(0, 3))),
                (2, if(abandoned, abandoned_at, toDateTime64(0, 3))),
                (3, created_at)])) AS kv, kv.1 AS k, kv.2 AS at
      FROM b.contacts)
GROUP BY minute, tenant_id, channel, queue, priority''')
t4 = time.monotonic()
n = s.query("SELECT (SELECT count() FROM b.events), (SELECT count() FROM b.contacts), "
            "(SELECT count() FROM b.sla_1m)", "CSV").bytes().decode().strip()
print(f"import+session {t1 - t0:.2f} s, load {t2 - t1:.2f} s, contacts {t3 - t2:.2f} s, "
      f"windows {t4 - t3:.2f} s; events,contacts,windows = {n}")
"""


@dataclass
class Timed:
    label: str
    events: int
    wall: float
    cpu: float
    note: str

    def rate(self) -> float:
        return self.events / self.wall if self.wall else 0.0


def adopt_orphans() -> None:
    """Become the subreaper of the processes started here (Linux): a process a replay started
    but did not wait for (the fork server its helper processes are forked from, which reaps
    them) is then reaped by this one, and its CPU time, with its children's, counted."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        print("warning: not a subreaper: helpers' CPU may be left out", file=sys.stderr)


def reap_orphans() -> None:
    """Wait for every process left from the last run (they exit once the replay has)."""
    while True:
        try:
            os.wait()
        except ChildProcessError:
            return


def run(label: str, cmd: list[str], events: int, root: Path = ROOT) -> Timed:
    """Wall time of one subprocess, and the CPU time of it and all its descendants."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    env = checkout.env(root, TZ="UTC")
    started = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=root, check=False)
    wall = time.monotonic() - started
    reap_orphans()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode:
        sys.exit(f"{label} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    lines = [x for x in done.stdout.strip().splitlines() if x.strip()]
    return Timed(label, events, wall, cpu, lines[0] if lines else "")


def history(contacts: int, days: int) -> Path:
    """The simulated history (generated once, reused by later runs)."""
    BENCH_DIR.mkdir(exist_ok=True)
    path = BENCH_DIR / f"history-{days}d-{contacts}.jsonl"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        run("simulate", [sys.executable, "-m", "sqm.streams.cli", "simulate", str(tmp), "--days",
                         str(days), "--contacts", str(contacts)], 0)
        tmp.rename(path)
    return path


STORES_IN: list[Path | None] = [None]  # --stores


QUIET_AFTER_DELETE_S = 40.0
DELETED_MARK = ".sqm-bench-stores-deleted"  # in the stores' parent: when the last were removed


@cache
def stores() -> Path:
    """Where the runs' stores go (in `--stores`, or the system's temporary folder), removed
    at exit, not after each run. ext4 without a journal (as here) allocates a new file's inode
    past those freed in the last ~30 s one by one (`recently_deleted`): deleting a run's ~1,200
    files just before the next run made that run's inserts ~50% dearer in CPU (0.47 against
    0.75 s for the history's `events` inserts; the whole replay's system time 1.2-1.4 s against
    0.8), and so does a folder where other work has just deleted many files (/tmp after a test
    suite: ~0.3 s of a replay's wall time). No user's first replay pays that: on a shared
    machine, point `--stores` at a quiet folder. An invocation started within
    QUIET_AFTER_DELETE_S of the last one's removal waits for the rest first."""
    parent = STORES_IN[0] or Path(tempfile.gettempdir())
    mark = parent / DELETED_MARK
    try:
        wait = float(mark.read_text()) + QUIET_AFTER_DELETE_S - time.time()
    except (OSError, ValueError):
        wait = 0.0
    if wait > 0:
        print(f"waiting {wait:.0f} s: the last run's stores were removed just now "
              "(see `stores` in this file)", file=sys.stderr)
        time.sleep(wait)
    where = Path(tempfile.mkdtemp(prefix="sqm-bench-stores-", dir=parent))

    def remove() -> None:
        shutil.rmtree(where, True)
        mark.write_text(str(time.time()))

    atexit.register(remove)
    return where


def replay(label: str, path: Path, events: int, *extra: str, profile: str | None = None,
           root: Path = ROOT) -> Timed:
    store = Path(tempfile.mkdtemp(dir=stores()))
    py = [sys.executable, *(["-m", "cProfile", "-o", profile] if profile else [])]
    return run(label, [*py, "-m", "sqm.streams.cli", "replay", str(path), "--store",
                       str(store / "s"), "--no-progress", *extra], events, root)


def worktree_of(rev: str) -> Path:
    """REV in a temporary worktree (removed at the end)."""
    where = Path(tempfile.mkdtemp(prefix="sqm-bench-rev-")) / "tree"
    subprocess.run(["git", "worktree", "add", "--detach", str(where), rev], cwd=ROOT,
                   check=True, capture_output=True)
    return where


def machine_speed() -> float:
    """Millions of loop iterations a second: how fast this machine is right now."""
    started = time.perf_counter()
    x = 0
    for i in range(2_000_000):
        x += i
    return 2.0 / (time.perf_counter() - started)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--contacts", type=int, default=23_500)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--history", type=Path, help="an existing JSON Lines file instead")
    ap.add_argument("--runs", type=int, default=1, help="history replays (the best is shown)")
    ap.add_argument("--against", metavar="REV", help="also replay with this git revision")
    ap.add_argument("--faust", action="store_true", help="also `--engine faust` (minutes)")
    ap.add_argument("--profile", help="cProfile output of the (first) history replay")
    ap.add_argument("--stores", type=Path,
                    help="the folder for the runs' stores (default: the temporary folder)")
    args = ap.parse_args()
    STORES_IN[0] = args.stores
    adopt_orphans()
    path = args.history or history(args.contacts, args.days)
    with path.open("rb") as f:
        events = sum(1 for line in f if line.strip())
    four = BENCH_DIR / "four.jsonl"
    BENCH_DIR.mkdir(exist_ok=True)
    four.write_bytes(FOUR)
    print(f"history: {path} ({events:,} events); machine speed {machine_speed():.2f} M/s")

    results: list[Timed] = []
    other = worktree_of(args.against) if args.against else None
    runs: list[Timed] = []
    theirs: list[Timed] = []
    try:
        for i in range(args.runs):
            if other is not None:
                theirs.append(replay(f"  {args.against}", path, events, root=other))
            runs.append(replay("sqm replay (direct)", path, events,
                               profile=args.profile if i == 0 else None))
    finally:
        if other is not None:
            subprocess.run(["git", "worktree", "remove", "--force", str(other)], cwd=ROOT,
                           check=False, capture_output=True)
    results.append(min(runs, key=lambda t: t.wall))
    if theirs:
        results.append(min(theirs, key=lambda t: t.wall))
    results.append(replay("sqm replay, 4 events", four, 4))
    if args.faust:
        results.append(replay("sqm replay --engine faust", path, events, "--engine", "faust"))
    sql = run("SQL on chDB", [sys.executable, "-c", SQL_SCRIPT, str(path)], events)
    results.append(sql)

    print(f"\n{'':28} {'events':>9} {'wall s':>8} {'events/s':>9} {'CPU s':>7} "
          f"{'CPU µs/event':>13}")
    for t in results:
        print(f"{t.label:28} {t.events:>9,} {t.wall:>8.2f} {t.rate():>9,.0f} {t.cpu:>7.2f} "
              f"{t.cpu / t.events * 1e6:>13.1f}")
    for t in (runs + theirs) if len(runs) > 1 else []:
        print(f"  history run{t.label if t in theirs else ''}: {t.wall:.2f} s wall, "
              f"{t.cpu:.2f} s CPU")
    direct = results[0]
    print(f"\nSQL / direct: {sql.rate() / direct.rate():.1f}x the events/s (wall), "
          f"{direct.cpu / sql.cpu:.1f}x less CPU")
    print(f"direct: {direct.note}")
    print(f"SQL: {sql.note}")
    print(f"machine speed after: {machine_speed():.2f} M/s")


if __name__ == "__main__":
    main()
