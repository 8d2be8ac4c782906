"""Bytes the alert stage writes to its changelog per flush: the whole state as one record (sqm
before the parts layout) against only the parts that changed (`streams/core/alerting/partition.py`).

    python benchmarks/alert_changelog.py [--dims 80] [--rate 20] [--seconds 120] [--day-window]

Engine-free, no Kafka: one alert partition, live (wall-clock mode). Four customer shards each
send an alert-input message every 0.5 s (a batch) with their rows for the current minute of the
dimensions (tenant × channel × queue × priority) their new contacts fell in, and the waiting
intervals of contacts queued or answered; the timer evaluates every second. The stage flushes
its state after every batch and every tick, as `AlertStage` does. Before measuring, the rolling
windows are filled to their retention (the longest rule window + 1 h catch-up + 1 min: 121 min
with the default rules, 1501 with `--day-window`, which adds a 1-day repeat-rate rule), with a
row per dimension and shard per minute, and the first full write is not counted. Record sizes
are key + value; Kafka adds some 70 bytes per record on top (batch and record headers).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import checkout  # noqa: F401  (benchmarks/: this checkout's sqm comes first)

from sqm.streams.core.alerting import DEFAULT_CONFIG, AlertConfig, AlertMonitor, parse_config
from sqm.streams.core.alerting.defaults import DEFAULT_RULE_DATA
from sqm.streams.core.alerting.partition import (
    AlertStateStore,
    PartitionAlerts,
    legacy_key,
    parse_key,
)
from sqm.streams.core.partitions import KeyedBytesStore
from sqm.streams.core.rollup import ANSWERED, IN_SLA, MINUTE_MS, N_COUNTERS, OFFERED, WAIT_MS

SHARDS = 4
START = 1_772_413_200_000  # 2026-03-02T01:00:00Z, a whole minute


class Live:
    """Contacts arriving at `rate` a second over `dims` dimensions, answered after ~20 s."""

    def __init__(self, dims: int, rate: float, seed: int = 1) -> None:
        self.rng = random.Random(seed)
        self.dims = [("shop", ("chat", "email", "phone", "app")[i % 4], f"q{i // 4}", "normal")
                     for i in range(dims)]
        self.rate = rate
        self.totals: dict[tuple[Any, ...], list[int]] = {}  # (minute, dims, shard) → counts
        self.version = 0
        self.waiting: list[tuple[int, list[Any]]] = []  # (answer at, waiting row)
        self.n = 0

    def counts(self, key: tuple[Any, ...]) -> list[int]:
        c = self.totals.setdefault(key, [0] * N_COUNTERS)
        c[OFFERED] += 1
        c[ANSWERED] += 1
        c[IN_SLA] += self.rng.random() < 0.9
        c[WAIT_MS] += self.rng.randint(1000, 40_000)
        return c

    def batch(self, now: int, span_ms: int) -> list[bytes]:
        """The messages of one batch: each shard's contacts of the last `span_ms`."""
        minute = now - now % MINUTE_MS
        out = []
        for shard in range(SHARDS):
            touched: dict[tuple[Any, ...], list[int]] = {}
            waiting = []
            for _ in range(self._poisson(self.rate * span_ms / 1000 / SHARDS)):
                dims = self.rng.choice(self.dims)
                touched[dims] = self.counts((minute, dims, shard))
                self.n += 1
                row = [dims[0], f"c{self.n}", dims[1], dims[2], dims[3], now, 30, None, None]
                waiting.append(row)
                self.waiting.append((now + int(self.rng.expovariate(1 / 20_000)), row))
            answered = [w for w in self.waiting
                        if w[0] <= now and int(w[1][1][1:]) % SHARDS == shard]
            for at, row in answered:
                self.waiting.remove((at, row))
                waiting.append([*row[:7], at, "answered"])
            self.version += 1
            windows = [[minute, *dims, self.version, *c] for dims, c in touched.items()]
            out.append(orjson.dumps({"shard": shard, "wm": now, "windows": windows,
                                     "waiting": waiting}))
        return out

    def _poisson(self, mean: float) -> int:
        n, t = 0, self.rng.expovariate(1)
        while t < mean:
            n += 1
            t += self.rng.expovariate(1)
        return n


