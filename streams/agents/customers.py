"""The customer stage: a thin adapter running `streams.core.shard.Shard` per partition.

Order per batch, which the exactly-once argument in docs/architecture.md depends on:
1. apply the batch to each shard's state (in memory) and encode its changelog records;
2. write every resulting row to ClickHouse (absolute values, versioned), dead-letter late
   events and send the alert stage its inputs (concurrently; all done before going on);
3. only then produce the shards' changelog records, windows first;
4. acknowledge the batch's messages. Steps 2–4 run while the next batch does step 1.
The table's changelog goes to the partition of the shard, named explicitly: inside a
`take_events` batch Faust's "current event" may belong to another partition.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import faust
from faust.types import TableT

from sinks.writer import Batch, ClickHouseWriter
from streams.agents.alerts import alert_inputs
from streams.agents.ingest import dead_letter_message, decode_chunk, record_time
from streams.config import Settings
from streams.core import rows
from streams.core.derive import ContactView
from streams.core.records import EventRecord
from streams.core.rollup import WindowKey
from streams.core.shard import Shard, ShardResult
from streams.record_batches import RecordBatches
from streams.stats import PipelineStats

log = logging.getLogger(__name__)


class TableStore:
    """`ShardStore` over a Faust table's in-memory data, for one partition.

    Values are live objects once touched, or the bytes Faust restored from the changelog.
    Changelog records go to `out`, sent as whole batches after the shard's commit.
    """

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

    def keys(self) -> Iterable[str]:
        return [k.decode() for k in list(self.data)]


@dataclass(slots=True)
class Prepared:
    """A batch applied to the state, with everything it still has to write."""

    batch: Batch  # rows per table
    dead: list[dict[str, Any]]  # late events, also sent to the dead-letter topic
    inputs: list[tuple[int, bytes]]  # sqm.alert-inputs messages: (partition, value)
    changelog: RecordBatches  # the shards' changelog records, encoded
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
        producer: Callable[[], Any],
        on_crash: Callable[[BaseException], Awaitable[Any]] | None = None,
    ) -> None:
        self.alert_inputs = alert_inputs
        self.producer = producer
        self.on_crash = on_crash
        self._finishing: asyncio.Future[None] | None = None
        self._stopping = False
        self._crash: asyncio.Future[Any] | None = None
        self.settings = settings
        self.config = settings.shard_config()
        self.writer = writer
        self.stats = stats
        self.table = table
        self.dead_letters = dead_letters

    async def handle(self, events: Sequence[faust.EventT]) -> None:
        """Apply a batch, then finish it (write, send, changelog) while the next one is applied.

        Finishing is mostly waiting (the insert runs in a thread without the GIL, the sends on
        the broker), so the event loop would idle; instead `handle` returns once the *previous*
        batch is finished and this one's finishing goes on in the background. Its events stay
        unacknowledged until then (an extra reference on each message), so Faust commits their
        offsets only once every effect is written, and waits for them before a rebalance.
        Batches finish in order, each after the one before: changelogs stay in batch order.
        """
        prepared = self._prepare(events)
        previous, self._finishing = self._finishing, None
        if self._stopping:
            await self._finish(prepared, previous, ())
            return
        for event in events:
            event.message.incref()  # Faust's own ack after this returns is then not the last
        task = asyncio.ensure_future(self._finish(prepared, previous, events))
        task.add_done_callback(self._on_finished)
        self._finishing = task
        if previous is not None:
            await previous  # at most one batch finishing while the next is applied

    async def drain(self) -> None:
        """Finish the batch in the background and finish later ones inline (the worker stops)."""
        self._stopping = True
        if self._finishing is not None:
            with contextlib.suppress(Exception):  # reported by _on_finished
                await self._finishing

    def _on_finished(self, task: asyncio.Future[None]) -> None:
        exc = None if task.cancelled() else task.exception()
        if exc is None:
            return
        log.error("customer stage failed finishing a batch, stopping the worker: %s", exc)
        if self.on_crash is not None:
            self._crash = asyncio.ensure_future(self.on_crash(exc))

    def _prepare(self, events: Sequence[faust.EventT]) -> Prepared:
        """Apply the events to the state and encode everything the batch writes (no I/O): the
        next batch may change the state before this one is finished."""
        by_partition: dict[int, list[tuple[int, list[EventRecord], int]]] = defaultdict(list)
        topic = ""
        stamps: dict[tuple[int, int], datetime] = {}
        for event in events:
            msg = event.message
            topic = msg.topic
            source, records = decode_chunk(event.value)
            by_partition[msg.partition].append((msg.offset, records, source))
            stamps[(msg.partition, msg.offset)] = record_time(msg.timestamp)
        now = datetime.now(UTC)
        accepted: list[EventRecord] = []
        contacts: list[tuple[ContactView, int]] = []
        windows: list[tuple[int, WindowKey, list[int], int]] = []  # (shard, key, counts, version)
        dead: list[dict[str, Any]] = []
        results: list[ShardResult] = []
        inputs: list[tuple[int, bytes]] = []  # (alert partition, message)
        changelog = RecordBatches(self.producer, self.stats.produced)
        for partition, messages in by_partition.items():
            messages.sort(key=lambda m: m[0])
            # A Shard is cheap to build and holds no cache of its own: the table's data is the
            # state, so nothing goes stale across rebalances.
            shard = Shard(partition, TableStore(self.table, partition, changelog), self.config)
            res = shard.process(messages)
            results.append(res)
            accepted.extend(res.accepted)
            contacts.extend(res.contacts)
            windows.extend((partition, *w) for w in res.windows)
            dead.extend(self._late_rows(partition, topic, res, stamps, now))
            inputs.extend(alert_inputs(shard.id, shard.meta.low_watermark, res.windows,
                                       res.contacts, self.settings.partitions,
                                       res.before).items())
            # Encoded now, sent once the rows are written (windows, customers, meta).
            shard.commit()
        # Column form for the hot tables (times as epoch ms); dead letters are few, rows do.
        now_ms = rows.epoch_ms(now)
        batch: Batch = {
            "events": rows.event_columns(accepted, now_ms),
            "contacts": rows.contact_columns(contacts, now_ms),
            "sla_1m": rows.sla_columns(windows, now_ms, self.config.policy.version),
            "dead_letters": dead,
        }
        n_events = sum(len(m[1]) for ms in by_partition.values() for m in ms)
        return Prepared(batch, dead, inputs, changelog, results, n_events)

    async def _finish(self, p: Prepared, previous: asyncio.Future[None] | None,
                      events: Sequence[faust.EventT]) -> None:
        if previous is not None:
            await previous
        # The insert (in a thread, without the GIL) and the sends' round trips overlap: both
        # must be done before the changelog, neither before the other.
        sends: list[Awaitable[Any]] = [asyncio.ensure_future(self.writer.write_async(p.batch))]
        sends += [
            await self.dead_letters.send(key=row["dl_id"].encode(), value=dead_letter_message(row))
            for row in p.dead
        ]
        self.stats.alert_inputs_sent += len(p.inputs)
        for partition, value in p.inputs:
            sends.append(await self.alert_inputs.send(key=str(partition).encode(), value=value,
                                                      partition=partition))
        await asyncio.gather(*sends)  # written and delivered before the changelog
        await p.changelog.send()  # delivered before the batch is acknowledged
        self._count(p.results, p.n_events)
        for event in events:
            event.ack()  # the last reference: Faust may now commit the offset

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
            if res.dropped_corrections:
                log.warning("%d corrections aimed at windows older than the state TTL were "
                            "dropped", res.dropped_corrections)
        s.processed += n_events
        s.batches += 1
