"""Faults `sqm replay` must survive, and the figures that show it (docs/replay.md):

1. ClickHouse unreachable for `--outage-s` (60) seconds mid-replay, on the direct runner (the
   whole file) and on `--engine faust` (its first `--faust-events` lines): refused connections
   injected at the client boundary (sinks/faults.py). Printed: seconds absorbed, calls refused,
   peak RSS, and every table compared with an uninterrupted run's.
2. `--kills` (5) SIGKILLs at random moments of a direct-runner replay of the file, each
   followed by `sqm replay --resume` (itself killed until the last one): every table compared
   with an uninterrupted run's; the line the store had recorded at each kill; peak RSS.
3. A 5 MiB line among the file's first 2,000 lines, on both engines: dead-lettered, the rest
   stored.

Peak RSS is the sqm process's own (VmHWM), sampled every 50 ms: not the embedded broker's or
the ingest children's.

Usage: python benchmarks/faults.py [--events 200000] [--outage-s 60] [--kills 5] [--seed 1]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import checkout  # noqa: E402

from sqm.sinks.clickhouse import connect  # noqa: E402
from sqm.sinks.faults import peak_rss_mb  # noqa: E402
from tests.store_tables import differences, store_tables  # noqa: E402

ENV = checkout.env(ROOT, TZ="UTC", SQM_LOG_LEVEL="WARNING", SQM_LOG_FORMAT="text")


def _watch(proc: subprocess.Popen[Any], until: float | None = None) -> float:
    """Sample the process's peak RSS (VmHWM, MB) until it exits or `until` (monotonic)."""
    peak = 0.0
    while proc.poll() is None and (until is None or time.monotonic() < until):
        with contextlib.suppress(OSError, ValueError):
            peak = max(peak, peak_rss_mb(proc.pid))
        time.sleep(0.05)
    return peak


def run(args: list[str], faults: tuple[int, float, str] | None = None) -> tuple[int, str, float]:
    """(exit code, stderr, peak RSS MB of the sqm process) of `sqm ARGS`, optionally with an
    injected outage."""
    prefix = ["-m", "sqm.streams.cli"] if faults is None else ["-m", "sqm.sinks.faults",
                                                            *map(str, faults)]
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([sys.executable, *prefix, *args], cwd=ROOT, env=ENV,
                                stdout=subprocess.DEVNULL, stderr=err, text=True)
        peak = _watch(proc)
        err.seek(0)
        return proc.wait(), err.read(), peak


