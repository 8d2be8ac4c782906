"""What one event dated 1970-01-01 costs a replay: wall time and peak RSS, with and without it.

    python benchmarks/hostile_times.py

A user's file of four good 2026 events and one dated `1970-01-01T00:00:00Z` (a "no date"
placeholder) made `sqm replay` spin at 97 % CPU and 13 GB in the alert stage for minutes: the
event clock's grid started at the 1970 window and went minute by minute to 2026
(docs/alerting.md, "Long calls jump"). This replays that shape through the real pipeline,
`sqm replay` in a subprocess with `--store` a temporary directory, three ways:
- the four good events only (a chat created, queued, answered by an agent, resolved), and
  as a control the five events with the placeholder dated a minute before them;
- with the placeholder first, a `contact.created` of the same contact dated 1970-01-01, and
  `SQM_MAX_PAST_DAYS=0`, so it is accepted and its 1970 window reaches the alert stage;
- the same file with the default limit, which dead-letters the placeholder at ingest.

`SQM_BATCH_MAX=1` in every case: the placeholder is then its shard's first message, applied
before the contact's 2026 events move the watermark (in one message with them its 1970 window
is past the state TTL and dropped, and the alert stage never sees it; in the user's replay
the first fetch happened to bring it alone). The earliest window in `sqm.sla_1m` shows
whether it got through.

Each replay runs from a fresh child of this script, which reports its own
`resource.getrusage(RUSAGE_CHILDREN)`: the peak RSS of the largest process under it (the
worker; the broker and the ingest child are smaller). Figures are printed, not judged.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import checkout  # noqa: E402, F401  (benchmarks/: this checkout's sqm comes first)

PLACEHOLDER = "1970-01-01T00:00:00Z"
CONTACT = {"tenant_id": "shop-1", "contact_id": "c1", "customer_id": "u1", "channel": "chat"}
GOOD = [
    {"event_id": "c1-1", "type": "contact.created", "occurred_at": "2026-03-02T01:00:00Z",
     "queue": "orders"},
    {"event_id": "c1-2", "type": "contact.queued", "occurred_at": "2026-03-02T01:00:02Z",
     "queue": "orders"},
    {"event_id": "c1-3", "type": "message.sent", "occurred_at": "2026-03-02T01:00:20Z",
     "sender": "agent", "agent_id": "ag1"},
    {"event_id": "c1-4", "type": "contact.resolved", "occurred_at": "2026-03-02T01:04:00Z",
     "resolved_by": "human"},
]
HOSTILE = {"event_id": "c1-0", "type": "contact.created", "occurred_at": PLACEHOLDER,
           "queue": "orders"}
CONTROL = {**HOSTILE, "occurred_at": "2026-03-02T00:59:00Z"}  # the same event, a sane date


def write(path: Path, events: list[dict[str, object]]) -> None:
    path.write_bytes(b"".join(orjson.dumps({**CONTACT, **e}) + b"\n" for e in events))


def measure(events: Path, store: Path, env: dict[str, str]) -> dict[str, object]:
    """Run one `sqm replay` (in this process's child) and report its time and peak RSS."""
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", "sqm.streams.cli", "replay", str(events), "--store", str(store),
         "--no-progress"], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    # The summary line (after the terminal codes rich writes), else the last error line.
    found = [line[line.index("replayed "):] for line in run.stdout.splitlines()
             if "replayed " in line]
    summary = found[0] if found else (run.stderr.strip().splitlines() or ["?"])[-1]
    earliest = "-"
    if run.returncode == 0:
        from sqm.sinks.clickhouse import connect

        client = connect(f"chdb://{store}")
        try:
            earliest = str(client.command(
                "SELECT formatDateTime(min(window_start), '%Y-%m-%d %H:%i') "
                "FROM sqm.sla_1m FINAL"))
        finally:
            client.close()
    return {"code": run.returncode, "wall_s": wall, "peak_rss_mb": usage.ru_maxrss / 1024,
            "summary": summary, "earliest": earliest}


def one(args: argparse.Namespace) -> None:
    """Child mode: one replay, its figures as JSON on stdout."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TZ": "UTC",
           "SQM_LOG_LEVEL": "WARNING", "SQM_BATCH_MAX": "1",
           **dict(kv.split("=", 1) for kv in args.env)}
    print(json.dumps(measure(Path(args.events), Path(args.store), env)))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--events", help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    parser.add_argument("--env", action="append", default=[], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one(args)
        return
    with tempfile.TemporaryDirectory(prefix="sqm-hostile-") as tmp:
        work = Path(tmp)
        good, control = work / "good.jsonl", work / "control.jsonl"
        hostile = work / "hostile.jsonl"
        write(good, GOOD)
        write(control, [CONTROL, *GOOD])
        write(hostile, [HOSTILE, *GOOD])
        cases = [("4 good events", good, []),
                 ("+ one dated 2026-03-02T00:59:00Z", control, []),
                 (f"+ {PLACEHOLDER}, SQM_MAX_PAST_DAYS=0", hostile, ["SQM_MAX_PAST_DAYS=0"]),
                 (f"+ {PLACEHOLDER}, default limit", hostile, [])]
        print("sqm replay in a subprocess, one at a time, SQM_BATCH_MAX=1")
        print(f"{'case':<42} {'wall s':>7} {'peak RSS MB':>12}  {'earliest window':<17} "
              "summary")
        for i, (name, events, env) in enumerate(cases):
            cmd = [sys.executable, __file__, "--one", "--events", str(events),
                   "--store", str(work / f"store-{i}"), *[f"--env={kv}" for kv in env]]
            child = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
            r = json.loads(child.stdout)
            note = "" if r["code"] == 0 else f" (exit {r['code']})"
            print(f"{name:<42} {r['wall_s']:>7.1f} {r['peak_rss_mb']:>12.0f}  "
                  f"{r['earliest']:<17} {r['summary']}{note}")


if __name__ == "__main__":
    main()
