"""The ingest stage's work on one batch, as a pure function: raw values → `sqm.by-customer`
messages and rejections.

Pure so that it can run in a child process (`streams/ingest_pool.py`): validating and
re-encoding is most of the ingest stage's CPU, and in the worker's event loop it competed with
the customer and alert stages for the one core the GIL gives them. Its inputs and outputs are
plain, picklable data; nothing here touches Kafka, ClickHouse or the clock.
"""

from __future__ import annotations

import marshal
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from sqm.streams.core.records import WIRE_CUSTOMER, WIRE_EVENT_ID, WIRE_TENANT, WIRE_TS
from sqm.streams.core.routing import shard_for
from sqm.streams.core.validate import Rejection, validate_wire
from sqm.streams.core.wire import encode_chunk

CHUNK_BYTES = 512 * 1024  # well under the 1 MiB default message limit of a real Kafka
DAY_MS = 86_400_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class RoutedBatch:
    """`chunks`: (target partition, source partition, message value), in the order to send;
    `rejections`: (index of the value in the batch, why); `marks`: the latest event time of
    the valid events per source partition (the shards' event clock, core/input_progress.py)."""

    chunks: list[tuple[int, int, bytes]] = field(default_factory=list)
    rejections: list[tuple[int, Rejection]] = field(default_factory=list)
    forwarded: int = 0
    marks: dict[int, int] = field(default_factory=dict)
    # Per chunk, the index in the batch of each of its events (where it came from: the direct
    # runner's dead letters name the file's line).
    positions: list[list[int]] = field(default_factory=list)
    # `route_batch(..., encode=False)`: the chunks' events in their positional wire form
    # (`EventRecord.to_wire_list`) instead of `chunks`, one chunk per (target, source).
    wires: list[tuple[int, int, list[list[Any]]]] = field(default_factory=list)

    def __reduce__(self) -> tuple[Any, ...]:
        # Sent from the ingest child to the worker: marshal writes and reads these plain
        # lists at half pickle's cost (no memo); the rare rejections stay pickled.
        plain = (self.chunks, self.forwarded, self.marks, self.positions, self.wires)
        return _unpack, (marshal.dumps(plain), self.rejections)


def _unpack(plain: bytes, rejections: list[tuple[int, Rejection]]) -> RoutedBatch:
    chunks, forwarded, marks, positions, wires = marshal.loads(plain)
    return RoutedBatch(chunks, rejections, forwarded, marks, positions, wires)


def route_batch(values: Sequence[bytes | None], sources: Sequence[int], partitions: int,
                horizon_ms: int, max_future_s: int, max_past_days: int = 0, *,
                encode: bool = True) -> RoutedBatch:
    """Validate `values` (read from input partitions `sources`, position by position) and pack
    the valid ones, in their order, into one message per (target, source) partition pair,
    split at `CHUNK_BYTES`. An event dated after `horizon_ms` (the wall clock plus
    `max_future_s`, taken by the caller) is rejected: it would drag its partition's watermark
    ahead and make every later event look late. So is one more than `max_past_days` whole
    days before that wall clock (0: no limit): a placeholder date such as 1970-01-01 is not
    an event time.

    `encode=False` (the direct runner, whose stages run in the process this batch is handed
    to): the events stay wire lists in `wires`, unsplit, since no message limit applies there;
    pickling lists to the caller costs a third of encoding them to JSON and decoding again."""
    if not encode:
        return _route_lists(values, sources, partitions, horizon_ms, max_future_s,
                            max_past_days)
    chunks: dict[tuple[int, int], list[list[bytes]]] = {}
    where: dict[tuple[int, int], list[list[int]]] = {}
    sizes: dict[tuple[int, int], int] = {}
    rejections: list[tuple[int, Rejection]] = []
    marks: dict[int, int] = {}
    forwarded = 0
    for i, part, result in _routed(values, sources, partitions, horizon_ms, max_future_s,
                                   max_past_days, rejections, marks):
        # Positional: about half the encode and decode cost of the dict form.
        wire = orjson.dumps(result)
        pieces = chunks.get(part)
        if pieces is None:
            pieces = chunks[part] = [[]]
            where[part] = [[]]
            sizes[part] = 0
        if sizes[part] + len(wire) > CHUNK_BYTES and pieces[-1]:
            pieces.append([])
            where[part].append([])
            sizes[part] = 0
        pieces[-1].append(wire)
        where[part][-1].append(i)
        sizes[part] += len(wire)
        forwarded += 1
    out = [(target, source, encode_chunk(source, piece))
           for (target, source), pieces in chunks.items() for piece in pieces]
    positions = [at for part in chunks for at in where[part]]
    return RoutedBatch(out, rejections, forwarded, marks, positions)