def killed_at(args: list[str], after_s: float) -> tuple[int, float]:
    """Run `sqm ARGS`, SIGKILL it `after_s` seconds in (unless done first): (exit code, RSS)."""
    proc = subprocess.Popen([sys.executable, "-m", "sqm.streams.cli", *args], cwd=ROOT, env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    peak = _watch(proc, time.monotonic() + after_s)
    if proc.poll() is not None:
        return proc.returncode, peak
    proc.send_signal(signal.SIGKILL)
    code = proc.wait()
    with contextlib.suppress(ProcessLookupError):  # ingest children
        os.killpg(proc.pid, signal.SIGKILL)
    return code, peak


def compared(store: Path, clean: Path, engine: str = "direct") -> str:
    got, expected = store_tables(store, engine=engine), store_tables(clean, engine=engine)
    diff = differences(got, expected)
    rows = ", ".join(f"{t} {len(r):,}" for t, r in expected.items())
    return f"rows compared: {rows}: " + ("all equal" if not diff else f"DIFFERENT: {diff}")


def recorded(store: Path) -> int | None:
    """The line the store's replay has recorded as written; None before it recorded any."""
    if not store.exists():
        return None
    client = connect(f"chdb://{store}")
    try:
        if not client.command("EXISTS TABLE sqm.replay_runs"):
            return None  # killed before the migrations were done
        rows = client.query("SELECT lines_done FROM sqm.replay_runs FINAL").result_rows
        return int(rows[0][0]) if rows else None
    finally:
        client.close()


def outage(events: Path, work: Path, engine: str, seconds: float, after: int) -> None:
    clean, out = work / f"clean-{engine}", work / f"outage-{engine}"
    started = time.monotonic()
    code, err, clean_rss = run(["replay", str(events), "--store", str(clean), "--no-progress",
                                "--engine", engine])
    assert code == 0, err[-2000:]
    clean_s = time.monotonic() - started
    started = time.monotonic()
    code, err, rss = run(["replay", str(events), "--store", str(out), "--no-progress",
                          "--engine", engine], faults=(after, seconds, "refused"))
    took = time.monotonic() - started
    if code != 0:
        print(f"outage, {engine}: FAILED (exit {code}): {err.strip().splitlines()[-1]}")
        return
    report: dict[str, Any] = orjson.loads(re.findall(r"^FAULTS (.*)$", err, re.M)[-1])
    back = re.search(r"ClickHouse back after ([\d.]+) s \((\d+) retries\)", err)
    print(f"outage, {engine}: {report['outage_s']:.1f} s of refusals absorbed "
          f"({report['refused']} calls refused; writer: back after "
          f"{back.group(1) if back else '?'} s, {back.group(2) if back else '?'} retries), no "
          f"crash; replay {took:.1f} s against {clean_s:.1f} s uninterrupted; peak RSS "
          f"{rss:.0f} MB against {clean_rss:.0f} MB; {compared(out, clean, engine)}")


def kills(events: Path, work: Path, n: int, rng: random.Random) -> None:
    clean, store = work / "clean-direct", work / "killed"
    if not clean.exists():
        code, err, _ = run(["replay", str(events), "--store", str(clean), "--no-progress"])
        assert code == 0, err[-2000:]
    started = time.monotonic()
    code, err, _ = run(["replay", str(events), "--store", str(work / "timing"), "--no-progress"])
    assert code == 0, err[-2000:]
    full_s = time.monotonic() - started
    args = ["replay", str(events), "--store", str(store), "--no-progress"]
    total = sum(1 for _ in events.open("rb"))
    survived, points, peak, finished = 0, [], 0.0, False
    started = time.monotonic()
    while survived < n:
        done = recorded(store)
        resume = ["--resume"] if done is not None else []
        # A resumed run first reads again what is done (without writing it): the kill falls
        # after that, at a random point of the rest.
        after = ((done or 0) / total + rng.uniform(0.1, 0.3)) * full_s
        code, rss = killed_at([*args, *resume], after)
        peak = max(peak, rss)
        if code != -signal.SIGKILL:
            print(f"kills: run ended (exit {code}) before the kill at {after:.1f} s")
            finished = code == 0
            break
        survived += 1
        line = recorded(store)
        points.append(f"{after:.1f} s (" + ("nothing recorded yet" if line is None
                                            else f"line {line:,} recorded") + ")")
    if not finished:
        code, err, rss = run([*args, "--resume"])
        assert code == 0, err[-2000:]
        peak = max(peak, rss)
    print(f"kills: {survived} SIGKILLs survived at {', '.join(points)}; all runs "
          f"{time.monotonic() - started:.1f} s against {full_s:.1f} s uninterrupted; peak RSS "
          f"{peak:.0f} MB; {compared(store, clean)}")


def oversize(events: Path, work: Path) -> None:
    lines = events.read_bytes().splitlines()[:2000]
    big = orjson.loads(lines[0]) | {"event_id": "oversize", "note": "x" * (5 << 20)}
    path = work / "oversize.jsonl"
    path.write_bytes(b"\n".join([*lines[:1000], orjson.dumps(big), *lines[1000:]]) + b"\n")
    for engine in ("direct", "faust"):
        store = work / f"oversize-{engine}"
        code, err, rss = run(["replay", str(path), "--store", str(store), "--no-progress",
                              "--engine", engine])
        if code != 0:
            print(f"oversize, {engine}: FAILED (exit {code}): {err.strip().splitlines()[-1]}")
            continue
        client = connect(f"chdb://{store}")
        try:
            dead = client.query("SELECT reason, length(raw) FROM sqm.dead_letters FINAL "
                                "WHERE reason LIKE 'line of %'").result_rows
            stored = client.command("SELECT count() FROM sqm.events FINAL")
        finally:
            client.close()
        print(f"oversize, {engine}: {len(lines) + 1:,} lines, {stored:,} events stored, "
              f"dead-lettered: {dead[0][0]!r} ({dead[0][1]:,} bytes kept); peak RSS {rss:.0f} MB"
              if dead else f"oversize, {engine}: NOT dead-lettered")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--faust-events", type=int, default=20_000)
    parser.add_argument("--outage-s", type=float, default=60)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", choices=["outage", "kills", "oversize"])
    a = parser.parse_args()
    rng = random.Random(a.seed)
    with tempfile.TemporaryDirectory(prefix="sqm-faults-") as tmp:
        work = Path(tmp)
        sim = work / "sim.jsonl"
        code, err, _ = run(["simulate", str(sim), "--contacts", str(a.events // 6 + 1),
                            "--days", "7", "--messy"])
        assert code == 0, err
        events = work / "events.jsonl"
        lines = sim.read_bytes().splitlines()[:a.events]
        events.write_bytes(b"\n".join(lines) + b"\n")
        faust = work / "faust.jsonl"
        faust.write_bytes(b"\n".join(lines[:a.faust_events]) + b"\n")
        print(f"{len(lines):,} events ({a.faust_events:,} on the Faust engine), 7 days, messy; "
              f"{os.cpu_count()} cores; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
        if a.only in (None, "outage"):
            outage(events, work, "direct", a.outage_s, after=10)
            outage(faust, work, "faust", a.outage_s, after=2)
        if a.only in (None, "kills"):
            kills(events, work, a.kills, rng)
        if a.only in (None, "oversize"):
            oversize(events, work)


if __name__ == "__main__":
    main()
