"""One object for the pipeline stage: windows in, waiting contacts in, clock ticks → changes.

    monitor = AlertMonitor(load_rules(path))
    monitor.apply_window(window_key, shard, version, counts)   # every sla_1m row written
    monitor.apply_view(contact_view)                            # every contact row written
    changes = monitor.evaluate(now_ms)                          # on a timer, clock = event time
    monitor.acknowledge(alert_id, now_ms)                       # from a person

Each call is a pure function of the state and its arguments; `to_state()` is plain JSON-able
data and `from_state()` restores it exactly, so the state can live in a changelog.

The same state in parts, for a changelog that writes only what changed after each batch:
`parts()` is all of them (part key → JSON-able value), `changed_parts()` those that may have
changed since its last call (None: the part is gone), and `from_parts()` restores. Parts:
`("meta",)` (clocks, horizon), `("engine",)` (threshold alert tracks), `("anomalies",)`
(their tracks and baselines), `("minute", m)` (one minute's window rows) and
`("waiting", tenant, contact)` (one waiting contact), `("wait", tenant, contact)` (one answered
contact's wait, for `wait_p90_s`). The meta, engine and anomaly parts are
small and always listed by `changed_parts()`; a minute or a contact only when touched.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

from sqm.streams.core.alerting.anomaly import AnomalyDetector
from sqm.streams.core.alerting.at_risk import AtRiskTracker, WaitingContact
from sqm.streams.core.alerting.changes import AlertChange
from sqm.streams.core.alerting.engine import HOUR_MS, Engine
from sqm.streams.core.alerting.grid import MetricSource
from sqm.streams.core.alerting.rolling import RollingStore
from sqm.streams.core.alerting.rules import DEFAULT_CONFIG, MINUTE_MS, AlertConfig
from sqm.streams.core.alerting.waits import PERCENTILES, WaitDims, WaitSamples
from sqm.streams.core.derive import ContactView
from sqm.streams.core.rollup import WindowKey

STATE_VERSION = 1
PARTS_VERSION = 1
PartKey = tuple[str | int, ...]
META: PartKey = ("meta",)
ENGINE: PartKey = ("engine",)
ANOMALIES: PartKey = ("anomalies",)
MINUTE, WAITING, WAIT = "minute", "waiting", "wait"


class AlertMonitor:
    def __init__(self, config: AlertConfig = DEFAULT_CONFIG, catch_up_ms: int = HOUR_MS) -> None:
        self.config = config
        self.catch_up_ms = catch_up_ms
        self.rolling = RollingStore()
        self.waiting = AtRiskTracker(config.at_risk)
        self.engine = Engine(config.rules, catch_up_ms)
        self.anomalies = AnomalyDetector(config.anomalies, catch_up_ms)
        self.waits = WaitSamples()

    @property
    def wait_retention_ms(self) -> int:
        """How far back answered waits are kept: the longest percentile rule's window."""
        return max((r.window for r in self.engine.rules if r.metric in PERCENTILES), default=0)

    @property
    def retention_ms(self) -> int:
        """How far back windows are kept: the longest rule window plus the catch-up span."""
        longest = max(self.engine.max_window_ms, self.anomalies.max_window_ms)
        return longest + self.catch_up_ms + MINUTE_MS

    # -- inputs ------------------------------------------------------------------------------
    def apply_window(self, window: WindowKey, shard: int, version: int,
                     counts: Sequence[int]) -> bool:
        return self.rolling.apply(window, shard, version, counts)

    def apply_windows(self, shard: int, rows: Iterable[Any]) -> None:
        """`apply_window` for one shard's rows (window_start_ms, tenant, channel, queue,
        priority, version, *counts)."""
        self.rolling.apply_shard_rows(shard, rows)

    def apply_row(self, row: Sequence[Any]) -> bool:
        return self.rolling.apply_row(row)

    def apply_view(self, view: ContactView) -> None:
        self.waiting.apply_view(view)

    def record_wait(self, tenant_id: str, contact_id: str, dims: WaitDims,
                    answered_at: int | None, wait_ms: int | None) -> None:
        """A contact's current wait (None when it has no answer) for `wait_p90_s` rules."""
        if self.wait_retention_ms:
            self.waits.record(tenant_id, contact_id, dims, answered_at, wait_ms)

    def record_waits(self, rows: Iterable[Sequence[Any]]) -> None:
        """`record_wait` for rows (tenant, contact, channel, queue, priority, agent,
        answered_at, wait_ms) as `sqm.alert-inputs` sends them: the retention looked up once."""
        if self.wait_retention_ms:
            record = self.waits.record
            for t, c, ch, q, p, agent, answered_at, wait_ms in rows:
                record(t, c, (t, ch, q, p, agent), answered_at, wait_ms)

    def upsert_waiting(self, contact: WaitingContact) -> None:
        self.waiting.upsert(contact)

    def stop_waiting(self, tenant_id: str, contact_id: str, at_ms: int,
                     reason: str = "answered") -> None:
        self.waiting.stop(tenant_id, contact_id, at_ms, reason)

    # -- clock -------------------------------------------------------------------------------
    def evaluate(self, now_ms: int, supplied: Mapping[str, MetricSource] | None = None,
                 windows_ms: int | None = None, on_grid: bool = False) -> list[AlertChange]:
        """All changes due by `now_ms`: at-risk contacts, threshold rules, anomalies.

        `windows_ms` is how far the window rows are complete when that lags the clock (live:
        the shards' lowest watermark while `now_ms` is the wall clock); default `now_ms`, which
        is right for a replay, where both are the watermark. `on_grid` (the event clock):
        gauges and wait percentiles too at every whole minute, as of that minute, and no
        minute skipped when the clock jumps (a replay's batch can span hours of quiet event
        time; the first call starts at the earliest data), so the changes do not depend on
        when evaluate is called (docs/alerting.md).
        """
        upto = now_ms if windows_ms is None else min(windows_ms, now_ms)
        sources = {**{m: self.waits for m in PERCENTILES}, **(supplied or {})}
        # Rules first: the tracker forgets contacts that stopped by now_ms, and a grid minute
        # before now_ms still counts them when they were waiting at that minute.
        since = self._earliest() if on_grid and None in (
            self.engine.last_boundary, self.anomalies.last_boundary) else None
        rules = self.engine.evaluate(now_ms, self.rolling, self.waiting, sources, upto, on_grid,
                                     since)
        out = self.waiting.evaluate(now_ms)
        out += rules
        out += self.anomalies.evaluate(upto, self.rolling, not on_grid, since)
        # Later calls evaluate minutes from floor(upto) − catch-up on: older windows are dead.
        self.rolling.evict(upto - self.retention_ms)
        self.waits.evict(now_ms - self.wait_retention_ms)
        return out

    def _earliest(self) -> int | None:
        """The earliest event time the state holds (a window, a waiting contact, an answer):
        on the event clock the first evaluation starts there, however long ago (a small
        shop's replay can fit hours into the first batch)."""
        times = [*self.rolling.minutes()[:1],
                 *(e.c.clock_start_ms for e in self.waiting.entries.values()),
                 *self.waits.answer_times()]
        return min(times) if times else None

    def acknowledge(self, alert_id: str, now_ms: int) -> AlertChange | None:
        """firing → acknowledged; None when no firing rule or anomaly alert has this id
        (at-risk warnings last seconds to minutes and are not acknowledged)."""
        return self.engine.acknowledge(alert_id, now_ms) or self.anomalies.acknowledge(
            alert_id, now_ms)

    # -- state -------------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        return {
            "v": STATE_VERSION,
            "rolling": self.rolling.to_state(),
            "waiting": self.waiting.to_state(),
            "engine": self.engine.to_state(),
            "anomalies": self.anomalies.to_state(),
            "waits": self.waits.to_state(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], config: AlertConfig = DEFAULT_CONFIG,
                   catch_up_ms: int = HOUR_MS) -> AlertMonitor:
        if state.get("v") != STATE_VERSION:
            raise ValueError(f"alert state version {state.get('v')!r} is not {STATE_VERSION}")
        m = cls(config, catch_up_ms)
        m.rolling = RollingStore.from_state(state["rolling"])
        m.waiting = AtRiskTracker.from_state(state["waiting"], config.at_risk)
        m.engine = Engine.from_state(state["engine"], config.rules, catch_up_ms)
        m.anomalies = AnomalyDetector.from_state(state["anomalies"], config.anomalies, catch_up_ms)
        if "waits" in state:  # state written before wait percentiles has none
            m.waits = WaitSamples.from_state(state["waits"])
        return m

    # -- state in parts ----------------------------------------------------------------------
    def _meta(self) -> dict[str, Any]:
        return {"v": PARTS_VERSION, "horizon": self.rolling.horizon, "now": self.waiting.now,
                "engine": [self.engine.last_boundary, self.engine.last_now],
                "anomalies": self.anomalies.last_boundary, "waits": self.waits.horizon}

    def _small_parts(self) -> dict[PartKey, Any]:
        anomalies = self.anomalies.to_state()
        return {ENGINE: self.engine.machines.to_state(),
                ANOMALIES: {"tracks": anomalies["tracks"], "baselines": anomalies["baselines"]},
                META: self._meta()}

    def parts(self) -> dict[PartKey, Any]:
        """The whole state as parts."""
        out: dict[PartKey, Any] = {(MINUTE, m): self.rolling.minute_rows(m)
                                   for m in self.rolling.minutes()}
        for key in sorted(self.waiting.entries):
            out[(WAITING, *key)] = self.waiting.entry_row(key)
        for key in self.waits.keys():  # noqa: SIM118 (a method, not a dict)
            out[(WAIT, *key)] = self.waits.row(key)
        return out | self._small_parts()

    def changed_parts(self) -> dict[PartKey, Any | None]:
        """The parts that may have changed since the last call (None: gone), meta last."""
        out: dict[PartKey, Any | None] = {(MINUTE, m): self.rolling.minute_rows(m)
                                          for m in sorted(self.rolling.take_changed())}
        for key in sorted(self.waiting.take_changed()):
            out[(WAITING, *key)] = self.waiting.entry_row(key)
        for key in sorted(self.waits.take_changed()):
            out[(WAIT, *key)] = self.waits.row(key)
        return out | self._small_parts()

    @classmethod
    def from_parts(cls, parts: Mapping[PartKey, Any], config: AlertConfig = DEFAULT_CONFIG,
                   catch_up_ms: int = HOUR_MS) -> AlertMonitor:
        """Restore from `parts()` (or the latest value of every part `changed_parts` gave)."""
        meta = parts[META]
        if meta.get("v") != PARTS_VERSION:
            raise ValueError(f"alert state parts version {meta.get('v')!r} is not "
                             f"{PARTS_VERSION}")
        m = cls(config, catch_up_ms)
        m.rolling = RollingStore.from_minutes(
            meta["horizon"], {cast(int, k[1]): v for k, v in parts.items() if k[0] == MINUTE})
        m.waiting = AtRiskTracker.from_rows(
            meta["now"], [v for k, v in parts.items() if k[0] == WAITING], config.at_risk)
        last_boundary, last_now = meta["engine"]
        m.engine = Engine.from_state(
            {"tracks": parts.get(ENGINE, []), "last_boundary": last_boundary,
             "last_now": last_now}, config.rules, catch_up_ms)
        m.waits = WaitSamples.from_rows(
            meta.get("waits"), [v for k, v in parts.items() if k[0] == WAIT])
        anomalies = parts.get(ANOMALIES, {"tracks": [], "baselines": []})
        m.anomalies = AnomalyDetector.from_state(
            {**anomalies, "last_boundary": meta["anomalies"]}, config.anomalies, catch_up_ms)
        return m
