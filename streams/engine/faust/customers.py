"""The customer stage in the Faust worker: `streams.core.stages.customers.CustomerStage` over
the state table, settled through a `FaustOutbox` (the order: streams/core/stages/settle.py).

The agent (app.py) prepares batch k+1 while batch k settles, and settles batches one at a
time, in order, each acknowledged after its changelog is delivered: a crash before that leaves
both batches unacknowledged and neither's changelog written, so a restarted worker replays
both from a state without them. Changelog records go to the partition of the shard, named
explicitly: inside a `take_events` batch Faust's "current event" may belong to another
partition.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import faust
from faust.types import TableT

from sqm.sinks.writer import ClickHouseWriter
from sqm.streams.config import Settings
from sqm.streams.core.archive import Archive
from sqm.streams.core.shard import Message
from sqm.streams.core.stages.customers import (
    CustomerBatch,
    CustomerStage,
    Origin,
    PreparedCustomers,
)
from sqm.streams.core.stages.settle import settle
from sqm.streams.core.wire import decode_chunk
from sqm.streams.engine.faust.ingest import record_time
from sqm.streams.engine.faust.record_batches import RecordBatches
from sqm.streams.engine.faust.tables import Ack, FaustOutbox, table_state
from sqm.streams.stats import PipelineStats

log = logging.getLogger(__name__)


class CustomerAgent:
    on_batch: Callable[[int], None] | None = None  # told each batch's size (the metrics)

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
        self.writer = writer
        self.stats = stats
        self.out = out
        self.table = table
        self.changelog_topic = table.changelog_topic.get_topic_name()
        self.stage = CustomerStage(
            settings.shard_config(), settings.partitions, table_state(table), archive,
            dead_letter_topic=dead_letters.get_topic_name(),
            alert_inputs_topic=alert_inputs.get_topic_name())

    async def handle(self, events: Sequence[faust.EventT]) -> None:
        """One batch, start to end."""
        await self.finish(self.prepare(events))

    def prepare(self, events: Sequence[faust.EventT]) -> PreparedCustomers:
        """The batch applied to the shards' state, with everything it writes (synchronous:
        the agent prepares the next batch while this one's insert runs on the other core)."""
        messages: dict[int, list[Message]] = defaultdict(list)
        origin = Origin("")
        for event in events:
            msg = event.message
            origin.topic = msg.topic
            source, records, progress = decode_chunk(event.value)
            messages[msg.partition].append((msg.offset, records, source, progress))
            origin.stamps[(msg.partition, msg.offset)] = record_time(msg.timestamp)
        return self.stage.prepare(CustomerBatch(messages, origin, datetime.now(UTC)))

    async def finish(self, prepared: PreparedCustomers, ack: Ack | None = None) -> None:
        """Settle the batch (rows, dead letters and alert inputs; then the changelog; then
        `ack`) and count it."""
        await settle(FaustOutbox(self.writer, self.out, self.changelog_topic, ack), prepared)
        prepared.count(self.stats)
        self.stats.dead_reasons["late"] += sum(len(res.late) for res in prepared.results)
        if self.on_batch is not None:
            self.on_batch(prepared.n_events)
        self.stats.alert_inputs_sent += sum(len(v) for v in prepared.alert_inputs.values())
        self.stats.batches += 1
        if prepared.dropped_corrections:
            log.warning("%d corrections aimed at windows evicted from state could not be "
                        "applied; see sqm.dropped_corrections", prepared.dropped_corrections)
