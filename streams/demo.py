"""`sqm demo`: simulated live traffic through the real pipeline, with live SLA numbers per channel.

Embedded by default: the broker and ClickHouse run on this machine, started by `sqm` itself.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from sqm.sinks.clickhouse import connect
from sqm.streams.config import Settings
from sqm.streams.engine.faust.app import Pipeline
from sqm.streams.engine.faust.runtime import run_pipeline
from sqm.streams.kafka_auth import client_auth
from sqm.streams.simulate import CHANNEL_MIX, SimConfig, contact_lifecycle
from sqm.streams.store import store_url

REFRESH_S = 1.5
WINDOW_MIN = 5

LIVE_SQL = """
SELECT channel,
       sum(offered) AS offered, sum(answered) AS answered,
       sum(sl_met) AS met, sum(sl_missed) AS missed,
       sum(abandoned) AS abandoned,
       sum(wait_s_sum) AS wait_sum, sum(created) AS created, sum(repeat_contacts) AS repeats
FROM sqm.sla_1m FINAL
WHERE window_start >= now() - INTERVAL {minutes:UInt32} MINUTE
GROUP BY channel
"""


async def feed(bootstrap: str, topic: str, rate: float, stop: asyncio.Event, *,
               auth: Mapping[str, Any] | None = None) -> None:
    """Start `rate` contacts a second, each emitting its events when their time comes."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, **(auth or {}))
    await producer.start()
    rnd = random.Random()
    cfg = SimConfig(seed=rnd.randrange(1 << 30))
    due: list[tuple[float, int, dict[str, Any]]] = []
    seq = itertools.count()
    numbers = itertools.count()
    started = time.time()
    made = 0
    try:
        while not stop.is_set():
            now = time.time()
            while made < (now - started) * rate:
                for at, event in contact_lifecycle(next(numbers), datetime.now(UTC), rnd, cfg):
                    heapq.heappush(due, (at.timestamp(), next(seq), event))
                made += 1
            while due and due[0][0] <= now:
                _, _, event = heapq.heappop(due)
                await producer.send(topic, orjson.dumps(event), key=event["contact_id"].encode())
            await asyncio.sleep(0.05)
    finally:
        await producer.stop()


def start_feed(pipeline: Pipeline, stop: asyncio.Event) -> asyncio.Future[None]:
    """The demo's traffic, produced to the pipeline's broker with its security settings."""
    settings = pipeline.settings
    return asyncio.ensure_future(feed(
        pipeline.extras["bootstrap"], settings.input_topic, pipeline.extras["rate"], stop,
        auth=client_auth(settings)))


FIRING_SQL = """
SELECT kind, count() FROM sqm.alerts FINAL WHERE state = 'firing' GROUP BY kind
"""


def _pct(num: float, den: float) -> str:
    return f"{100 * num / den:5.1f} %" if den else "    –  "


def render(rows: Sequence[Sequence[Any]], pipeline: Pipeline, started: float,
           firing: Sequence[Sequence[Any]] = ()) -> Group:
    table = Table(title=f"Service level, last {WINDOW_MIN} min (event time, UTC)",
                  title_justify="left")
    for name in ("channel", "offered", "answered", "service level", "avg wait",
                 "abandoned", "repeat rate"):
        table.add_column(name, justify="left" if name == "channel" else "right")
    by_channel = {r[0]: r for r in rows}
    for channel, _ in CHANNEL_MIX:
        r = by_channel.get(channel)
        if r is None:
            table.add_row(channel, "0", "0", "    –  ", "–", "0", "    –  ")
            continue
        _, offered, answered, met, missed, abandoned, wait_sum, created, repeats = r
        # The SLA policy's service level (docs/metrics.md): met / (met + missed).
        avg_wait = f"{float(wait_sum) / answered:.1f} s" if answered else "–"
        table.add_row(channel, str(offered), str(answered), _pct(met, met + missed), avg_wait,
                      str(abandoned), _pct(repeats, created))
    s = pipeline.stats
    alerts = ", ".join(f"{n} {kind.replace('_', '-')}" for kind, n in firing) or "none"
    status = Text(
        f"alerts firing: {alerts}\n"
        f"events {s.read:,} · stored {s.accepted:,} · dead-lettered {s.dead_lettered:,} · "
        f"running {time.monotonic() - started:.0f} s · Ctrl-C to stop", style="dim")
    return Group(table, status)


async def live_view(pipeline: Pipeline, console: Console, seconds: float | None) -> int:
    settings = pipeline.settings
    stop = asyncio.Event()
    feeder = start_feed(pipeline, stop)
    client = connect(store_url(settings))  # a second client: queries never wait on inserts
    started = time.monotonic()
    try:
        with Live(render([], pipeline, started), console=console, refresh_per_second=4) as live:
            while seconds is None or time.monotonic() - started < seconds:
                rows = await asyncio.to_thread(
                    lambda: client.query(LIVE_SQL, parameters={"minutes": WINDOW_MIN}).result_rows
                )
                firing = await asyncio.to_thread(lambda: client.query(FIRING_SQL).result_rows)
                live.update(render(rows, pipeline, started, firing))
                if feeder.done():
                    feeder.result()  # surfaces a producer failure
                await asyncio.sleep(REFRESH_S)
    finally:
        stop.set()
        await asyncio.gather(feeder, return_exceptions=True)
        client.close()
    return 0


def run_demo(settings: Settings, *, rate: float, seconds: float | None, console: Console) -> int:
    console.print("[bold]sqm demo[/]: starting the embedded broker and ClickHouse; "
                  "simulated traffic for 5 channels and 3 shops…")

    async def main(pipeline: Pipeline) -> int:
        pipeline.extras["rate"] = rate
        return await live_view(pipeline, console, seconds)

    # The embedded broker keeps no state between runs, so neither does the demo's store.
    code = run_pipeline(settings, main, reset_store=True, serve_metrics=True)
    store = settings.store_dir()
    where = f"chDB store {store}" if store else settings.clickhouse_url
    console.print(f"\nThe data is in the {where}. Query it with, for example:")
    flag = f" --store {store}" if store else ""
    console.print(
        f'  sqm sql{flag} "SELECT channel, sum(sl_met) / nullIf(sum(sl_met) + sum(sl_missed), 0) '
        'AS service_level FROM sqm.sla_1m FINAL GROUP BY channel"', highlight=False,
        soft_wrap=True)
    console.print("  (tables: sqm.events, sqm.contacts, sqm.sla_1m, sqm.dead_letters; "
                  "see docs/schema.md)", highlight=False)
    return code
