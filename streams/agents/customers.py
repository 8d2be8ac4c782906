"""The customer stage: a thin adapter running `streams.core.shard.Shard` per partition.

Order per batch, which the exactly-once argument in docs/architecture.md depends on:
1. apply the batch to each shard's state (in memory);
2. write every resulting row to ClickHouse (absolute values, versioned), dead-letter late
   events and send the alert stage its inputs (concurrently; all done before going on);
3. only then write the shards' changelog records, windows first.
The table's changelog goes to the partition of the shard, named explicitly: inside a
`take_events` batch Faust's "current event" may belong to another partition.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Iterable, MutableMapping, Sequence
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
    ) -> None:
        self.alert_inputs = alert_inputs
        self.out = out
        self.settings = settings
        self.config = settings.shard_config()
        self.writer = writer
        self.stats = stats
        self.table = table
        self.dead_letters = dead_letters

    async def handle(self, events: Sequence[faust.EventT]) -> None:
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
        shards: list[Shard] = []
        results: list[ShardResult] = []
        for partition, messages in by_partition.items():
            messages.sort(key=lambda m: m[0])
            # A Shard is cheap to build and holds no cache of its own: the table's data is the
            # state, so nothing goes stale across rebalances.
            shard = Shard(partition, TableStore(self.table, partition, self.out), self.config)
            res = shard.process(messages)
            shards.append(shard)
            results.append(res)
            accepted.extend(res.accepted)
            contacts.extend(res.contacts)
            windows.extend((partition, *w) for w in res.windows)
            dead.extend(self._late_rows(partition, topic, res, stamps, now))
        # Column form for the hot tables (times as epoch ms); dead letters are few, rows do.
        now_ms = rows.epoch_ms(now)
        batch: Batch = {
            "events": rows.event_columns(accepted, now_ms),
            "contacts": rows.contact_columns(contacts, now_ms),
            "sla_1m": rows.sla_columns(windows, now_ms, self.config.policy.version),
            "dead_letters": dead,
        }
        # The insert (in a thread, without the GIL) and the sends' round trips overlap: both
        # must be done before the changelog, neither before the other.
        sends: list[Awaitable[Any]] = [asyncio.ensure_future(self.writer.write_async(batch))]
        sends += [
            await self.dead_letters.send(key=row["dl_id"].encode(), value=dead_letter_message(row))
            for row in dead
        ]
        for shard, res in zip(shards, results, strict=True):
            inputs = alert_inputs(shard.id, shard.meta.low_watermark, res.windows, res.contacts,
                                  self.settings.partitions, res.before)
            for p, value in inputs.items():
                sends.append(await self.alert_inputs.send(key=str(p).encode(), value=value,
                                                          partition=p))
            self.stats.alert_inputs_sent += len(inputs)
        await asyncio.gather(*sends)  # written and delivered before the batch is acknowledged
        for shard in shards:
            shard.commit()
        await self.out.send()  # the changelog, delivered before the batch is acknowledged
        self._count(results, sum(len(m[1]) for ms in by_partition.values() for m in ms))

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
