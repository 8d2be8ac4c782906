"""The whole pipeline's data flow without a broker, for property tests over long histories.

Like the real worker: events sit in input partitions (by contact, as the producer keys them);
the ingest stage reads uneven batches across partitions (some partitions far behind others),
routes valid events to shards in chunks per (shard, input partition) and, after each batch,
sends every shard its progress report (`InputProgress`, the end of input known up front as in
`sqm replay`); each shard consumes its own queue in batches at its own pace, with an archive of
what it wrote (as ClickHouse is for the real worker); shards' alert inputs go to the alert
partitions, which evaluate on the event clock (`PartitionAlerts.evaluate_event_clock`).
Rows land in `FinalTables` with ReplacingMergeTree FINAL semantics.
"""

from __future__ import annotations

import random
import zlib
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqm.streams.core.alerting import AlertChange, AlertConfig, AlertMonitor
from sqm.streams.core.alerting.partition import PartitionAlerts
from sqm.streams.core.archive import ArchivedContact, ContactKey
from sqm.streams.core.input_progress import InputProgress
from sqm.streams.core.records import EventRecord
from sqm.streams.core.rollup import WindowKey
from sqm.streams.core.routing import shard_for
from sqm.streams.core.shard import Message, Shard, ShardConfig
from sqm.streams.core.state import DictStore
from sqm.streams.core.wire import alert_inputs
from tests.harness import FinalTables


@dataclass
class StoredTables(FinalTables):
    """FinalTables plus the stored events, so it can serve as the shards' archive."""

    events: dict[ContactKey, dict[str, EventRecord]] = field(default_factory=dict)
    restored: int = 0

    def store_events(self, events: Sequence[EventRecord]) -> None:
        for e in events:
            self.events.setdefault((e.tenant_id, e.contact_id), {})[e.event_id] = e


class TablesArchive:
    """`Archive` over `StoredTables`, as `sinks.archive.ClickHouseArchive` is over ClickHouse."""

    def __init__(self, tables: StoredTables) -> None:
        self.tables = tables

    def contacts(self, keys: Sequence[ContactKey]) -> dict[ContactKey, ArchivedContact]:
        out = {}
        for key in keys:
            row = self.tables.contacts.get(key)
            if row is not None:
                out[key] = ArchivedContact(list(self.tables.events[key].values()),
                                           row[1].is_repeat)
        self.tables.restored += len(out)
        return out

    def windows(self, shard: int, keys: Sequence[WindowKey]) -> dict[
            WindowKey, tuple[list[int], int]]:
        out = {}
        for key in keys:
            row = self.tables.sla.get((key, shard))
            if row is not None:
                out[key] = (list(row[1]), row[0])
        return out


@dataclass
class ModelResult:
    tables: StoredTables
    alerts: dict[str, dict[str, Any]]  # alert_id -> its latest row (FINAL)
    late: list[str]
    dropped: int  # corrections no archive could apply


def input_partition(e: EventRecord, inputs: int) -> int:
    return zlib.crc32(e.contact_id.encode()) % inputs


def run_model(
    arrived: Sequence[EventRecord],
    *,
    inputs: int,
    shards: int,
    ingest_batch: int,
    message_size: int,
    customer_batch: int,
    seed: int,
    config: ShardConfig | None = None,
    alert_config: AlertConfig | None = None,
    archive: bool = True,
) -> ModelResult:
    rnd = random.Random(seed)
    cfg = config or ShardConfig(await_progress=True)
    lateness = cfg.lateness_ms
    parts: list[deque[EventRecord]] = [deque() for _ in range(inputs)]
    for e in arrived:
        parts[input_partition(e, inputs)].append(e)
    progress = InputProgress()
    progress.assign(dict.fromkeys(range(inputs), 0), inputs, 0.0)
    progress.end_of_input({p: len(q) for p, q in enumerate(parts)}, inputs)
    read = [0] * inputs

    tables = StoredTables()
    arch = TablesArchive(tables) if archive else None
    shard_state = [Shard(s, DictStore(), cfg, arch) for s in range(shards)]
    queues: list[list[Message]] = [[] for _ in range(shards)]
    consumed = [0] * shards
    alert_parts = [PartitionAlerts(AlertMonitor(alert_config or AlertConfig()))
                   for _ in range(shards)]
    alert_queues: list[list[bytes]] = [[] for _ in range(shards)]
    alerts: dict[str, dict[str, Any]] = {}
    dropped = 0

    def emit(changes: list[AlertChange]) -> None:
        for c in changes:
            row = c.to_row()
            old = alerts.get(c.alert_id)
            if old is None or old["version"] <= row["version"]:
                alerts[c.alert_id] = row

    def run_alerts(p: int) -> None:
        part = alert_parts[p]
        for value in alert_queues[p]:
            emit(part.apply(value))
        alert_queues[p].clear()
        emit(part.evaluate_event_clock(lateness))

    def run_shard(s: int, limit: int | None) -> None:
        pending = queues[s][consumed[s]:]
        if limit is not None:
            pending = pending[:limit]
        if not pending:
            return
        consumed[s] += len(pending)
        shard = shard_state[s]
        res = shard.process(pending)
        nonlocal dropped
        dropped += res.dropped_corrections
        tables.absorb(s, res)
        tables.store_events(res.accepted)
        shard.commit()  # after the rows, as the customer stage does
        for p, values in alert_inputs(s, shard.meta.low_watermark, res.windows, res.contacts,
                                     shards, res.before, closed=shard.meta.closed,
                                     shards=shards).items():
            alert_queues[p].extend(values)
        for p in range(shards):
            if rnd.random() < 0.5:
                run_alerts(p)

    # Some partitions are read much more slowly than others (a backlog after an outage).
    weights = [rnd.choice((0.05, 1.0, 1.0, 3.0)) for _ in range(inputs)]
    while any(read[p] < len(parts[p]) for p in range(inputs)):
        batch: list[tuple[int, int, EventRecord]] = []
        live = [p for p in range(inputs) if read[p] < len(parts[p])]
        for _ in range(ingest_batch):
            p = rnd.choices(live, [weights[q] for q in live])[0]
            batch.append((p, read[p], parts[p][read[p]]))
            read[p] += 1
            if read[p] == len(parts[p]):
                live.remove(p)
                if not live:
                    break
        chunks: dict[tuple[int, int], list[list[EventRecord]]] = {}
        marks: dict[int, int] = {}
        ends: dict[int, int] = {}
        for p, offset, e in batch:
            ends[p] = offset + 1
            marks[p] = max(marks.get(p, 0), e.ts)
            pieces = chunks.setdefault((shard_for(e.tenant_id, e.customer_id, shards), p), [[]])
            if len(pieces[-1]) >= message_size:
                pieces.append([])
            pieces[-1].append(e)
        for (target, source), pieces in chunks.items():
            for piece in pieces:
                queues[target].append((len(queues[target]), piece, source, None))
        progress.deliver(ends, marks)
        report = progress.report(0.0)
        for target in range(shards):
            queues[target].append((len(queues[target]), [], -1, report))
        for s in range(shards):
            if rnd.random() < 0.6:
                run_shard(s, customer_batch)
    for s in range(shards):
        while consumed[s] < len(queues[s]):
            run_shard(s, customer_batch)
    for p in range(shards):
        run_alerts(p)
    return ModelResult(tables, alerts, tables.late, dropped)
