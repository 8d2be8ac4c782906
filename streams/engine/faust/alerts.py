"""The alert stage in the Faust worker: `streams.core.stages.alerts.AlertStage` over the alert
state table, settled through a `FaustOutbox` (the order: streams/core/stages/settle.py).

Inputs come from the customer stage on `sqm.alert-inputs`, keyed by tenant: the one-minute
window totals it wrote, which contacts wait in a queue (and which stopped), and every shard's
low watermark. The clock is event time in `sqm replay` (the lowest shard watermark, after each
batch), so history raises the same alerts at the same event times as live operation; live, a
timer also evaluates against the wall clock, so a queue that stops receiving events still warns.

Alert rows carry stable ids and per-state versions, so a replay after a crash rewrites the same
rows. A batch and a timer tick both change the state: they settle one at a time (a lock), so
their changelog records reach the broker in the order the state changed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence

import faust
from faust.types import TableT

from sqm.sinks.annotation_outbox import offer_annotations
from sqm.sinks.writer import ClickHouseWriter
from sqm.streams.core.alerting import AlertConfig
from sqm.streams.core.alerting.changes import ACKNOWLEDGED, FIRING
from sqm.streams.core.stages.alerts import AlertStage, PreparedAlerts
from sqm.streams.core.stages.settle import settle
from sqm.streams.engine.faust.record_batches import RecordBatches
from sqm.streams.engine.faust.tables import Ack, FaustOutbox, table_state
from sqm.streams.stats import PipelineStats

log = logging.getLogger(__name__)
# Acknowledged: still firing, someone is on it.
FIRING_STATES = frozenset({FIRING, ACKNOWLEDGED})


class AlertAgent:
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
        self.writer = writer
        self.stats = stats
        self.out = out
        self.changelog_topic = table.changelog_topic.get_topic_name()
        self.stage = AlertStage(config, table_state(table), lateness_ms=int(lateness_s * 1000),
                                alerts_topic=alerts_topic.get_topic_name())
        self.event_clock = event_clock
        self.grace_ms = int(grace_s * 1000)
        self._lock = asyncio.Lock()
        # For the metrics: partition evaluations, and the at-risk alerts firing now (id ->
        # rule) as this worker saw them change (the others are read from the state).
        self.evaluations = 0
        self.firing: dict[str, str] = {}

    async def handle(self, events: Sequence[faust.EventT], ack: Ack | None = None) -> None:
        inputs: dict[int, list[bytes]] = defaultdict(list)
        for event in events:
            inputs[event.message.partition].append(event.value)
        async with self._lock:
            prepared = self.stage.prepare(inputs, event_clock=self.event_clock)
            if self.event_clock:
                self.evaluations += len(inputs)
            for p, closed in prepared.closed.items():
                if closed:
                    self.stats.alert_partitions_closed.add(p)
                else:
                    self.stats.alert_partitions_closed.discard(p)
            await self._settle(prepared, ack)

    async def tick(self, partitions: Iterable[int]) -> None:
        """Live: evaluate against the wall clock (less a grace for events still in flight)."""
        if self.event_clock:
            return
        now = int(time.time() * 1000) - self.grace_ms
        mine = list(partitions)
        async with self._lock:
            self.evaluations += len(mine)
            await self._settle(self.stage.prepare_tick(mine, now), None)

    async def _settle(self, prepared: PreparedAlerts, ack: Ack | None) -> None:
        await settle(FaustOutbox(self.writer, self.out, self.changelog_topic, ack), prepared)
        flat = prepared.changes
        if flat:
            self.stats.alert_changes += len(flat)
            for c in flat:
                log.info("alert %s %s: %s", c.state, c.alert_id, c.message)
                if c.state in FIRING_STATES:
                    self.firing[c.alert_id] = c.rule_id
                else:
                    self.firing.pop(c.alert_id, None)
            offer_annotations(flat)
        self.stats.alert_inputs_done += prepared.inputs
