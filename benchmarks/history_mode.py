"""The history mode of `pipeline_throughput.py` (`--history-days D`): a history of D days of
event time (`sqm simulate --days`) replayed through the pipeline, with its rate per simulated day
as the state fills up to its TTL and then stays full, and the state's size per contact.

Rate per day. The input partitions are not read at one pace: the ingest consumer can be days of
event time further in one than in another (printed per day: the range of the input partitions'
positions). So a day's events are not settled one day after another, and the settled count alone
cannot tell days apart. What is observable is each input partition's position in event time:
its watermark in the shards' state (the newest event time read from it; every partition is in
event-time order). Every 50 ms the positions are sampled; they move once per customer batch,
when the batch is applied. The time from one move to the next is the batch's (its wait, its
application, and the inserts and sends overlapping with the next one), and it is shared among
days in proportion to the events of each day the batch took (known from the input file: which
partition each event went to, the producer's partitioner, and its hour). A day's rate is its
events over its share of the time: the rate of the batches that took it, as fine as the batches
(printed: days of history per batch).

State per contact, at the end of the run (every event settled): the customer entries of the
customer stage's table (one per customer: its contacts' facts and repeat flags) over the contacts
they hold, measured two ways:
- changelog bytes: key + encoded value, what the changelog topic holds (after compaction) and a
  restarted worker restores;
- memory: sys.getsizeof over the entries' object graph (keys and live values; each object once,
  so strings shared between contacts count once), without the table dict's own slots.
"""

from __future__ import annotations

import asyncio
import gc
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from types import FunctionType, ModuleType
from typing import Any, cast

import checkout
import orjson
from aiokafka.partitioner import DefaultPartitioner

from sqm.streams.core.state import SEP, CustomerState, ShardMeta, meta_key
from sqm.streams.engine.faust.app import Pipeline

START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday, midnight UTC
DAY = timedelta(days=1)
SAMPLE_S = 0.05
PAGE = os.sysconf("SC_PAGE_SIZE")


class Input:
    """Events per input partition and hour of event time since START."""

    def __init__(self, hourly: list[list[int]]) -> None:
        self.hourly = hourly  # [partition][hour]
        # [partition][h]: events of the partition in hours 0..h-1
        self.cumulative = [list(accumulate(h, initial=0)) for h in hourly]

    @property
    def days(self) -> int:
        return len(self.hourly[0]) // 24

    def per_day(self) -> list[int]:
        return [sum(sum(h[24 * d:24 * d + 24]) for h in self.hourly) for d in range(self.days)]

    def before(self, partition: int, hours: float) -> float:
        """Events of `partition` earlier than `hours` after START (linear within an hour)."""
        h, c = self.hourly[partition], self.cumulative[partition]
        hours = min(max(hours, 0.0), float(len(h)))
        whole = int(hours)
        return c[whole] + (hours - whole) * (h[whole] if whole < len(h) else 0)


