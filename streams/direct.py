"""`sqm replay`'s direct runner: the pipeline's stages in this process, straight from the file.

A replay of history needs none of what the broker gives a live worker (partitions shared by
workers, offsets, changelogs to survive a crash), and paid for all of it: broker start and group
joins (~12 s for a 4-event file) and every event crossing Kafka twice. Here the same
engine-free stages run in order on the file's lines:
- ingest: `route_batch` validates and routes a chunk of lines to the shards (in a child process
  for large files, so the next chunk is validated while this one is processed), and the
  worker's `IngestStage` names the rejected lines' dead letters;
- customers and alerts: the worker's own stages (`streams/core/stages/`: a `Shard` per
  partition of `SQM_PARTITIONS`, then a `PartitionAlerts` per partition on the event clock),
  on in-memory state without a changelog (`MemoryPartitions`), with the same ClickHouse
  archive for evicted long-lived contacts, settled by `settle` through an outbox that only
  writes rows (`_RowsOutbox`). For large files the alert stage runs in worker processes
  (`streams/direct_workers.py`, `SQM_REPLAY_ALERT_PROCESSES`): a chunk's alerts are computed
  while the next chunk goes through the customer stage, and written after the chunk's other
  rows. The live worker's garbage-collector policy (`streams/gc_policy.py`) keeps the
  long-lived state out of the collector's scans.
The file is one ordered input (one source partition, offsets = line numbers): the event clock
is the latest event time read, and closes at the end of the file. Each chunk's rows are
written (in a thread) while the next chunk is processed, one write at a time, in order.
Results equal the streaming path's (`tests/integration/test_engines.py`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clickhouse_connect.driver.client import Client

from sqm.sinks.annotation_outbox import offer_annotations
from sqm.sinks.archive import ClickHouseArchive
from sqm.sinks.writer import ClickHouseWriter, RetryPolicy
from sqm.streams.config import Settings
from sqm.streams.core import rows
from sqm.streams.core.alerting import AlertConfig
from sqm.streams.core.ingest_batch import RoutedBatch
from sqm.streams.core.partitions import MemoryPartitions
from sqm.streams.core.ports import ChangelogRecord, OutRecord, Rows
from sqm.streams.core.records import EventRecord
from sqm.streams.core.shard import GENERATION_EPOCH_S, Message, ReadBack
from sqm.streams.core.stages.customers import CustomerBatch, CustomerStage, Origin
from sqm.streams.core.stages.ingest import IngestBatch, IngestStage
from sqm.streams.core.stages.settle import Prepared, settle
from sqm.streams.core.state import Progress
from sqm.streams.direct_workers import AlertPartitions, Pending
from sqm.streams.gc_policy import GcPolicy
from sqm.streams.ingest_pool import IngestRouter
from sqm.streams.replay_evicted import EvictedArchive
from sqm.streams.replay_progress import ReplayRun, file_key, save_run
from sqm.streams.replay_summary import (
    MAX_LINE_BYTES,
    ReplaySummary,
    numbered_lines,
    oversize_reason,
    read_lines,
)
from sqm.streams.stats import PipelineStats

log = logging.getLogger(__name__)

CHUNK_LINES = 20_000  # the chunks' size once the pipeline runs
# The first chunk is this small, and the next ones double up to CHUNK_LINES: the stages after
# ingest wait for the first chunk only, and the child processes start meanwhile. Towards the
# end each chunk takes half of what is left (down to this size again): once the last one is
# applied, only its write and the one before are left, on one core.
FIRST_CHUNK_LINES = 5_000
CHILD_FROM_LINES = 50_000  # below this, a child process costs more to start than it saves
ALERT_PROCESSES = 2  # the alert stage's worker processes for large files, by default
Progressed = Callable[[int], None]


@dataclass
class _Chunk:
    lines: list[int]  # 1-based line number of each value
    values: list[bytes]
    oversize: list[tuple[int, bytes]] = field(default_factory=list)  # (line number, line)


@dataclass
class _Batch:
    customers: CustomerBatch
    dead: list[dict[str, Any]]  # the ingest stage's dead letters
    lines: int  # the chunk's lines
    last_line: int  # the chunk's last line number


@dataclass
class _Prepared:
    work: Prepared
    alerts: Pending = field(default_factory=list)  # the chunk's alert changes, maybe running
    settled: int = 0
    last_line: int = 0  # the chunk's last line number


class DirectReplay:
    def __init__(self, settings: Settings, client: Client, alert_config: AlertConfig,
                 stats: PipelineStats | None = None, resume: ReplayRun | None = None) -> None:
        self.settings = settings
        self.stats = stats or PipelineStats()
        self.writer = ClickHouseWriter(
            client, retry=RetryPolicy(outage_s=settings.clickhouse_outage_s), stats=self.stats)
        config = settings.shard_config()
        archive = ClickHouseArchive(client, self.writer.retrying)
        n = settings.partitions
        # The stages the worker runs, on in-memory state without a changelog.
        self.ingest = IngestStage(n)  # no topics: its output is handed over in process
        self.customers = CustomerStage(config, n, MemoryPartitions(), archive)
        self.alert_config = alert_config
        self.alerts: AlertPartitions | None = None  # started by `run`
        self._offsets = [0] * n  # per shard: the offset of its next message (window stamps)
        self._mark = 0  # latest event time read (the one input partition's progress)
        self.now = datetime.now(UTC)
        # Progress in the store (streams/replay_progress.py). A resumed run keeps the clock of
        # the run it continues; its fresh state takes a new generation (the wall clock, in the
        # high bits of row versions), so what it writes replaces whatever the interrupted run
        # wrote past its last record.
        if resume is not None:
            self.now = resume.started_at
        self.generation = int(time.time()) - GENERATION_EPOCH_S
        self.resume = resume
        self._run: ReplayRun | None = None
        # Re-reading the done part, evicted state comes back from what this run evicted, not
        # from the store, which already holds later rows (streams/replay_evicted.py).
        self._archive = archive
        self._evicted: EvictedArchive | None = None
        if resume is not None:
            self._evicted = EvictedArchive(archive)
            self.customers.archive = self.customers.evictions = self._evicted

    async def run(self, path: Path, progressed: Progressed | None = None,
                  lines: int | None = None) -> None:
        """Replay `path`; `lines`, its non-empty lines if known, lets the last chunks shrink."""
        resume = self.resume
        self._run = ReplayRun(file_key(path), path.name, resume.lines_done if resume else 0,
                              False, self.generation, self.now)
        if resume is None:
            await asyncio.to_thread(save_run, self.writer, self._run)
        chunks = _chunks(path, lines)
        ingest_processes, processes = helper_counts(self.settings, path)
        router = IngestRouter(ingest_processes)
        router.start()
        gc_policy = GcPolicy(self.settings.gc_freeze_s, self.settings.gc_full_interval_s)
        self.alerts = AlertPartitions(self.settings.partitions, self.alert_config,
                                      self.settings.lateness_s * 1000, processes, gc_policy)
        if processes:
            log.info("alert partitions in %d worker processes", processes)
        gc_policy.install()  # the state is long-lived: keep it out of the collector's scans
        try:
            # Chunk K's read-back from the store runs once write K-2 is done and before write
            # K-1 starts: chDB runs one query at a time, and a read queued behind an insert
            # kept this loop waiting. It needs no more: what the shards evict in chunk K-1 was
            # last written with chunk K-2 at the latest (core/archive.py).
            writing: asyncio.Future[None] | None = None
            unwritten: _Prepared | None = None
            # The child validates a chunk ahead of the one applied here, and from the start:
            # it takes the second chunk while this process validates the first.
            current, following = next(chunks, None), next(chunks, None)
            ahead = self._route(router, following)
            routing = self._route(IngestRouter(0), current)
            while current is not None:
                routed = await IngestRouter.result(routing)
                batch = self._batch(path, current, routed, last=following is None)
                current, routing = following, ahead
                following = next(chunks, None)
                ahead = self._route(router, following)
                if writing is not None:
                    await writing
                read_back = self.customers.read_back(batch.customers)
                if unwritten is not None:
                    writing = asyncio.ensure_future(self._write(unwritten, progressed))
                    await asyncio.sleep(0)  # the write's thread starts before the work below
                unwritten = self._apply(batch, read_back)
                gc_policy.tick()
            if writing is not None:
                await writing
            if unwritten is not None:
                await self._write(unwritten, progressed)
        finally:
            self._end_re_read()
            router.close()
            self.alerts.close()
            gc_policy.uninstall()
        self._run = replace(self._run, finished=True)
        await asyncio.to_thread(save_run, self.writer, self._run)

    def _route(self, router: IngestRouter, chunk: _Chunk | None) -> Any:
        if chunk is None:
            return None
        horizon_ms = int(time.time() * 1000) + self.settings.max_future_s * 1000
        return router.submit(chunk.values, [0] * len(chunk.values), self.settings.partitions,
                             horizon_ms, self.settings.max_future_s, self.settings.max_past_days,
                             encode=False)

    def _batch(self, path: Path, chunk: _Chunk, routed: RoutedBatch, *, last: bool) -> _Batch:
        """Ingest's output as the customer stage's batch, and the chunk's dead letters."""
        n = self.settings.partitions
        name = path.name
        ingest = self.ingest.prepare(IngestBatch(
            routed, chunk.values, name, [0] * len(chunk.values), chunk.lines, self.now,
            numbered=True))
        dead: list[dict[str, Any]] = list(ingest.rows.get("dead_letters", ())) + [
            rows.dead_letter_row(
                dl_id=f"{name}:{number}", stage="ingest", reason=oversize_reason(len(line)),
                topic=name, partition=0, offset=number, raw=line, now=self.now)
            for number, line in chunk.oversize
        ]
        self._mark = max(self._mark, routed.marks.get(0, 0))
        progress = Progress(1, {0: self._mark}, frozenset({0}) if last else frozenset())
        messages: dict[int, list[Message]] = {p: [] for p in range(n)}
        lines: dict[tuple[int, int], list[int]] = {}  # (shard, message offset) -> line numbers
        record = EventRecord  # EventRecord.from_wire_list without its call per event
        for (target, _source, wires), at in zip(routed.wires, routed.positions, strict=True):
            events = [record(*w) for w in wires]
            offset = self._next_offset(target)
            messages[target].append((offset, events, 0, None))
            lines[(target, offset)] = [chunk.lines[i] for i in at]
        for target in range(n):
            messages[target].append((self._next_offset(target), [], -1, progress))
        last_line = max(chunk.lines[-1:] + [n for n, _ in chunk.oversize[-1:]])
        return _Batch(CustomerBatch(messages, Origin(name, lines=lines), self.now), dead,
                      len(chunk.values) + len(chunk.oversize), last_line)

    def _apply(self, batch: _Batch, read_back: dict[int, ReadBack]) -> _Prepared:
        """The customer and alert stages on one chunk: the rows to write."""
        n = self.settings.partitions
        customers = self.customers.prepare(batch.customers, read_back)
        customers.count(self.stats)
        assert self.alerts is not None  # runs while this process goes on (workers)
        alerts = self.alerts.submit([customers.alert_inputs.get(p, []) for p in range(n)])
        self.stats.read += batch.lines
        self.stats.dead_lettered += len(batch.dead)
        out = dict(customers.rows)
        out["dead_letters"] = batch.dead + out["dead_letters"]
        if self.resume is not None and batch.last_line > self.resume.lines_done:
            self._end_re_read()  # the first chunk past the record is applied
        return _Prepared(Prepared(out), alerts, batch.lines, batch.last_line)

    def _end_re_read(self) -> None:
        """From the chunk after the first one past the record on, evicted state comes back
        from the store again: what it holds for it was written by then (docs/replay.md)."""
        if self._evicted is None:
            return
        log.info("resumed replay: %d contacts and %d windows evicted while re-reading",
                 self._evicted.kept_contacts, self._evicted.kept_windows)
        self.customers.archive = self._archive
        self.customers.evictions = None
        self._evicted.close()
        self._evicted = None

    def _next_offset(self, target: int) -> int:
        offset = self._offsets[target]
        self._offsets[target] = offset + 1
        return offset

    async def _write(self, prepared: _Prepared, progressed: Progressed | None) -> None:
        def acknowledge() -> None:
            if progressed is not None:
                progressed(prepared.settled)

        run = self._run
        assert run is not None and self.alerts is not None
        if prepared.last_line <= run.lines_done:  # written before the run was interrupted
            await self.alerts.result(prepared.alerts)  # the alert state moves on all the same
            acknowledge()
            self.stats.batches += 1
            return
        await settle(_RowsOutbox(self.writer, lambda: None), prepared.work)
        changes = await self.alerts.result(prepared.alerts)
        await settle(_RowsOutbox(self.writer, acknowledge), Prepared(self.alerts.rows(changes)))
        self._run = run = replace(run, lines_done=prepared.last_line)
        await asyncio.to_thread(save_run, self.writer, run)
        self.stats.alert_changes += len(changes)
        if changes:
            offer_annotations(changes)
        self.stats.batches += 1


