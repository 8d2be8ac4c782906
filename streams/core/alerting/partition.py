"""The alert stage's state and its changelog: per partition, one record per part of the state.

A partition's state is its `AlertMonitor` and the latest watermark of every customer shard. It
is kept in the stage's `PartitionedStateStore` (a Faust table in a worker) in parts
(`AlertMonitor.parts`), each under its own key, JSON `[partition, *part key]`:

    [p, "minute", m]                one minute's window rows
    [p, "waiting", tenant, contact] one waiting contact
    [p, "wait", tenant, contact]    one answered contact's wait (for wait_p90_s rules)
    [p, "engine"], [p, "anomalies"] the alert tracks (and anomaly baselines)
    [p, "meta"]                     clocks, horizon, shard watermarks and a write count

After a batch only the parts whose value changed are written; a part that is gone (an evicted
minute, a contact that stopped waiting) gets a tombstone. The meta record is written last, in
every flush that writes anything, so a recovery that re-read any part also re-read a meta (see
`AlertStateStore.get`). On a compacted changelog (real Kafka) the latest value per key is
exactly the state. Before this layout the whole state was one record under the key `p` (written
after every batch and tick): such a record is still read, written out as parts at the next
flush, and deleted after their meta. (Going back to an older sqm is not supported: it would not
read the parts.)

The state holds what its changelog holds (bytes per part), except under the meta key,
where the live `PartitionAlerts` replaces the bytes once built. A recovery that writes the meta
key again (a rebalance re-reads the changelog) makes the next `get` rebuild from the parts.
"""

from __future__ import annotations

from typing import Any

import orjson

from sqm.streams.core.alerting import AlertChange, AlertConfig, AlertMonitor
from sqm.streams.core.alerting.at_risk import WaitingContact
from sqm.streams.core.alerting.gauges import LEGACY
from sqm.streams.core.alerting.monitor import META, PartKey
from sqm.streams.core.ports import PartitionedStateStore, PartitionState


class PartitionAlerts:
    """The monitor of one alert partition and the latest watermark of every shard."""

    def __init__(self, monitor: AlertMonitor, watermarks: dict[int, int] | None = None) -> None:
        self.monitor = monitor
        self.watermarks = watermarks or {}
        self.shards = 0  # how many shards feed it (0: not told, as before the true clock)
        self.closed: set[int] = set()  # shards whose every input partition is idle
        self.evaluated: int | None = None  # the event-clock time evaluated up to
        self.writes = 0  # flushes that wrote something (the meta record's `seq`)
        self.meta_written: bytes | None = None  # the meta content last written (without seq)
        self.rewrite = False  # write every part at the next flush, clearing other keys

    @property
    def clock(self) -> int | None:
        """The lowest shard clock, once every shard has reported (None before)."""
        if not self.watermarks or len(self.watermarks) < self.shards:
            return None
        return min(self.watermarks.values()) or None

    def complete_until(self, lateness_ms: int) -> int | None:
        """Event time up to which every window and waiting interval is final: the clock less
        the allowed lateness (a shard still accepts events that late), or, once every shard's
        input has ended, everything read. None while not every shard has reported."""
        clock = self.clock
        if clock is None:
            return None
        if self.shards and len(self.closed) >= self.shards:
            return max(self.watermarks.values())
        return clock - lateness_ms

    @property
    def all_closed(self) -> bool:
        return bool(self.shards) and len(self.closed) >= self.shards

    def evaluate_event_clock(self, lateness_ms: int) -> list[AlertChange]:
        """Evaluate every minute no event can still change, once: the same alerts, ids, start
        times and values at any partition count and batching (docs/alerting.md)."""
        until = self.complete_until(lateness_ms)
        if until is None or (self.evaluated is not None and until <= self.evaluated):
            return []
        self.evaluated = until
        return self.monitor.evaluate(until, on_grid=True)

    def apply(self, message: bytes) -> list[AlertChange]:
        """Apply one `sqm.alert-inputs` message; a person's acknowledgement may change an alert."""
        data = orjson.loads(message)
        if "ack" in data:
            change = self.monitor.acknowledge(data["ack"], data["at"])
            return [change] if change is not None else []
        shard = data["shard"]
        self.watermarks[shard] = max(self.watermarks.get(shard, 0), data["wm"])
        self.shards = max(self.shards, data.get("shards", 0))
        if data.get("closed"):
            self.closed.add(shard)
        else:
            self.closed.discard(shard)
        m = self.monitor
        m.apply_windows(shard, data["windows"])
        for row in data["waiting"]:
            t, c, ch, q, p, start, target, stop_at, reason = row[:9]
            due = row[9] if len(row) > 9 else LEGACY  # sent by a sqm without due times
            stop = None if stop_at is None else (stop_at, reason)
            m.waiting.record(WaitingContact(t, c, ch, q, p, start, target, due), stop)
        m.record_waits(data.get("waits", ()))
        return []

    def meta(self, monitor_meta: Any) -> dict[str, Any]:
        """The meta record's content but its write count."""
        marks = {str(k): v for k, v in sorted(self.watermarks.items())}
        return {"watermarks": marks, "monitor": monitor_meta, "shards": self.shards,
                "closed": sorted(self.closed), "evaluated": self.evaluated}

    # -- the single-record format of earlier versions (read when upgrading in place) ---------
    def encode(self) -> bytes:
        """The whole state as one record, as sqm wrote it before the parts layout."""
        marks = {str(k): v for k, v in self.watermarks.items()}
        return orjson.dumps({"monitor": self.monitor.to_state(), "watermarks": marks})

    @classmethod
    def decode(cls, data: bytes, config: AlertConfig) -> PartitionAlerts:
        state = orjson.loads(data)
        marks = {int(k): v for k, v in state["watermarks"].items()}
        return cls(AlertMonitor.from_state(state["monitor"], config), marks)


