"""`sqm replay`: feed a JSONL file of events through the real streaming pipeline.

The file is produced to the input topic of the (embedded) broker, the same Faust agents process
it, and the run ends when every event is stored or dead-lettered and every row is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from sqm.streams.core import rows
from sqm.streams.kafka_auth import client_auth
from sqm.streams.replay_summary import (
    MAX_LINE_BYTES,
    ReplayError,
    ReplaySummary,
    numbered_lines,
    oversize_reason,
    read_lines,
)

if TYPE_CHECKING:
    from sqm.sinks.writer import ClickHouseWriter
    from sqm.streams.engine.faust.app import Pipeline

STALL_TIMEOUT_S = 120.0  # no progress at all for this long means something is broken


def message_key(line: bytes) -> bytes | None:
    """The contract's key is contact_id; an unparsable line still goes in (to be dead-lettered)."""
    try:
        data = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    cid = data.get("contact_id") if isinstance(data, dict) else None
    return cid.encode() if isinstance(cid, str) else None


Oversize = Callable[[int, bytes], Awaitable[None]]


async def produce_file(bootstrap: str, topic: str, path: Path, *,
                       auth: Mapping[str, Any] | None = None,
                       oversize: Oversize | None = None) -> tuple[int, dict[int, int]]:
    """Produce every line; the count and the end of input (next offset per partition). A line
    too long for the producer goes to `oversize` (line number, line) instead."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                                max_batch_size=256 * 1024, max_request_size=4 * 1024 * 1024,
                                **(auth or {}))
    await producer.start()
    n = 0
    end: dict[int, int] = {}

    def note(sent: list[Any]) -> None:
        for meta in sent:
            if meta.offset + 1 > end.get(meta.partition, 0):
                end[meta.partition] = meta.offset + 1

    try:
        pending = []
        for number, line in numbered_lines(path):
            if len(line) > MAX_LINE_BYTES:
                if oversize is not None:
                    await oversize(number, line)
                n += 1
                continue
            pending.append(await producer.send(topic, value=line, key=message_key(line)))
            n += 1
            if len(pending) >= 10_000:
                note(await asyncio.gather(*pending))
                pending.clear()
        note(await asyncio.gather(*pending))
    finally:
        await producer.stop()
    return n, end


async def replay(pipeline: Pipeline, path: Path, *, show_progress: bool = True) -> ReplaySummary:
    total = sum(1 for _ in read_lines(path))
    started = time.monotonic()
    stats = pipeline.stats
    settings = pipeline.settings
    bootstrap = pipeline.extras["bootstrap"]
    # The file is all there is: a partition is idle only once all of it was delivered (not
    # after a silence, which production overlapping consumption could fake).
    input_progress = pipeline.ingest.progress
    input_progress.idle_after_s = None
    writer: ClickHouseWriter = pipeline.extras["writer"]

    async def dead_letter(number: int, line: bytes) -> None:
        # Never in Kafka, so no topic offset: named by file and line, as the direct runner does.
        row = rows.dead_letter_row(
            dl_id=f"{path.name}:{number}", stage="ingest", reason=oversize_reason(len(line)),
            topic=path.name, partition=0, offset=number, raw=line, now=datetime.now(UTC))
        await writer.write_async({"dead_letters": [row]})
        stats.read += 1
        stats.dead_lettered += 1

    producing = asyncio.ensure_future(
        produce_file(bootstrap, settings.input_topic, path, auth=client_auth(settings),
                     oversize=dead_letter)
    )
    ended = False
    # On the event clock the alert stage evaluates the last minutes once every shard's input
    # has ended: wait for that too.
    closing = settings.alert_clock == "event"
    progress = Progress(
        TextColumn("[bold]replay[/]"), BarColumn(), MofNCompleteColumn(),
        TextColumn("events settled"), TimeElapsedColumn(), disable=not show_progress,
    )
    with progress if show_progress else contextlib.nullcontext():
        task = progress.add_task("replay", total=total)
        last, last_change = -1, time.monotonic()
        while (stats.settled < total or not producing.done() or not stats.alerts_caught_up
               or (closing and len(stats.alert_partitions_closed) < settings.partitions)):
            if producing.done() and producing.exception():
                raise ReplayError(f"could not produce the file: {producing.exception()}")
            if producing.done() and not ended:
                ended = True
                input_progress.end_of_input(producing.result()[1], settings.partitions)
            progress.update(task, completed=stats.settled)
            if stats.settled != last:
                last, last_change = stats.settled, time.monotonic()
            elif time.monotonic() - last_change > STALL_TIMEOUT_S:
                raise ReplayError(
                    f"no progress for {STALL_TIMEOUT_S:.0f} s at {stats.settled:,}/{total:,} events"
                )
            await asyncio.sleep(0.1)
        progress.update(task, completed=stats.settled)
    client = pipeline.extras["client"]
    contacts = await asyncio.to_thread(
        lambda: int(client.command("SELECT count() FROM sqm.contacts FINAL"))
    )
    return ReplaySummary(
        read=total,
        stored=stats.accepted + stats.duplicates,
        distinct=stats.accepted,
        duplicates=stats.duplicates,
        dead_lettered=stats.dead_lettered,
        contacts=contacts,
        seconds=time.monotonic() - started,
        dropped_corrections=stats.dropped_corrections,
    )
