"""Liveness and readiness of one worker, as its event loop reports them.

`LoopSampler.beat` runs on the worker's event loop once a second (a Faust timer): the time it
last ran is the liveness heartbeat (a loop blocked or dead stops it), and it copies there what
may only be read on the loop (consumer positions, assignments, the shards' clocks) for the
metrics. Every `STORE_CHECK_S` it also checks the store in a thread: reachable, and no
migration pending.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from sqm.streams.core.alerting.monitor import META
from sqm.streams.core.alerting.partition import PartitionAlerts, table_key
from sqm.streams.core.state import ShardMeta, meta_key
from sqm.streams.engine.faust.alerts import FIRING_STATES
from sqm.streams.engine.faust.ingest_consumer import ingest_group
from sqm.streams.observe.metrics import (
    STATE_EVERY_S,
    STATE_SLICE_S,
    LoopSnapshot,
    read_counters,
)
from sqm.streams.observe.state_count import StateCount

if TYPE_CHECKING:
    from sqm.streams.engine.faust.app import Pipeline

STORE_CHECK_S = 10.0


@dataclass(frozen=True)
class Answer:
    ok: bool
    text: str  # one line


class LoopSampler:
    def __init__(self, pipeline: Pipeline, snapshot: LoopSnapshot, stall_s: float,
                 clock: Any = time.monotonic) -> None:
        self.pipeline = pipeline
        self.snapshot = snapshot
        self.stall_s = stall_s
        self.clock = clock
        self.last_beat: float | None = None  # monotonic; None until the loop first ran it
        self.store_problem: str | None = "the store has not been checked yet"
        self._store_checked = -STORE_CHECK_S
        self._state_counted = -STATE_EVERY_S
        self._state_count = StateCount()
        self.ready = Answer(False, "starting: the worker has not finished starting")
        self._store_check: asyncio.Task[None] | None = None

    # -- on the event loop ------------------------------------------------------------------
    async def beat(self) -> None:
        now = self.clock()
        self.last_beat = now
        self.snapshot.lag = self._lag()
        self.snapshot.clocks = self._clocks()
        self.snapshot.firing = self._firing()
        self.snapshot.counters = read_counters(self.pipeline)
        self.snapshot.dead = dict(self.pipeline.stats.dead_reasons)
        self.ready = self._ready()
        if self._state_count.counting or now - self._state_counted >= STATE_EVERY_S:
            if not self._state_count.counting:
                self._state_counted = now
            # A slice per beat: a large state is counted over several beats, not in one pause.
            totals = self._state_count.step(
                cast(Any, self.pipeline.customers.table).data.data, STATE_SLICE_S)
            if totals is not None:
                self.snapshot.state = totals
        if now - self._store_checked >= STORE_CHECK_S and (
                self._store_check is None or self._store_check.done()):
            self._store_checked = now
            self._store_check = asyncio.ensure_future(self._check_store())

    async def _check_store(self) -> None:
        self.store_problem = await asyncio.to_thread(store_problem, self.pipeline)

    def _lag(self) -> dict[tuple[str, str, int], int]:
        lag: dict[tuple[str, str, int], int] = {}
        p = self.pipeline
        ingest = p.ingest_consumer
        consumer = ingest.consumer
        if consumer is not None:
            group = ingest_group(p.settings.app_id)
            for tp in consumer.assignment():
                n = _behind(consumer.highwater(tp), ingest.committed.get(tp))
                if n is not None:
                    lag[(group, tp.topic, tp.partition)] = n
        faust_consumer = cast(Any, p.app.consumer)
        # Faust's own group: the customer and alert stages' inputs (not the changelogs, which
        # only a recovery reads).
        mine = {p.settings.by_customer_topic, p.settings.alert_inputs_topic}
        try:
            assigned = [tp for tp in faust_consumer.assignment() if tp.topic in mine]
        except Exception:  # not started yet: nothing assigned
            return lag
        # Private: Faust keeps its group's committed positions here and has no public getter
        # (recovery.py writes the same dict; tests/unit/test_engine_internals.py checks it).
        committed = faust_consumer._committed_offset
        for tp in assigned:
            try:
                high = faust_consumer.highwater(tp)
            except Exception:  # revoked since assignment() answered
                continue
            n = _behind(high, committed.get(tp))
            if n is not None:
                lag[(p.settings.app_id, tp.topic, tp.partition)] = n
        return lag

    def _firing(self) -> dict[str, int]:
        """Alerts firing per rule, from the state of the alert partitions this worker holds
        (so an alert restored after a restart counts); at-risk alerts, which live elsewhere in
        that state, from the changes the stage made."""
        alerts = self.pipeline.alerts
        config = alerts.stage.state.config
        machine_rules = {r.id for r in config.rules} | {a.id for a in config.anomalies}
        counts = dict.fromkeys(sorted(machine_rules), 0)
        for rule in alerts.firing.values():
            if rule not in machine_rules:
                counts[rule] = counts.get(rule, 0) + 1
        for p in range(self.pipeline.settings.partitions):
            part = alerts.stage.state.store.partition(p).get(table_key(p, META))
            if not isinstance(part, PartitionAlerts):
                continue  # not held here, or not read since a recovery (a live tick reads it)
            for machines in (part.monitor.engine.machines, part.monitor.anomalies.machines):
                for rule, tracks in machines.tracks.items():
                    n = sum(t.state in FIRING_STATES for t in tracks.values())
                    counts[rule] = counts.get(rule, 0) + n
        return counts

    def _clocks(self) -> dict[int, int]:
        p = self.pipeline
        data = cast(Any, p.customers.table).data.data
        clocks: dict[int, int] = {}
        for shard in range(p.settings.partitions):
            raw = data.get(meta_key(shard).encode())
            if raw is None:
                continue
            if isinstance(raw, bytes):
                raw = ShardMeta.decode(raw)
                raw.await_progress = True  # as the worker's shards read it
            if isinstance(raw, ShardMeta) and raw.low_watermark > 0:
                clocks[shard] = raw.low_watermark
        return clocks

    # -- from the HTTP server's thread -------------------------------------------------------
    def liveness(self) -> Answer:
        if self.last_beat is None:
            return Answer(True, "starting: the event loop has not run its heartbeat yet")
        age = self.clock() - self.last_beat
        if age > self.stall_s:
            return Answer(False, f"the event loop has not run for {age:.0f} s "
                                 f"(SQM_HEALTH_STALL_S={self.stall_s:g})")
        return Answer(True, "ok")

    def readiness(self) -> Answer:
        if self.last_beat is None:
            return Answer(False, "starting: the worker has not finished starting")
        live = self.liveness()
        return live if not live.ok else self.ready

    def _ready(self) -> Answer:
        """On the loop, like everything read of the pipeline (metrics.py says why)."""
        p = self.pipeline
        app = cast(Any, p.app)
        if self.store_problem is not None:
            return Answer(False, self.store_problem)
        if getattr(app, "in_recovery", False):
            return Answer(False, "recovering: restoring state from the changelog")
        if getattr(app, "rebalancing", False):
            return Answer(False, "rebalancing: partitions are being reassigned")
        if not p.ingest_consumer.joined:
            return Answer(False, "joining: the ingest consumer has no partition assignment yet")
        return Answer(True, "ready")


def _behind(high: int | None, committed: int | None) -> int | None:
    """Messages after the committed offset; None before the first fetch tells the end.

    Clamped at 0: the embedded broker (Tansu) reports a partition's end as the first offset of
    its newest batch + 1, which can be below what was committed."""
    if high is None:
        return None
    return max(0, high - (committed or 0))


def store_problem(pipeline: Pipeline) -> str | None:
    """Why the store is not usable (one line), or None. Blocking: run in a thread."""
    from sqm.sinks.migrations import pending

    client = pipeline.extras.get("client")
    if client is None:
        return "no store client"
    try:
        missing = pending(client)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        return f"store unreachable: {first}"
    if missing:
        return f"store: {len(missing)} migration(s) not applied (run sqm migrate)"
    return None