def config(day_window: bool) -> AlertConfig:
    if not day_window:
        return DEFAULT_CONFIG
    day = {"id": "repeat-rate-day", "metric": "repeat_rate", "scope": {"tenant": "*"},
           "window": "1d", "comparison": ">", "threshold": 0.3, "resolve_threshold": 0.25}
    return parse_config({"rules": [*DEFAULT_RULE_DATA, day]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, default=80, help="active dimensions per partition")
    parser.add_argument("--rate", type=float, default=20.0, help="new contacts a second")
    parser.add_argument("--seconds", type=int, default=120, help="live time measured")
    parser.add_argument("--day-window", action="store_true", help="add a 1-day window rule")
    args = parser.parse_args()

    cfg = config(args.day_window)
    part = PartitionAlerts(AlertMonitor(cfg))
    live = Live(args.dims, args.rate)
    retention = part.monitor.retention_ms
    now = START + retention
    # Fill the windows: every dimension and shard has a row in every minute kept.
    rng = random.Random(2)
    for minute in range(now - retention + MINUTE_MS, now, MINUTE_MS):
        for dims in live.dims:
            for shard in range(SHARDS):
                c = [0] * N_COUNTERS
                n = rng.randint(1, 6)
                c[OFFERED] = c[ANSWERED] = n
                c[IN_SLA], c[WAIT_MS] = n - (rng.random() < 0.1), n * rng.randint(1000, 40_000)
                part.monitor.apply_window((minute, *dims), shard, 1, c)
        part.monitor.evaluate(minute, windows_ms=minute)
    for m in live.batch(now - 30_000, 30_000):  # contacts already waiting
        part.apply(m)
    part.watermarks = dict.fromkeys(range(SHARDS), now - 1000)

    sent: list[int] = []
    kinds: Counter[str] = Counter()

    def send(p: int, key: bytes, value: bytes | None) -> None:
        sent.append(len(key) + len(value or b""))
        parsed = parse_key(key)
        kinds[parsed[1][0] if parsed else "old"] += sent[-1]

    data: dict[bytes, Any] = {}
    states = AlertStateStore(KeyedBytesStore(data, {}, send), cfg)
    states.flush(0, part)  # the first full write of the parts
    full = sum(sent)
    sent.clear()
    kinds.clear()

    old_bytes, old_s, new_s, flushes = [], 0.0, 0.0, 0
    new_counts: list[int] = []
    for step in range(args.seconds * 2):
        now += 500
        for m in live.batch(now, 500):
            part.apply(m)
        evaluations = [False] + ([True] if step % 2 else [])  # a batch, then a tick each second
        for tick in evaluations:
            if tick:
                part.monitor.evaluate(now - 2000, windows_ms=part.clock)
            t = time.perf_counter()
            old = len(legacy_key(0)) + len(part.encode())
            old_s += time.perf_counter() - t
            before = len(sent)
            t = time.perf_counter()
            states.flush(0, part)
            new_s += time.perf_counter() - t
            old_bytes.append(old)
            new_counts.append(len(sent) - before)
            flushes += 1

    m = part.monitor
    print(f"state: {len(m.rolling.minutes())} minutes, {len(m.rolling):,} window rows, "
          f"{len(m.waiting.entries)} waiting contacts; {args.dims} dimensions, {SHARDS} shards, "
          f"{args.rate:g} contacts/s")
    print(f"{flushes} flushes over {args.seconds} s (a batch every 0.5 s, a tick every 1 s)")
    per_min = 60 / args.seconds
    old_total, new_total = sum(old_bytes), sum(sent)
    print(f"whole state, one record:  {old_total / flushes:>12,.0f} bytes/flush  "
          f"{old_total * per_min / 1e6:>9,.2f} MB/min  1 record/flush  "
          f"{old_s / flushes * 1e3:.2f} ms/flush (encode)")
    print(f"changed parts only:       {new_total / flushes:>12,.0f} bytes/flush  "
          f"{new_total * per_min / 1e6:>9,.2f} MB/min  {sum(new_counts) / flushes:.1f} "
          f"records/flush  {new_s / flushes * 1e3:.2f} ms/flush (encode and write)")
    print("  by part: " + ", ".join(f"{k} {v / flushes:,.0f}" for k, v in kinds.most_common())
          + f" bytes/flush; the first full write of the parts: {full:,} bytes")
    print(f"ratio: {old_total / max(new_total, 1):,.0f}x fewer bytes; largest flush "
          f"{max(old_bytes):,} vs {max(sent_per_flush(sent, new_counts)):,} bytes")


def sent_per_flush(sent: list[int], counts: list[int]) -> list[int]:
    out, i = [], 0
    for n in counts:
        out.append(sum(sent[i:i + n]))
        i += n
    return out


if __name__ == "__main__":
    main()