def _route_lists(values: Sequence[bytes | None], sources: Sequence[int], partitions: int,
                 horizon_ms: int, max_future_s: int, max_past_days: int) -> RoutedBatch:
    """`route_batch(..., encode=False)`."""
    lists: dict[tuple[int, int], list[list[Any]]] = {}
    where: dict[tuple[int, int], list[int]] = {}
    rejections: list[tuple[int, Rejection]] = []
    marks: dict[int, int] = {}
    for i, part, result in _routed(values, sources, partitions, horizon_ms, max_future_s,
                                   max_past_days, rejections, marks):
        events = lists.get(part)
        if events is None:
            events = lists[part] = []
            where[part] = []
        events.append(result)
        where[part].append(i)
    return RoutedBatch([], rejections, sum(map(len, lists.values())), marks,
                       [where[part] for part in lists],
                       [(target, source, events) for (target, source), events in lists.items()])


def _routed(values: Sequence[bytes | None], sources: Sequence[int], partitions: int,
            horizon_ms: int, max_future_s: int, max_past_days: int,
            rejections: list[tuple[int, Rejection]], marks: dict[int, int],
            ) -> Iterator[tuple[int, tuple[int, int], list[Any]]]:
    """Each valid value's index, (target, source) partitions and wire list; the rejected ones
    go to `rejections`, and `marks` keeps each source's latest valid event time."""
    now_ms = horizon_ms - max_future_s * 1000
    # Rejected at or before the floor: (now − ts) // DAY_MS > max_past_days.
    floor_ms = now_ms - (max_past_days + 1) * DAY_MS if max_past_days > 0 else None
    for i, value in enumerate(values):
        result = validate_wire(value or b"")
        if type(result) is list and result[WIRE_TS] > horizon_ms:
            ahead_s = (result[WIRE_TS] - horizon_ms) / 1000 + max_future_s
            result = Rejection(
                f"occurred_at is {ahead_s:.0f} s in the future (at most {max_future_s} s "
                "allowed)", result[WIRE_EVENT_ID], result[WIRE_TENANT],
            )
        elif type(result) is list and floor_ms is not None and result[WIRE_TS] <= floor_ms:
            result = Rejection(past_reason(result[WIRE_TS], now_ms, max_past_days),
                               result[WIRE_EVENT_ID], result[WIRE_TENANT])
        if isinstance(result, Rejection):
            rejections.append((i, result))
            continue
        source = sources[i]
        if result[WIRE_TS] > marks.get(source, -1):
            marks[source] = result[WIRE_TS]
        yield i, (shard_for(result[WIRE_TENANT], result[WIRE_CUSTOMER], partitions),
                  source), result


def past_reason(ts_ms: int, now_ms: int, max_past_days: int) -> str:
    """`occurred_at 1970-01-01T00:00:00Z is 20,791 days in the past (at most 3,660 allowed)`:
    whole days before the wall clock at ingest."""
    try:
        moment = _EPOCH + timedelta(milliseconds=ts_ms)
        when = moment.isoformat(timespec="milliseconds" if ts_ms % 1000 else "seconds")
        when = when.replace("+00:00", "Z")
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is in year 0 in UTC
        when = "before 0001-01-01T00:00:00Z"
    days = (now_ms - ts_ms) // DAY_MS
    return f"occurred_at {when} is {days:,} days in the past (at most {max_past_days:,} allowed)"
