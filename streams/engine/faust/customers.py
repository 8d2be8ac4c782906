"""The customer stage: a thin adapter running `streams.core.shard.Shard` per partition.

Order per batch, which the exactly-once argument in docs/architecture.md depends on:
1. apply the batch to each shard's state (in memory);
2. write every resulting row to ClickHouse (absolute values, versioned), dead-letter late
   events and send the alert stage its inputs (concurrently; all done before going on);
3. only then write the shards' changelog records, windows first.
`prepare` does 1 and builds everything 2 and 3 write (the changelog records are built from the
state as this batch left it, and held back); `finish` does 2 and 3. The agent (app.py)
prepares batch k+1 while batch k finishes, and finishes batches one at a time, in order, each
acknowledged when its changelog is delivered: a crash before that leaves both batches
unacknowledged and neither's changelog written, so a restarted worker replays both from a
state without them.
The table's changelog goes to the partition of the shard, named explicitly: inside a
`take_events` batch Faust's "current event" may belong to another partition.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Iterable, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import faust
from faust.types import TableT

from sinks.writer import Batch, ClickHouseWriter
from streams.config import Settings
from streams.core import rows
from streams.core.archive import Archive
from streams.core.derive import ContactView
from streams.core.records import EventRecord
from streams.core.rollup import WindowKey
from streams.core.shard import Shard, ShardResult
from streams.core.state import Progress
from streams.core.wire import alert_inputs, dead_letter_message, decode_chunk
from streams.engine.faust.ingest import record_time
from streams.engine.faust.record_batches import RecordBatches
from streams.stats import PipelineStats

log = logging.getLogger(__name__)


class TableStore:
    """`ShardStore` over a Faust table's in-memory data, for one partition.

    Values are live objects once touched, or the bytes Faust restored from the changelog.
    Changelog records go to `out`, sent as whole batches after the shard's commit.
    """

    durable = True

    def __init__(self, table: TableT, partition: int, out: RecordBatches) -> None:
        self.store: Any = cast(Any, table).data  # faust.stores.memory.Store
        self.data: MutableMapping[bytes, Any] = self.store.data
        self.partition = partition
        self.out = out
        self.topic = table.changelog_topic.get_topic_name()

    def get(self, key: str) -> Any | None:
        return self.data.get(key.encode())

    def keep(self, key: str, value: Any) -> None:
        self.data[key.encode()] = value

    def put(self, key: str, value: Any, encoded: bytes) -> None:
        k = key.encode()
        self.data[k] = value
        # Lets Faust drop the key if this partition is later assigned elsewhere.
        self.store._key_partition[k] = self.partition
        self.out.add(self.topic, self.partition, k, encoded)

    def delete(self, key: str) -> None:
        k = key.encode()
        self.data.pop(k, None)
        self.out.add(self.topic, self.partition, k, None)

    def keys(self, prefixes: tuple[str, ...]) -> Iterable[str]:
        # The table holds every partition's keys: filter before decoding.
        encoded = tuple(p.encode() for p in prefixes)
        return [k.decode() for k in list(self.data) if k.startswith(encoded)]


@dataclass(frozen=True, slots=True)
class PreparedBatch:
    """A customer batch applied to the state, with all it still has to write."""

    batch: Batch  # ClickHouse rows by table
    dead: list[dict[str, Any]]  # late events, for the dead-letter topic
    alert_inputs: dict[int, list[bytes]]  # alert partition -> sqm.alert-inputs messages
    changelog: RecordBatches  # the shards' changelog records
    results: list[ShardResult]
    n_events: int


class CustomerStage:
    def __init__(
        self,
        settings: Settings,
        writer: ClickHouseWriter,
        stats: PipelineStats,
        table: TableT,
        dead_letters: faust.TopicT,
        alert_inputs: faust.TopicT,
        out: RecordBatches,
        archive: Archive | None = None,
    ) -> None:
        self.alert_inputs = alert_inputs
        self.out = out
        self.settings = settings
        self.config = settings.shard_config()
        self.writer = writer
        self.stats = stats
        self.table = table
        self.dead_letters = dead_letters
        # Where evicted long-lived contacts and windows are read back from (core/archive.py).
        self.archive = archive

    async def handle(self, events: Sequence[faust.EventT]) -> None:
        """One batch, start to end."""
        await self.finish(self.prepare(events))

    def prepare(self, events: Sequence[faust.EventT]) -> PreparedBatch:
        """Steps 1 and 3a: apply the batch to the shards' state and build everything it
        writes, its changelog records included (held back until `finish` sends them).

        Synchronous, and it reads nothing a later batch changes: the customer agent prepares
        the next batch while this one's `finish` (the ClickHouse insert, on the other core)
        runs."""
        by_partition: dict[int, list[tuple[int, list[EventRecord], int, Progress | None]]] = (
            defaultdict(list))
        topic = ""
        stamps: dict[tuple[int, int], datetime] = {}
        for event in events:
            msg = event.message
            topic = msg.topic
            source, records, progress = decode_chunk(event.value)
            by_partition[msg.partition].append((msg.offset, records, source, progress))
            stamps[(msg.partition, msg.offset)] = record_time(msg.timestamp)
        now = datetime.now(UTC)
        accepted: list[EventRecord] = []
        contacts: list[tuple[ContactView, int]] = []
        windows: list[tuple[int, WindowKey, list[int], int]] = []  # (shard, key, counts, version)
        dead: list[dict[str, Any]] = []
        dropped: list[dict[str, Any]] = []
        results: list[ShardResult] = []
        inputs: dict[int, list[bytes]] = defaultdict(list)  # alert partition -> messages
        changelog = self.out.fresh()
        for partition, messages in by_partition.items():
            messages.sort(key=lambda m: m[0])
            # A Shard is cheap to build and holds no cache of its own: the table's data is the
            # state, so nothing goes stale across rebalances.
            shard = Shard(partition, TableStore(self.table, partition, changelog), self.config,
                          self.archive)
            res = shard.process(messages)
            results.append(res)
            accepted.extend(res.accepted)
            contacts.extend(res.contacts)
            windows.extend((partition, *w) for w in res.windows)
            dead.extend(self._late_rows(partition, topic, res, stamps, now))
            dropped.extend(rows.dropped_correction_row(partition, key, d, offset, now)
                           for key, d, offset in res.dropped)
            for p, values in alert_inputs(shard.id, shard.meta.low_watermark, res.windows,
                                         res.contacts, self.settings.partitions,
                                         res.before, closed=shard.meta.closed,
                                         shards=self.settings.partitions).items():
                inputs[p].extend(values)
            shard.commit()  # into `changelog`, sent only by `finish`
        # Column form for the hot tables (times as epoch ms); dead letters are few, rows do.
        now_ms = rows.epoch_ms(now)
        batch: Batch = {
            "events": rows.event_columns(accepted, now_ms),
            "contacts": rows.contact_columns(contacts, now_ms),
            "sla_1m": rows.sla_columns(windows, now_ms, self.config.policy.version),
            "dead_letters": dead,
            "dropped_corrections": dropped,
        }
        n_events = sum(len(m[1]) for ms in by_partition.values() for m in ms)
        return PreparedBatch(batch, dead, inputs, changelog, results, n_events)

    async def finish(self, prepared: PreparedBatch) -> None:
        """Steps 2 and 3b: write the rows, dead letters and alert inputs, and only when all
        are done, deliver the changelog records."""
        # The insert (in a thread, without the GIL) and the sends' round trips overlap: both
        # must be done before the changelog, neither before the other.
        sends: list[Awaitable[Any]] = [
            asyncio.ensure_future(self.writer.write_async(prepared.batch))]
        sends += [
            await self.dead_letters.send(key=row["dl_id"].encode(), value=dead_letter_message(row))
            for row in prepared.dead
        ]
        for p, values in prepared.alert_inputs.items():
            for value in values:
                sends.append(await self.alert_inputs.send(key=str(p).encode(), value=value,
                                                          partition=p))
            self.stats.alert_inputs_sent += len(values)
        await asyncio.gather(*sends)  # written and delivered before the batch is acknowledged
        await prepared.changelog.send()  # delivered before the batch is acknowledged
        self._count(prepared.results, prepared.n_events)

    def _late_rows(
        self, partition: int, topic: str, res: ShardResult,
        stamps: dict[tuple[int, int], datetime], now: datetime,
    ) -> list[dict[str, Any]]:
        return [
            rows.dead_letter_row(
                dl_id=f"{topic}:{partition}:{late.offset}:{late.index}", stage="late",
                reason=late.reason, topic=topic, partition=partition, offset=late.offset,
                raw=late.event.raw, now=stamps.get((partition, late.offset), now),
                event_id=late.event.event_id,
                tenant_id=late.event.tenant_id,
            )
            for late in res.late
        ]

    def _count(self, results: list[ShardResult], n_events: int) -> None:
        s = self.stats
        for res in results:
            s.accepted += len(res.accepted)
            s.duplicates += res.duplicates
            s.late += len(res.late)
            s.dead_lettered += len(res.late)
            s.dropped_corrections += res.dropped_corrections
            s.restored_contacts += res.restored_contacts
            s.restored_windows += res.restored_windows
            if res.dropped_corrections:
                log.warning("%d corrections aimed at windows evicted from state could not be "
                            "applied; see sqm.dropped_corrections", res.dropped_corrections)
        s.processed += n_events
        s.batches += 1