def helper_counts(settings: Settings, path: Path) -> tuple[int, int]:
    """The helper processes a replay of `path` uses: (ingest, alert stage)."""
    large = path.stat().st_size > 200 * CHILD_FROM_LINES
    alerts = settings.replay_alert_processes
    if alerts is None:
        alerts = ALERT_PROCESSES if large else 0
    return (settings.ingest_processes if large else 0), alerts


class _RowsOutbox:
    """The direct runner's outbox: rows only (nothing to produce, no changelog: a replay that
    fails is run again from the file); acknowledging a chunk advances the progress bar."""

    def __init__(self, writer: ClickHouseWriter, acknowledged: Callable[[], None]) -> None:
        self.writer = writer
        self.acknowledged = acknowledged

    async def write_rows(self, rows: Rows) -> None:
        await self.writer.write_async(rows)

    async def produce(self, records: Sequence[OutRecord]) -> None:
        assert not records, "the direct runner has no topics"

    async def write_changelog(self, records: Sequence[ChangelogRecord]) -> None:
        assert not records, "the direct runner keeps no changelog"

    async def acknowledge(self) -> None:
        self.acknowledged()


def _chunks(path: Path, lines: int | None = None) -> Iterator[_Chunk]:
    """The file's non-empty lines in chunks, with their line numbers (too long ones apart).
    With `lines` (how many there are), the last chunks shrink: see FIRST_CHUNK_LINES."""
    values: list[bytes] = []
    numbers: list[int] = []
    oversize: list[tuple[int, bytes]] = []
    first = min(FIRST_CHUNK_LINES, CHUNK_LINES)
    size, left = first, lines
    for number, line in numbered_lines(path):
        if len(line) > MAX_LINE_BYTES:
            oversize.append((number, line))
            continue
        values.append(line)
        numbers.append(number)
        if len(values) >= size:
            yield _Chunk(numbers, values, oversize)
            size = min(size * 2, CHUNK_LINES)
            if left is not None:
                left -= len(values) + len(oversize)
                size = min(size, max(first, left // 2))
            values, numbers, oversize = [], [], []
    if values or oversize:
        yield _Chunk(numbers, values, oversize)


async def replay_direct(settings: Settings, client: Client, alert_config: AlertConfig,
                        path: Path, *, show_progress: bool = True,
                        resume: ReplayRun | None = None) -> ReplaySummary:
    """`sqm replay` on the direct runner: progress bar, then the same summary as the streaming
    path's."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.progress import Progress as Bar

    started = time.monotonic()
    total = sum(1 for _ in read_lines(path))
    runner = DirectReplay(settings, client, alert_config, resume=resume)
    bar = Bar(TextColumn("[bold]replay[/]"), BarColumn(), MofNCompleteColumn(),
              TextColumn("events settled"), TimeElapsedColumn(), disable=not show_progress)
    with bar:
        task = bar.add_task("replay", total=total)
        await runner.run(path, lambda n: bar.advance(task, n), total)
    stats = runner.stats
    contacts = await asyncio.to_thread(
        lambda: int(client.command("SELECT count() FROM sqm.contacts FINAL")))  # type: ignore[arg-type]
    return ReplaySummary(
        read=total, stored=stats.accepted + stats.duplicates, distinct=stats.accepted,
        duplicates=stats.duplicates, dead_lettered=stats.dead_lettered, contacts=contacts,
        seconds=time.monotonic() - started, dropped_corrections=stats.dropped_corrections)
