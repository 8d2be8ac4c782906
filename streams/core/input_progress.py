"""What the ingest stage tells every shard about the input partitions it owns.

The shards' event clock is a true low watermark: the minimum over every input partition that
can still feed them (core/state.py `ShardMeta.low_watermark`). A shard sees only the events
routed to it, so the ingest stage, which reads whole partitions, reports after every batch, for
each partition it owns: the latest event time read, and whether the partition is idle. Idle
(it no longer holds the clock back), as in Flink and Kafka Streams:
- at the end of a replay's input: every record produced to the partition was delivered;
- live, when `idle_after_s` is set: no record read from it for that long (wall time).

Reports are built in delivery order, each from what was delivered up to and including its own
batch (batches read ahead are not delivered yet), and sent after that batch's events on the
same partitions, so a shard never hears of progress before the events it covers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqm.streams.core.state import Progress


class InputProgress:
    def __init__(self, idle_after_s: float | None = None) -> None:
        self.idle_after_s = idle_after_s
        self.sources = 0  # the input topic's partition count (0: not known yet)
        self.assigned: set[int] = set()
        self.marks: dict[int, int] = {}  # latest event time delivered, per partition
        self.delivered: dict[int, int] = {}  # next offset after the last record delivered
        self.last_seen: dict[int, float] = {}  # when a record was last read (monotonic s)
        self.end: dict[int, int] | None = None  # end of input, once known (a replay)
        self._last_report: Progress | None = None

    def assign(self, starts: Mapping[int, int], sources: int, now: float) -> None:
        """Partitions assigned, with the offset each starts reading at."""
        self.sources = max(self.sources, sources)
        for p, offset in starts.items():
            self.assigned.add(p)
            self.delivered[p] = offset
            self.last_seen[p] = now

    def revoke(self, partitions: Iterable[int]) -> None:
        for p in partitions:
            self.assigned.discard(p)

    def seen(self, partitions: Iterable[int], now: float) -> None:
        """Records of `partitions` were read (maybe ahead of delivery)."""
        for p in partitions:
            self.last_seen[p] = now

    def deliver(self, next_offsets: Mapping[int, int], marks: Mapping[int, int]) -> None:
        """A batch was delivered: where each partition's records ended, and the latest event
        time among its valid events."""
        for p, offset in next_offsets.items():
            if offset > self.delivered.get(p, 0):
                self.delivered[p] = offset
        for p, mark in marks.items():
            if mark > self.marks.get(p, 0):
                self.marks[p] = mark

    def end_of_input(self, end: Mapping[int, int], sources: int) -> None:
        """Nothing will be produced to the input beyond `end` (next offsets per partition;
        a partition absent got nothing)."""
        self.sources = max(self.sources, sources)
        self.end = {p: end.get(p, 0) for p in range(sources)}

    def idle(self, p: int, now: float) -> bool:
        if self.end is not None and self.delivered.get(p, 0) >= self.end.get(p, 0):
            return True
        if self.idle_after_s:
            return now - self.last_seen.get(p, now) >= self.idle_after_s
        return False

    def report(self, now: float) -> Progress | None:
        """The progress of the partitions owned now (None before any is known)."""
        if not self.sources or not self.assigned:
            return None
        mine = sorted(self.assigned)
        progress = Progress(self.sources, {p: self.marks.get(p, 0) for p in mine},
                            frozenset(p for p in mine if self.idle(p, now)))
        self._last_report = progress
        return progress

    def heartbeat_due(self, now: float) -> bool:
        """Between batches: a report is due when it would differ from the last one sent
        (a partition turned idle, the input ended)."""
        if not self.sources or not self.assigned:
            return False
        last = self._last_report
        if last is None:
            return True
        mine = sorted(self.assigned)
        idle = frozenset(p for p in mine if self.idle(p, now))
        return idle != last.idle or set(mine) != set(last.marks)
