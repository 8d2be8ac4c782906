"""The alert stage: a thin adapter running `streams.core.alerting.AlertMonitor` per partition.

Inputs come from the customer stage on `sqm.alert-inputs`, keyed by tenant: the one-minute
window totals it wrote, which contacts wait in a queue (and which stopped), and every shard's
low watermark. The clock is event time in `sqm replay` (the lowest shard watermark, after each
batch), so history raises the same alerts at the same event times as live operation; live, a
timer also evaluates against the wall clock, so a queue that stops receiving events still warns.

Outputs (rows in `sqm.alerts`, messages on `sqm.alerts`, Grafana annotations when configured)
are written before the state's changelog records (only the parts that changed, see
`alert_state.py`), and alert rows carry stable ids and per-state versions, so a replay after a
crash rewrites the same rows.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, cast

import faust
import orjson
from faust.types import TableT

from sinks.annotation_outbox import offer_annotations
from sinks.writer import ClickHouseWriter
from streams.core.alerting import AlertChange, AlertConfig
from streams.core.alerting.changes import change_columns
from streams.core.alerting.partition import AlertStateStore, PartitionAlerts
from streams.engine.faust.record_batches import RecordBatches
from streams.stats import PipelineStats

log = logging.getLogger(__name__)


class AlertStage:
    def __init__(
        self,
        config: AlertConfig,
        writer: ClickHouseWriter,
        stats: PipelineStats,
        table: TableT,
        alerts_topic: faust.TopicT,
        out: RecordBatches,
        *,
        event_clock: bool,
        grace_s: float,
        lateness_s: float = 0,
    ) -> None:
        self.config = config
        self.writer = writer
        self.stats = stats
        self.table = table
        self.out = out
        store: Any = cast(Any, table).data  # faust.stores.memory.Store
        changelog = table.changelog_topic.get_topic_name()

        def send(partition: int, key: bytes, value: bytes | None) -> None:
            out.add(changelog, partition, key, value)

        self.state = AlertStateStore(store.data, store._key_partition, send, config)
        self.alerts_topic = alerts_topic.get_topic_name()
        self.event_clock = event_clock
        self.grace_ms = int(grace_s * 1000)
        self.lateness_ms = int(lateness_s * 1000)
        self._pending_done = 0

    def _partition(self, p: int) -> PartitionAlerts:
        return self.state.get(p)

    async def handle(self, events: Sequence[faust.EventT]) -> None:
        touched: dict[int, PartitionAlerts] = {}
        changes: dict[int, list[AlertChange]] = defaultdict(list)
        for event in events:
            p = event.message.partition
            part = touched.get(p) or self._partition(p)
            touched[p] = part
            changes[p] += part.apply(event.value)
        self._pending_done = len(events)
        if self.event_clock:
            for p, part in touched.items():
                changes[p] += part.evaluate_event_clock(self.lateness_ms)
                if part.all_closed:
                    self.stats.alert_partitions_closed.add(p)
                else:
                    self.stats.alert_partitions_closed.discard(p)
        await self._emit(changes, touched)

    async def tick(self, partitions: Iterable[int]) -> None:
        """Live: evaluate against the wall clock (less a grace for events still in flight)."""
        if self.event_clock:
            return
        now = int(time.time() * 1000) - self.grace_ms
        touched: dict[int, PartitionAlerts] = {}
        changes: dict[int, list[AlertChange]] = {}
        for p in partitions:
            part = self._partition(p)
            touched[p] = part
            changes[p] = part.monitor.evaluate(now, windows_ms=part.clock or 0)
        await self._emit(changes, touched)

    async def _emit(self, changes: dict[int, list[AlertChange]],
                    touched: dict[int, PartitionAlerts]) -> None:
        flat = [c for cs in changes.values() for c in cs]
        if flat:
            rows = asyncio.ensure_future(self.writer.write_async({"alerts": change_columns(flat)}))
            for c in flat:
                self.out.add(self.alerts_topic, None, c.alert_id.encode(),
                             orjson.dumps(c.to_dict()))
            # Rows and messages, concurrently, before the state that says they were written.
            await asyncio.gather(rows, self.out.send())
            self.stats.alert_changes += len(flat)
            for c in flat:
                log.info("alert %s %s: %s", c.state, c.alert_id, c.message)
            offer_annotations(flat)
        for p, part in touched.items():
            self.state.flush(p, part)
        await self.out.send()
        self.stats.alert_inputs_done += self._pending_done
        self._pending_done = 0
