"""The alert stage: a `PartitionAlerts` per partition over a `PartitionedStateStore`.

`prepare` applies a batch of `sqm.alert-inputs` messages per partition, evaluates on the event
clock when asked, and computes what it writes: the alert changes' rows and (with
`alerts_topic`) messages, and the changed parts of each touched partition's state as owed
changelog records (`AlertStateStore.flush`; on a state that is not durable, the change marks are
dropped instead). `prepare_tick` does the same for a wall-clock evaluation (live only).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from sqm.streams.core.alerting import AlertChange, AlertConfig, AlertMonitor
from sqm.streams.core.alerting.changes import change_columns
from sqm.streams.core.alerting.partition import AlertStateStore, PartitionAlerts
from sqm.streams.core.ports import OutRecord, PartitionedStateStore
from sqm.streams.core.stages.settle import Prepared


@dataclass(slots=True)
class PreparedAlerts(Prepared):
    changes: list[AlertChange] = field(default_factory=list)
    inputs: int = 0  # input messages applied
    closed: dict[int, bool] = field(default_factory=dict)  # partition -> every shard closed


class AlertStage:
    def __init__(self, config: AlertConfig, store: PartitionedStateStore, *,
                 lateness_ms: int = 0, alerts_topic: str | None = None) -> None:
        self.state = AlertStateStore(store, config)
        self.store = store
        self.lateness_ms = lateness_ms
        self.alerts_topic = alerts_topic

    def partition(self, p: int) -> PartitionAlerts:
        return self.state.get(p)

    def prepare(self, inputs: dict[int, list[bytes]], *, event_clock: bool) -> PreparedAlerts:
        """Apply each partition's messages in order; on the event clock, evaluate every minute
        no event can still change."""
        changes: list[AlertChange] = []
        touched: dict[int, PartitionAlerts] = {}
        closed: dict[int, bool] = {}
        n = 0
        for p, values in inputs.items():
            part = touched[p] = self.state.get(p)
            for value in values:
                changes += part.apply(value)
            n += len(values)
        if event_clock:
            for p, part in touched.items():
                changes += part.evaluate_event_clock(self.lateness_ms)
                closed[p] = part.all_closed
        prepared = self._prepared(changes, touched)
        prepared.inputs = n
        prepared.closed = closed
        return prepared

    def prepare_tick(self, partitions: list[int], now_ms: int) -> PreparedAlerts:
        """Evaluate against the wall clock `now_ms` (live: a queue with no new events must
        still warn)."""
        changes: list[AlertChange] = []
        touched: dict[int, PartitionAlerts] = {}
        for p in partitions:
            part = touched[p] = self.state.get(p)
            changes += part.monitor.evaluate(now_ms, windows_ms=part.clock or 0)
        return self._prepared(changes, touched)

    def _prepared(self, changes: list[AlertChange],
                  touched: dict[int, PartitionAlerts]) -> PreparedAlerts:
        rows = {"alerts": change_columns(changes)} if changes else {}
        records = [] if self.alerts_topic is None else [
            OutRecord(self.alerts_topic, None, c.alert_id.encode(), orjson.dumps(c.to_dict()))
            for c in changes]
        if self.store.durable:
            for p, part in touched.items():
                self.state.flush(p, part)
        else:
            for part in touched.values():
                _forget_changed(part.monitor)
        return PreparedAlerts(rows, records, self.store.owed(), changes)


def _forget_changed(monitor: AlertMonitor) -> None:
    """Nothing is written to a changelog: drop the parts' change marks as they come."""
    monitor.rolling.take_changed()
    monitor.waiting.take_changed()
    monitor.waits.take_changed()