def write_history(path: Path, contacts: int, days: int, partitions: int) -> Input:
    """Writes the history with `sqm simulate --days` and counts its events per input partition
    (as the producer's partitioner places them: by contact) and hour.

    In a child process: the simulator holds the whole history in memory to sort it, which
    would otherwise count in this process's peak RSS (the worker's)."""
    root = Path(__file__).resolve().parents[1]
    subprocess.run(
        [sys.executable, "-m", "sqm.streams.cli", "simulate", str(path), "--days", str(days),
         "--contacts", str(contacts), "--start", START.isoformat()],
        check=True, stdout=subprocess.DEVNULL, env=checkout.env(root),
    )
    hourly = [[0] * (24 * days) for _ in range(partitions)]
    placed: dict[str, int] = {}
    every = list(range(partitions))
    with path.open("rb") as f:
        for line in f:
            event = orjson.loads(line)
            cid = event["contact_id"]
            p = placed.get(cid)
            if p is None:  # the key is the contact id (streams.engine.faust.replay.message_key)
                p = placed[cid] = DefaultPartitioner()(cid.encode(), every, every)
            at = datetime.fromisoformat(event["occurred_at"])
            hourly[p][int((at - START).total_seconds() // 3600)] += 1
    return Input(hourly)


@dataclass(frozen=True, slots=True)
class Sample:
    t: float  # seconds since the first event was read
    settled: int
    positions: tuple[float, ...]  # per input partition: hours after START it has reached
    state_keys: int  # entries of the customer stage's table: customers, windows, metas
    rss_mb: float


class Sampler:
    """Samples the pipeline's progress from inside its event loop."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.stats = pipeline.stats
        self.data: dict[bytes, Any] = cast(Any, pipeline.customers.table).data.data
        self.partitions = pipeline.settings.partitions
        self.metas = [meta_key(p).encode() for p in range(self.partitions)]
        self.samples: list[Sample] = []

    def positions(self) -> tuple[float, ...]:
        """Per input partition, the newest event time any shard has read from it."""
        newest = [0] * self.partitions
        for key in self.metas:
            meta = self.data.get(key)
            if meta is None:
                continue
            meta = ShardMeta.decode(meta) if isinstance(meta, bytes) else meta
            for p, mark in meta.watermarks.items():
                newest[p] = max(newest[p], mark)
        start_ms = START.timestamp() * 1000
        return tuple((m - start_ms) / 3_600_000 if m else 0.0 for m in newest)

    async def run(self, started: float, until: int) -> None:
        with open("/proc/self/statm") as statm:
            while True:
                statm.seek(0)
                rss = int(statm.read().split()[1]) * PAGE / 2**20
                self.samples.append(Sample(time.perf_counter() - started, self.stats.settled,
                                           self.positions(), len(self.data), rss))
                if self.stats.settled >= until:
                    return
                await asyncio.sleep(SAMPLE_S)


@dataclass(frozen=True, slots=True)
class DayRate:
    day: int
    events: int
    seconds: float
    # When the input partitions had read (on average) all of the day: their positions, in days
    # after START, slowest and fastest; and the state then.
    slowest: float
    fastest: float
    state_keys: int
    rss_mb: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def day_rates(samples: list[Sample], inp: Input) -> tuple[list[DayRate], int]:
    """Each day's events over its share of the time (module docstring); and the number of
    moves of the positions (batches) seen."""
    days, parts = inp.days, len(inp.hourly)
    seconds = [0.0] * days
    moves = [s for i, s in enumerate(samples) if i == 0 or s.positions != samples[i - 1].positions]
    prev = Sample(0.0, 0, (0.0,) * parts, 0, 0.0)
    share = [0.0] * days
    for s in moves:
        step = _events_between(inp, prev.positions, s.positions)
        if (total := sum(step)) > 0:
            share = step
            for d in range(days):
                seconds[d] += (s.t - prev.t) * share[d] / total
            prev = s
    # After the last move: the last batch's inserts, sends and changelog.
    total = sum(share)
    if total > 0 and samples:
        for d in range(days):
            seconds[d] += (samples[-1].t - prev.t) * share[d] / total
    per_day = inp.per_day()
    out: list[DayRate] = []
    done = 0
    for d in range(days):
        done += per_day[d]
        s = next((m for m in moves if _reached(inp, m.positions) >= done), samples[-1])
        out.append(DayRate(d, per_day[d], seconds[d], min(s.positions) / 24,
                           max(s.positions) / 24, s.state_keys, s.rss_mb))
    return out, len(moves)


@dataclass(frozen=True, slots=True)
class TenthRate:
    """A tenth of the input, in the order it settled: its rate and the state when done."""

    tenth: int
    events: float
    seconds: float
    slowest: float
    fastest: float
    state_keys: int
    rss_mb: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def tenth_rates(samples: list[Sample], n: int) -> list[TenthRate]:
    """The rate over each tenth of the settled count, linear between its steps (batches):
    the rate against the state's size, whatever event days the tenth held."""
    steps = [samples[0]]
    for s in samples[1:]:
        if s.settled > steps[-1].settled:
            steps.append(s)
    out: list[TenthRate] = []
    since = 0.0
    for k in range(1, 11):
        goal = n * k / 10
        i = next((j for j, s in enumerate(steps) if s.settled >= goal), len(steps) - 1)
        s, at = steps[i], steps[i].t
        if i > 0 and s.settled > goal:
            p = steps[i - 1]
            at = p.t + (s.t - p.t) * (goal - p.settled) / (s.settled - p.settled)
        out.append(TenthRate(k, n / 10, at - since, min(s.positions) / 24,
                             max(s.positions) / 24, s.state_keys, s.rss_mb))
        since = at
    return out


def _events_between(inp: Input, old: tuple[float, ...], new: tuple[float, ...]) -> list[float]:
    """Events of each day read between two positions of every input partition."""
    out = [0.0] * inp.days
    for p, (a, b) in enumerate(zip(old, new, strict=True)):
        for d in range(max(int(a // 24), 0), min(int(b // 24) + 1, inp.days)):
            lo, hi = max(a, 24.0 * d), min(b, 24.0 * d + 24)
            if hi > lo:
                out[d] += inp.before(p, hi) - inp.before(p, lo)
    return out


def _reached(inp: Input, positions: tuple[float, ...]) -> float:
    return sum(inp.before(p, x) for p, x in enumerate(positions))


@dataclass(frozen=True, slots=True)
class StateSize:
    customers: int
    contacts: int
    windows: int
    changelog_bytes: int  # customer entries: key + encoded value
    memory_bytes: int  # customer entries: object graph


def state_size(pipeline: Pipeline) -> StateSize:
    data: dict[bytes, Any] = cast(Any, pipeline.customers.table).data.data
    customer_keys = [k for k in data if k.startswith(b"c" + SEP.encode())]
    windows = sum(1 for k in data if k.startswith(b"w" + SEP.encode()))
    values = [data[k] for k in customer_keys]
    memory = deep_size([*customer_keys, *values])  # before encoding: it may fill caches
    contacts = encoded = 0
    for key, value in zip(customer_keys, values, strict=True):
        st = CustomerState.decode(value) if isinstance(value, bytes) else value
        contacts += len(st.contacts)
        encoded += len(key) + (len(value) if isinstance(value, bytes) else len(st.encode()))
    return StateSize(len(customer_keys), contacts, windows, encoded, memory)


def deep_size(roots: Iterable[object]) -> int:
    """Bytes of the objects reachable from `roots`, each counted once (classes, modules and
    functions excluded: they are not the data)."""
    seen: set[int] = set()
    stack = list(roots)
    total = 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, type | ModuleType | FunctionType):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        stack.extend(gc.get_referents(obj))
    return total


def report(rates: list[DayRate], tenths: list[TenthRate], size: StateSize | None,
           ttl_days: float, moves: int) -> None:
    per_batch = len(rates) / max(moves, 1)
    coarse = " (coarse: batches span days; give it more --contacts)" if per_batch > 1 else ""
    print(f"per simulated day (time shared among days by the events each customer batch took; "
          f"{per_batch:.2f} days of history per batch on average{coarse}):")
    print("  day  date        events    seconds  events/s   input partitions at   state keys"
          "   RSS MB")
    for r in rates:
        date = START + r.day * DAY
        print(f"  {r.day:>3}  {date:%a %m-%d} {r.events:>8,} {r.seconds:>9.2f} {r.rate:>9,.0f}"
              f"   {r.slowest:>6.2f} – {r.fastest:>5.2f} d {r.state_keys:>12,} {r.rss_mb:>8,.0f}")
    # Day 0 includes the start (the first batches wait on the broker), the last day the tail.
    full_from = int(ttl_days) + 1  # from then on as many contacts leave the state as enter it
    filling = [r.rate for r in rates[1:full_from]]
    full = [r.rate for r in rates[full_from:-1]]
    if filling and full:
        a, b = statistics.median(filling), statistics.median(full)
        verdict = "flat" if abs(b / a - 1) <= 0.1 else ("faster" if b > a else "slower")
        print(f"state filling (days 1–{full_from - 1}): median {a:,.0f} events/s; state full "
              f"(days {full_from}–{len(rates) - 2}, TTL {ttl_days:g} d): median {b:,.0f} "
              f"events/s; full / filling {b / a:.2f} ({verdict}, ±10 %)")
    else:
        print(f"too few days to compare the filling state with the full one (needs at least "
              f"{full_from + 2})")
    print("per tenth of the input, in the order it settled (the rate against the state's size):")
    print("  tenth   seconds  events/s   input partitions at   state keys   RSS MB")
    for t in tenths:
        print(f"  {t.tenth:>5} {t.seconds:>9.2f} {t.rate:>9,.0f}   {t.slowest:>6.2f} – "
              f"{t.fastest:>5.2f} d {t.state_keys:>12,} {t.rss_mb:>8,.0f}")
    # The first tenth includes the start, the last the tail.
    early = statistics.median(t.rate for t in tenths[1:5])
    late = statistics.median(t.rate for t in tenths[5:9])
    print(f"tenths 2–5: median {early:,.0f} events/s, tenths 6–9: median {late:,.0f} events/s; "
          f"later / earlier {late / early:.2f}")
    if size is not None and size.contacts:
        print(f"state at the end: {size.customers:,} customers holding {size.contacts:,} contacts "
              f"({size.windows:,} one-minute windows); per contact in state: "
              f"{size.changelog_bytes / size.contacts:,.0f} bytes in the changelog, "
              f"{size.memory_bytes / size.contacts:,.0f} bytes in memory (customer entries: "
              f"{size.changelog_bytes / 2**20:,.1f} MB encoded, {size.memory_bytes / 2**20:,.1f} "
              "MB of objects)")
