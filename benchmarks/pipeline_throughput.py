"""Throughput of the full pipeline against a raw consume baseline, on one embedded broker.

    python benchmarks/pipeline_throughput.py --events 200000
    python benchmarks/pipeline_throughput.py --events 200000 --runs 3 --against 8383d82
    python benchmarks/pipeline_throughput.py --history-days 30 [--contacts 150000]

1. N simulated events are produced to the input topic before anything consumes them.
2. Raw baseline: aiokafka reads all N from the beginning and JSON-decodes each one.
3. Full pipeline: one Faust worker (the same agents as `sqm worker`) processes the same N
   events into chDB; the figure is N / (time from its first consumed event to the moment every
   event is stored or dead-lettered and every row is written), and a second one up to the
   moment the alert stage, which runs behind, has evaluated all of it and written its rows.
Prints both rates, their ratio and the peak RSS of this process (worker + chDB) and the broker.

History mode (`--history-days D`, benchmarks/history_mode.py): the input is D days of event time
written by `sqm simulate --days` (daily and weekly profile, returning customers, contacts that
outlive the state TTL); it also prints the rate per simulated day, whether it stays flat once
the state is full (TTL days of contacts), and the state's size per contact at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer

sys.path.insert(0, str(Path(__file__).resolve().parent))
import checkout  # noqa: I001  (benchmarks/: this checkout's sqm comes first)

import history_mode  # benchmarks/, this script's directory

from sqm.streams.config import load_settings
from sqm.streams.engine.faust.app import Pipeline
from sqm.streams.engine.faust.replay import produce_file
from sqm.streams.engine.faust.runtime import run_pipeline
from sqm.streams.simulate import SimConfig, history

HISTORY_CONTACTS = 100_000


def write_events(path: Path, n_events: int) -> int:
    # About 7 events per contact; contacts start 50/s of event time.
    contacts = max(1, n_events // 7)
    written = 0
    with path.open("wb") as f:
        for event in history(contacts, datetime(2026, 3, 2, 1, 0, tzinfo=UTC), 50.0,
                             SimConfig(customers=20_000)):
            f.write(orjson.dumps(event) + b"\n")
            written += 1
    return written


async def raw_consume(bootstrap: str, topic: str, n: int) -> float:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=None,
                                max_partition_fetch_bytes=4 * 1024 * 1024)
    await consumer.start()
    try:
        seen = 0
        started = time.perf_counter()
        while seen < n:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for records in batches.values():
                for record in records:
                    orjson.loads(record.value)
                seen += sum(len(r) for r in batches.values())
        return n / (time.perf_counter() - started)
    finally:
        await consumer.stop()


def broker_peak_rss_mb(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def machine_speed() -> float:
    """Iterations/s of a fixed, allocation-heavy pure-Python loop (dicts, tuples, strings, like
    the pipeline's own work): these machines' speed drifts by ±20 % within minutes, so a rate
    means little without the speed it was measured at."""
    best = 0.0
    for _ in range(3):
        started = time.perf_counter()
        acc: dict[str, tuple[int, str]] = {}
        for i in range(200_000):
            key = f"k{i % 5000}"
            acc[key] = (i, key)
        best = max(best, 200_000 / (time.perf_counter() - started))
    return best


FIGURES = {
    "full pipeline": re.compile(r"full pipeline.*?: ([\d,]+) events/s"),
    "including the alert stage": re.compile(r"including the alert stage.*?: ([\d,]+) events/s"),
    "raw consume": re.compile(r"raw consume.*?: ([\d,]+) events/s"),
    "machine speed": re.compile(r"machine speed now: ([\d,]+)"),
    # CPU of the event loop's thread per event: the GIL-bound work, steadier than the rates,
    # which also move with how the processes happen to be scheduled.
    "event loop": re.compile(r"event loop thread ([\d.]+) µs"),
    # History mode: the state-full days' median rate over the filling days'.
    "full / filling": re.compile(r"full / filling ([\d.]+)"),
}
UNITS = {"machine speed": "iterations/s", "event loop": "µs of CPU per event",
         "full / filling": "(history mode)"}


def _fmt(name: str, value: float) -> str:
    if name == "full / filling":
        return f"{value:.2f}"
    return f"{value:.1f}" if name == "event loop" else f"{value:,.0f}"


def _without(argv: list[str], option: str) -> list[str]:
    """argv without `option VALUE` / `option=VALUE`."""
    if option in argv:
        i = argv.index(option)
        argv = argv[:i] + argv[i + 2:]
    return [a for a in argv if not a.startswith(option + "=")]


def _run_once(script: Path, argv: list[str]) -> dict[str, float] | str:
    """The figures of one run in a fresh process, or the failure's last line."""
    # Its tree's code in its helper processes too: they are forked from a fork server that
    # imports sqm before running the script, so it must find the tree through PYTHONPATH.
    out = subprocess.run([sys.executable, str(script), *argv], capture_output=True, text=True,
                         check=False, env=checkout.env(script.resolve().parents[1]))
    if out.returncode != 0:
        return (out.stderr.strip().splitlines() or [f"exit code {out.returncode}"])[-1]
    figures = {}
    for name, pattern in FIGURES.items():
        match = pattern.search(out.stdout)
        if match:
            figures[name] = float(match.group(1).replace(",", ""))
    return figures


def repeat(runs: int, argv: list[str], against: str | None = None) -> int:
    """Runs this script `runs` times in child processes and prints the spread of each figure.

    With `against` (a git revision), each run of this tree follows one of that revision's,
    from a temporary worktree: alternated, both sides see the same drift of the machine.
    """
    argv = _without(_without(argv, "--runs"), "--against")
    sides: dict[str, Path] = {"this tree": Path(__file__).resolve()}
    worktree: Path | None = None
    root = Path(__file__).resolve().parents[1]
    try:
        if against is not None:
            worktree = Path(tempfile.mkdtemp(prefix="sqm-bench-base-")) / "tree"
            subprocess.run(["git", "-C", str(root), "worktree", "add", "--detach", "--quiet",
                            str(worktree), against], check=True)
            sides = {against: worktree / "benchmarks" / "pipeline_throughput.py", **sides}
        seen: dict[str, dict[str, list[float]]] = {
            side: {name: [] for name in FIGURES} for side in sides}
        for run in range(1, runs + 1):
            for side, script in sides.items():
                result = _run_once(script, argv)
                if isinstance(result, str):
                    print(f"run {run} ({side}) failed: {result}")
                    return 1
                for name, value in result.items():
                    seen[side][name].append(value)
                label = f" ({side})" if against is not None else ""
                shown = ", ".join(f"{n} {_fmt(n, v)}" for n, v in result.items())
                print(f"run {run}{label}: {shown}")
        for side, figures in seen.items():
            label = f"{side}: " if against is not None else ""
            for name, values in figures.items():
                if values:
                    unit = UNITS.get(name, "events/s")
                    print(f"{label}{name}: min {_fmt(name, min(values))} median "
                          f"{_fmt(name, statistics.median(values))} max "
                          f"{_fmt(name, max(values))} {unit} over {len(values)} runs")
        return 0
    finally:
        if worktree is not None:
            subprocess.run(["git", "-C", str(root), "worktree", "remove", "--force",
                            str(worktree)], check=False)
            shutil.rmtree(worktree.parent, ignore_errors=True)  # the temporary directory


def main() -> int:
    if os.environ.get("BENCH_SWITCH"):
        sys.setswitchinterval(float(os.environ["BENCH_SWITCH"]))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument(
        "--alert-clock", choices=["event", "wall"], default="event",
        help="event (default): alerts on the events' own clock, as `sqm replay` runs history; "
             "wall: the live timer, which sees these March 2026 contacts as months overdue, so "
             "the alerts it raises depend on timing and differ from run to run")
    parser.add_argument(
        "--runs", type=int, default=1,
        help="repeat the whole benchmark this many times, each in a fresh process with its own "
             "broker and store, and print min / median / max (one run's rate varies by ±20 %%)")
    parser.add_argument(
        "--against", metavar="REV",
        help="alternate every run with one of this git revision (checked out in a temporary "
             "worktree) and print both sides' spreads: the way to compare two versions here")
    parser.add_argument(
        "--history-days", type=int, metavar="D",
        help="history mode: replay D days of event time written by `sqm simulate --days D` "
             "(--events is then ignored) and print the rate per simulated day and the state's "
             "size per contact; D > 10 to compare the state's filling days with its full ones")
    parser.add_argument(
        "--contacts", type=int, default=HISTORY_CONTACTS,
        help=f"history mode: contacts in all (default {HISTORY_CONTACTS:,}: ~6.4 events each, "
             "a run of 1–3 minutes on this project's machines)")
    args = parser.parse_args()
    if args.history_days is not None and (args.history_days < 1 or args.contacts < 1):
        parser.error("--history-days and --contacts must be at least 1")
    if args.runs > 1 or args.against:
        return repeat(args.runs, sys.argv[1:], args.against)

    work = Path(tempfile.mkdtemp(prefix="sqm-bench-"))
    path = work / "events.jsonl"
    history: history_mode.Input | None = None
    if args.history_days is not None:
        history = history_mode.write_history(path, args.contacts, args.history_days,
                                             args.partitions)
        n = sum(history.per_day())
    else:
        n = write_events(path, args.events)
    settings = load_settings(clickhouse_url=f"chdb://{work / 'store'}",
                             partitions=args.partitions, log_level="ERROR",
                             alert_clock=args.alert_clock,
                             broker_profile=os.environ.get("BENCH_PROFILE", "auto"))
    figures: dict[str, Any] = {}

    def prepare(_client: object, bootstrap: str) -> None:
        started = time.perf_counter()
        _, figures["end_of_input"] = asyncio.run(
            produce_file(bootstrap, settings.input_topic, path))
        figures["produce_eps"] = n / (time.perf_counter() - started)
        figures["raw_eps"] = asyncio.run(raw_consume(bootstrap, settings.input_topic, n))

    async def measure(pipeline: Pipeline) -> int:
        stats = pipeline.stats
        # As `sqm replay`: the input is all there, so the event clock closes at its end.
        pipeline.ingest.progress.idle_after_s = None
        pipeline.ingest.progress.end_of_input(figures["end_of_input"], settings.partitions)
        while stats.read == 0:
            await asyncio.sleep(0.001)
        started, cpu = time.perf_counter(), time.process_time()
        loop_cpu = time.thread_time()  # the event loop's thread: where the GIL-bound work is
        children = pipeline.ingest.router.pids
        child_cpu = cpu_seconds(children)
        sampler = history_mode.Sampler(pipeline) if history else None
        sampling = asyncio.ensure_future(sampler.run(started, n)) if sampler else None
        while stats.settled < n:
            await asyncio.sleep(0.01)
        wall = time.perf_counter() - started
        figures["pipeline_eps"] = n / wall
        # Below 100 % of one core the pipeline waits on something (the broker, a round trip).
        figures["worker_cpu"] = (time.process_time() - cpu) / wall
        figures["loop_us"] = (time.thread_time() - loop_cpu) / n * 1e6
        figures["ingest_children_cpu"] = (cpu_seconds(children) - child_cpu) / wall
        # The alert stage runs behind the customer stage; its rows (sqm.alerts) come last.
        closing = settings.alert_clock == "event"  # the last minutes once every shard closed
        while not stats.alerts_caught_up or (
                closing and len(stats.alert_partitions_closed) < settings.partitions):
            await asyncio.sleep(0.01)
        figures["alerts_eps"] = n / (time.perf_counter() - started)
        figures["alert_changes"] = stats.alert_changes
        # What varies with timing from run to run: how the events fell into batches and how
        # many records the stages produced.
        figures["batches"] = stats.batches
        figures["produced"] = dict(stats.produced)
        figures["broker_rss_mb"] = broker_peak_rss_mb(pipeline.extras.get("broker_pid"))
        if history is not None and sampler is not None and sampling is not None:
            await sampling
            figures["days"] = history_mode.day_rates(sampler.samples, history)
            figures["tenths"] = history_mode.tenth_rates(sampler.samples, n)
            figures["dropped"] = stats.dropped_corrections
            figures["late"] = stats.late
            figures["state"] = history_mode.state_size(pipeline)  # after the timed part
        return 0

    try:
        code = run_pipeline(settings, measure, before_start=prepare)
    finally:
        shutil.rmtree(work, ignore_errors=True)  # the input file and the chDB store
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    raw, full = figures.get("raw_eps"), figures.get("pipeline_eps")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, partitions {args.partitions}, alert clock "
          f"{args.alert_clock}")
    if args.history_days is not None:
        print(f"events: {n:,} ({args.contacts:,} contacts over {args.history_days} days of event "
              "time, `sqm simulate --days`)")
    else:
        print(f"events: {n:,}")
    print(f"produce (aiokafka, acks=all): {figures.get('produce_eps', 0):,.0f} events/s")
    print(f"raw consume + JSON decode (aiokafka): {raw or 0:,.0f} events/s")
    print(f"full pipeline, one worker, first event to last row: {full or 0:,.0f} events/s")
    if raw and full:
        print(f"ratio full / raw: {full / raw:.3f}")
    if "alerts_eps" in figures:
        print(f"including the alert stage (first event to last alert row, "
              f"{figures['alert_changes']:,.0f} alert changes): {figures['alerts_eps']:,.0f} "
              "events/s")
    if "batches" in figures:
        batches = figures["batches"] or 1
        produced = ", ".join(f"{t} {c:,}" for t, c in sorted(figures["produced"].items()))
        print(f"customer-stage batches: {figures['batches']:,} ({n / batches:,.0f} events each); "
              f"records produced in batches: {produced}")
    if "worker_cpu" in figures:
        print(f"worker CPU during the run (all threads): {figures['worker_cpu']:.0%} of one core; "
              f"event loop thread {figures['loop_us']:.1f} µs of CPU per event; ingest "
              f"validation process {figures['ingest_children_cpu']:.0%} of one core")
    print(f"machine speed now: {machine_speed():,.0f} (a fixed pure-Python loop, iterations/s; "
          "compare runs made at different times by it)")
    broker_mb = figures.get("broker_rss_mb") or 0
    print(f"peak RSS: worker + chDB {rss_mb:,.0f} MB, broker {broker_mb:,.0f} MB")
    if "days" in figures:
        # Over days of event time the state's TTL matters: a contribution to a one-minute window
        # already evicted is dropped (its total in sqm.sla_1m stays short), a late event
        # dead-lettered. Both 0 when the replay is exact.
        print(f"late events: {figures['late']:,}; window contributions dropped as older than the "
              f"state TTL: {figures['dropped']:,}")
        rates, moves = figures["days"]
        history_mode.report(rates, figures["tenths"], figures.get("state"),
                            settings.state_ttl_days, moves)
    return code


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far (Linux /proc; 0 for a gone one)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    sys.exit(main())
