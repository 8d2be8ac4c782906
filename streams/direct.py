"""`sqm replay`'s direct runner: the pipeline's stages in this process, straight from the file.

A replay of history needs none of what the broker gives a live worker (partitions shared by
workers, offsets, changelogs to survive a crash), and paid for all of it: broker start and group
joins (~12 s for a 4-event file) and every event crossing Kafka twice. Here the same
engine-free stages run in order on the file's lines:
- ingest: `route_batch` validates and routes a chunk of lines to the shards (in a child process
  for large files, ahead of the stages: `streams/direct_feed.py`), and the worker's
  `IngestStage` names the rejected lines' dead letters;
- customers and alerts: the worker's own stages (`streams/core/stages/`: a `Shard` per
  partition of `SQM_PARTITIONS`, then a `PartitionAlerts` per partition on the event clock),
  on in-memory state without a changelog (`MemoryPartitions`), with the same ClickHouse
  archive for evicted long-lived contacts, settled by `settle` through an outbox that only
  writes rows (`streams/direct_outbox.py`). For large files the alert stage runs in worker processes
  (`streams/direct_workers.py`, `SQM_REPLAY_ALERT_PROCESSES`): a chunk's alerts are computed
  while the next chunk goes through the customer stage, and written after the chunk's other
  rows. The live worker's garbage-collector policy (`streams/gc_policy.py`) keeps the
  long-lived state out of the collector's scans.
The file is one ordered input (one source partition, offsets = line numbers): the event clock
is the latest event time read, and closes at the end of the file. Each chunk's rows are
written (in threads: `events` on a connection of its own beside the other tables, when the
caller gives one) while the next chunk is processed, after the chunk before's rows; its alerts
and the run's record after the chunk before's (docs/replay.md).
Results equal the streaming path's (`tests/integration/test_engines.py`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from operator import itemgetter
from pathlib import Path
from typing import Any

from clickhouse_connect.driver.client import Client

from sqm.sinks.annotation_outbox import offer_annotations
from sqm.sinks.archive import ClickHouseArchive
from sqm.sinks.retry import Health
from sqm.sinks.writer import ClickHouseWriter, RetryPolicy
from sqm.streams.config import Settings
from sqm.streams.core import rows
from sqm.streams.core.alerting import AlertConfig
from sqm.streams.core.alerting.changes import ChangeColumns, changes_of
from sqm.streams.core.ingest_batch import RoutedBatch
from sqm.streams.core.partitions import MemoryPartitions
from sqm.streams.core.ports import Rows
from sqm.streams.core.records import (
    CREATED,
    WIRE_CONTACT,
    WIRE_CUSTOMER,
    WIRE_TENANT,
    WIRE_TYPE,
    EventRecord,
)
from sqm.streams.core.shard import GENERATION_EPOCH_S, Message, ReadBack
from sqm.streams.core.stages.customers import CustomerBatch, CustomerStage, Origin
from sqm.streams.core.stages.ingest import IngestBatch, IngestStage
from sqm.streams.core.stages.settle import Prepared, settle
from sqm.streams.core.state import Progress
from sqm.streams.direct_feed import Chunk, ChunkFeed, helper_counts
from sqm.streams.direct_outbox import RowsOutbox
from sqm.streams.direct_workers import AlertPartitions, Pending
from sqm.streams.gc_policy import GcPolicy
from sqm.streams.replay_evicted import EvictedArchive
from sqm.streams.replay_progress import ReplayRun, file_key, save_run
from sqm.streams.replay_summary import (
    ReplaySummary,
    oversize_reason,
)
from sqm.streams.stats import PipelineStats
from sqm.streams.words import plural

log = logging.getLogger(__name__)

Progressed = Callable[[int], None]
WRITES_UNDER_WAY = 2  # chunks' writes at most, beside the chunk being applied
# A chunk's write starts once the chunk before's rows are in, not its record; the loop then
# waits for the write before those two, record included. So a run that stops may have stored
# the rows of up to this many chunks past its last record (which `--resume` must not read back).
PAST_RECORD = WRITES_UNDER_WAY + 1


@dataclass
class _Batch:
    customers: CustomerBatch
    dead: list[dict[str, Any]]  # the ingest stage's dead letters
    lines: int  # the chunk's lines
    last_line: int  # the chunk's last line number


@dataclass
class _Writing:
    """A chunk's write under way; `stored` is set once its rows are in (before its alerts),
    or once the write ended, failed or not."""

    task: asyncio.Future[None]
    stored: asyncio.Event


@dataclass
class _Prepared:
    work: Prepared
    alerts: Pending = field(default_factory=list)  # the chunk's alert changes, maybe running
    settled: int = 0
    last_line: int = 0  # the chunk's last line number


class DirectReplay:
    def __init__(self, settings: Settings, client: Client, alert_config: AlertConfig,
                 stats: PipelineStats | None = None, resume: ReplayRun | None = None,
                 events_client: Client | None = None, read_client: Client | None = None) -> None:
        self.settings = settings
        self.stats = stats or PipelineStats()
        retry = RetryPolicy(outage_s=settings.clickhouse_outage_s)
        health = Health()  # one store: one line when it goes down, one when it is back
        self.writer = ClickHouseWriter(client, retry=retry, stats=self.stats, health=health)
        # A second connection for the `events` inserts, beside the chunk's other rows (a
        # connection runs one query at a time): optional.
        self.events_writer = None if events_client is None else ClickHouseWriter(
            events_client, retry=retry, stats=self.stats, health=health)
        config = settings.shard_config()
        # Read-backs on a connection of their own (optional): they run beside the inserts.
        archive = ClickHouseArchive(read_client or client, self.writer.retrying)
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
        self._done_before = resume.lines_done if resume else 0  # lines written before
        self._past_record = 0  # chunks past the record applied
        self._run: ReplayRun | None = None
        # Re-reading the done part, evicted state comes back from what this run evicted, not
        # from the store, which already holds later rows (streams/replay_evicted.py).
        self._archive = archive
        self._evicted: EvictedArchive | None = None
        if resume is not None:
            self._evicted = EvictedArchive(archive)
            self.customers.archive = self.customers.evictions = self._evicted

    async def run(self, path: Path, progressed: Progressed | None = None,
                  feed: ChunkFeed | None = None) -> None:
        """Replay `path`, its chunks from `feed` (started already or not; closed here)."""
        resume = self.resume
        self._run = ReplayRun(file_key(path), path.name, resume.lines_done if resume else 0,
                              False, self.generation, self.now)
        feed = feed or ChunkFeed(self.settings, path)
        feed.start()
        try:
            if resume is None:
                await asyncio.to_thread(save_run, self.writer, self._run)
            await self._replay(path, feed, progressed)
        finally:
            feed.close()
        self._run = replace(self._run, finished=True)
        await asyncio.to_thread(save_run, self.writer, self._run)

    async def _replay(self, path: Path, feed: ChunkFeed, progressed: Progressed | None) -> None:
        processes = helper_counts(self.settings, path)[1]
        gc_policy = GcPolicy(self.settings.gc_freeze_s, self.settings.gc_full_interval_s)
        self.alerts = AlertPartitions(self.settings.partitions, self.alert_config,
                                      self.settings.lateness_s * 1000, processes, gc_policy)
        if processes:
            log.info("alert partitions in %s", plural(processes, "worker process",
                                                      "worker processes"))
        gc_policy.install()  # the state is long-lived: keep it out of the collector's scans
        writes: deque[_Writing] = deque()  # under way, oldest first
        try:
            unwritten: _Prepared | None = None
            while (taken := await feed.take()) is not None:
                chunk, routed, last = taken
                # Chunk K reads back what the shards evicted up to chunk K-1, which chunk K-2
                # wrote at the latest (core/archive.py): once that chunk's rows are in (not its
                # alerts, nor the run's record), the query runs in a thread, on a connection of
                # its own, while this one builds the chunk's records.
                wanted = self.customers.wanted(_contacts_seen(routed))
                if writes:
                    await writes[-1].stored.wait()
                    if writes[-1].task.done():
                        writes[-1].task.result()  # a write that failed ends the replay
                reading = asyncio.get_running_loop().run_in_executor(  # submitted now
                    None, self.customers.fetch, wanted)
                batch = self._batch(path, chunk, routed, last)
                read_back = await reading
                if unwritten is not None:
                    writes.append(await self._start_write(unwritten, progressed, writes))
                while len(writes) > WRITES_UNDER_WAY:
                    await writes.popleft().task
                unwritten = self._apply(batch, read_back)
                gc_policy.tick()
            if unwritten is not None:
                writes.append(await self._start_write(unwritten, progressed, writes))
            while writes:
                await writes.popleft().task
        finally:
            self._end_re_read()
            self.alerts.close()
            gc_policy.uninstall()

    def _batch(self, path: Path, chunk: Chunk, routed: RoutedBatch, last: bool) -> _Batch:
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
            self._past_record += 1
            if self._past_record >= PAST_RECORD:  # every chunk the stopped run may have written
                self._end_re_read()
        return _Prepared(Prepared(out), alerts, batch.lines, batch.last_line)

    def _end_re_read(self) -> None:
        """From the chunk after the last one the stopped run may have written on, evicted
        state comes back from the store again: what it holds for it was written by then, by
        this run or the stopped one alike (docs/replay.md)."""
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

    async def _start_write(self, prepared: _Prepared, progressed: Progressed | None,
                           writes: deque[_Writing]) -> _Writing:
        """Start writing `prepared` after `writes` (the earlier chunks' under way), and return
        once its rows' insert runs (in its thread): the caller's work that follows then
        overlaps it. `settle` starts the insert a few turns of the event loop later, so a bare
        yield returned before it, and the insert waited for all of that work (the two took
        turns instead of overlapping)."""
        started, stored = asyncio.Event(), asyncio.Event()
        before = writes[-1].task if writes else None
        task = asyncio.ensure_future(self._write(prepared, progressed, before, started, stored))
        task.add_done_callback(lambda _: stored.set())  # failed too: the waiter must see it
        waiting = asyncio.ensure_future(started.wait())
        await asyncio.wait((task, waiting), return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        return _Writing(task, stored)

    async def _write(self, prepared: _Prepared, progressed: Progressed | None,
                     before: asyncio.Future[None] | None, started: asyncio.Event,
                     stored: asyncio.Event) -> None:
        """The chunk's rows, then its alerts and the run's record once the earlier chunk's
        write is done: alert rows of one alert may share a version (the last inserted wins),
        and the record says that every line up to the chunk's last is written."""
        def acknowledge() -> None:
            if progressed is not None:
                progressed(prepared.settled)

        assert self.alerts is not None
        alerts = self.alerts
        if prepared.last_line <= self._done_before:  # written before the run was interrupted
            started.set()
            stored.set()
            await alerts.result(prepared.alerts)  # the alert state moves on all the same
            if before is not None:
                await before
            acknowledge()
            self.stats.batches += 1
            return
        changes: ChangeColumns = {}

        async def alert_rows() -> Rows:  # once the chunk's other rows are in
            changes.update(await alerts.result(prepared.alerts))
            if before is not None:
                await before
            return alerts.rows(changes)

        await settle(RowsOutbox(self.writer, acknowledge, started, self.events_writer,
                                alert_rows, stored), prepared.work)
        assert self._run is not None
        self._run = run = replace(self._run, lines_done=prepared.last_line)
        await asyncio.to_thread(save_run, self.writer, run)
        if n_changes := len(changes.get("alert_id", ())):
            self.stats.alert_changes += n_changes
            offer_annotations(changes_of(changes))  # made only when Grafana is configured
        self.stats.batches += 1


def _contacts_seen(routed: RoutedBatch) -> dict[int, tuple[dict[tuple[str, str, str], None],
                                                           set[tuple[str, str]]]]:
    """Per shard, what `CustomerStage.wanted` reads of the routed events (their distinct
    (tenant, contact, customer) in order, and the contacts created), without the records."""
    out: dict[int, tuple[dict[tuple[str, str, str], None], set[tuple[str, str]]]] = {}
    for target, _source, wires in routed.wires:
        seen, created = out.setdefault(target, ({}, set()))
        seen.update(dict.fromkeys(map(_CONTACT_CUSTOMER, wires)))
        created.update((w[WIRE_TENANT], w[WIRE_CONTACT]) for w in wires if w[WIRE_TYPE] == CREATED)
    return out


_CONTACT_CUSTOMER = itemgetter(WIRE_TENANT, WIRE_CONTACT, WIRE_CUSTOMER)


async def replay_direct(settings: Settings, client: Client, alert_config: AlertConfig,
                        path: Path, *, show_progress: bool = True,
                        resume: ReplayRun | None = None,
                        feed: ChunkFeed | None = None,
                        events_client: Client | None = None,
                        read_client: Client | None = None) -> ReplaySummary:
    """`sqm replay` on the direct runner: progress bar, then the same summary as the streaming
    path's. `feed`: the file's chunks, started early by the caller (closed here);
    `events_client`: a second connection to the store, for the `events` inserts;
    `read_client`: a third, for the read-backs of evicted contacts."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.progress import Progress as Bar

    started = time.monotonic()
    feed = feed or ChunkFeed(settings, path)
    runner = DirectReplay(settings, client, alert_config, resume=resume,
                          events_client=events_client, read_client=read_client)
    bar = Bar(TextColumn("[bold]replay[/]"), BarColumn(), MofNCompleteColumn(),
              TextColumn("events settled"), TimeElapsedColumn(), disable=not show_progress)
    with bar:
        task = bar.add_task("replay", total=feed.lines)
        await runner.run(path, lambda n: bar.advance(task, n), feed)
    stats = runner.stats
    contacts = await asyncio.to_thread(
        lambda: int(client.command("SELECT count() FROM sqm.contacts FINAL")))  # type: ignore[arg-type]
    return ReplaySummary(
        read=feed.lines, stored=stats.accepted + stats.duplicates, distinct=stats.accepted,
        duplicates=stats.duplicates, dead_lettered=stats.dead_lettered, contacts=contacts,
        seconds=time.monotonic() - started, dropped_corrections=stats.dropped_corrections)