def table_key(partition: int, part: PartKey) -> str:
    return orjson.dumps([partition, *part]).decode()


def legacy_key(partition: int) -> str:
    return str(partition)


def partition_prefix(partition: int) -> str:
    """What every parts-layout key of `partition` starts with (`[3,` is not a prefix of
    `[30,...]`), and no legacy key does."""
    return f"[{partition},"


def parse_key(key: bytes | str) -> tuple[int, PartKey] | None:
    """(partition, part key) of a parts-layout key; None for anything else (a legacy key)."""
    try:
        parsed = orjson.loads(key)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(parsed, list) or len(parsed) < 2 or not isinstance(parsed[0], int):
        return None
    return parsed[0], tuple(parsed[1:])


class AlertStateStore:
    """The alert stage's partitions over a `PartitionedStateStore` (keys as above; values the
    bytes of each part, and the live `PartitionAlerts` under the meta key once built)."""

    def __init__(self, store: PartitionedStateStore, config: AlertConfig) -> None:
        self.store = store
        self.config = config

    def get(self, p: int) -> PartitionAlerts:
        state = self.store.partition(p)
        meta_key = table_key(p, META)
        value = state.get(meta_key)
        if isinstance(value, PartitionAlerts):
            return value
        parts = self._stored(state, p)
        legacy = state.get(legacy_key(p))
        if isinstance(value, bytes):
            meta = orjson.loads(value)
            monitor = AlertMonitor.from_parts({**parts, META: meta["monitor"]}, self.config)
            part = PartitionAlerts(monitor, {int(k): v for k, v in meta["watermarks"].items()})
            part.shards = meta.get("shards", 0)  # absent: written before the true clock
            part.closed = set(meta.get("closed", ()))
            part.evaluated = meta.get("evaluated")
            part.writes = meta["seq"]
            part.meta_written = orjson.dumps(part.meta(meta["monitor"]))
            part.rewrite = legacy is not None
        elif isinstance(legacy, bytes):
            part = PartitionAlerts.decode(legacy, self.config)
            part.rewrite = True
        else:
            # Parts without a meta record: the first flush of this partition never finished.
            part = PartitionAlerts(AlertMonitor(self.config))
            part.rewrite = bool(parts)
        state.keep(meta_key, part)
        return part

    def _stored(self, state: PartitionState, p: int) -> dict[PartKey, Any]:
        out: dict[PartKey, Any] = {}
        for key in state.keys((partition_prefix(p),)):
            parsed = parse_key(key)
            value = state.get(key)
            if parsed is not None and parsed[1] != META and value:
                out[parsed[1]] = orjson.loads(value)
        return out

    def flush(self, p: int, part: PartitionAlerts) -> int:
        """Write the parts of partition `p` that changed since the last flush, meta last;
        the number of records written.

        A rewrite (after reading the single-record format, or parts without a meta record)
        deletes the partition's other keys first, writes every part, and deletes the old
        single record only after the meta: a crash before that leaves the old record to read.
        """
        state = self.store.partition(p)
        monitor = part.monitor
        changed: dict[PartKey, Any] = monitor.parts() if part.rewrite else monitor.changed_parts()
        monitor_meta = changed.pop(META)
        meta_key, old_key = table_key(p, META), legacy_key(p)
        n = 0
        if part.rewrite:
            keep = {table_key(p, k) for k in changed} | {meta_key}
            for key in [k for k in state.keys((partition_prefix(p),)) if k not in keep]:
                n += _put(state, key, None)
        for k, value in changed.items():
            n += _put(state, table_key(p, k), None if value is None else orjson.dumps(value))
        meta = part.meta(monitor_meta)
        content = orjson.dumps(meta)
        if n or content != part.meta_written:
            part.writes += 1
            part.meta_written = content
            state.put(meta_key, part, orjson.dumps({"seq": part.writes, **meta}))
            n += 1
        else:
            state.keep(meta_key, part)
        if part.rewrite:
            n += _put(state, old_key, None)
            part.rewrite = False
        return n


def _put(state: PartitionState, key: str, value: bytes | None) -> int:
    """Store and write one part if it differs from what is stored; 1 if written."""
    if value is None:
        if state.get(key) is None:
            return 0  # never written (added and gone between two flushes)
        state.delete(key)
    else:
        if state.get(key) == value:
            return 0
        state.put(key, value, value)
    return 1
