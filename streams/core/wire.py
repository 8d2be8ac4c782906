"""Every message format between the stages, in one place (bytes in, bytes out).

- `sqm.by-customer`: a chunk of validated events from one input partition in the positional
  wire form (`encode_chunk`), or the ingest stage's progress report (`encode_progress`);
  `decode_chunk` reads both, and the dict form of older versions.
- `sqm.alert-inputs`: a shard's window rows, waiting intervals, waits and clock for one alert
  partition (`alert_inputs`), or a person's acknowledgement (`ack_message`).
- `sqm.dead-letters`: the dead-letter row as JSON (`dead_letter_message`).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from sqm.streams.core.alerting.at_risk import stopped_waiting, waiting_contact
from sqm.streams.core.derive import ContactView
from sqm.streams.core.records import EventRecord
from sqm.streams.core.rollup import WindowKey
from sqm.streams.core.state import Progress


def encode_chunk(source: int, events: list[bytes]) -> bytes:
    """A `sqm.by-customer` message: the input partition the events came from, and the events."""
    return b'{"source":%d,"events":[' % source + b",".join(events) + b"]}"


def encode_progress(progress: Progress) -> bytes:
    """A `sqm.by-customer` message with no events: the ingest stage's progress report."""
    return orjson.dumps({"source": -1, "events": [], "progress": progress.to_json()})


def decode_chunk(value: bytes) -> tuple[int, list[EventRecord], Progress | None]:
    """A `sqm.by-customer` message: its source partition, events and progress report."""
    data = orjson.loads(value)
    progress = data.get("progress")
    # Either wire form: a topic written by an older sqm (dicts) may still hold messages.
    return (data["source"], [EventRecord.from_wire_any(d) for d in data["events"]],
            None if progress is None else Progress.from_json(progress))


def dead_letter_message(row: dict[str, Any]) -> bytes:
    """The dead-letter topic's JSON: the table row, with the time as RFC 3339."""
    return orjson.dumps({**row, "received_at": row["received_at"].isoformat()})


def alert_partition(tenant_id: str, partitions: int) -> int:
    return zlib.crc32(tenant_id.encode()) % partitions


def ack_message(alert_id: str, at_ms: int) -> bytes:
    """A person's acknowledgement, sent to every alert partition: only the one holding the
    firing alert changes it (firing → acknowledged; it still resolves by itself)."""
    return orjson.dumps({"ack": alert_id, "at": at_ms})


def alert_inputs(
    shard: int,
    low_watermark: int,
    windows: Iterable[tuple[WindowKey, list[int], int]],
    contacts: Iterable[tuple[ContactView, int]],
    partitions: int,
    before: Mapping[tuple[str, str], ContactView | None] | None = None,
    *,
    closed: bool = False,
    shards: int = 0,
    split: bool = True,
) -> dict[int, list[bytes]]:
    """The `sqm.alert-inputs` messages for each alert partition (one, or several when large);
    every partition gets the watermark (a tick), so its clock moves even when this shard has
    nothing else for it. `shards` (how
    many shards there are) lets the alert stage wait for every one of them; `closed` says
    every input partition of this shard is idle (the end of a replay's input).

    With `before` (each changed contact's view at the batch start, `ShardResult.before`), a
    contact's wait and waiting interval are sent only when they differ from the batch start's:
    the alert stage has the rest already. Without it, every contact is sent (idempotent, but a
    contact whose interval the alert stage already closed would repeat its changes).
    """
    out: dict[int, dict[str, Any]] = {
        p: {"shard": shard, "wm": low_watermark, "shards": shards, "closed": closed,
            "windows": [], "waiting": [], "waits": []}
        for p in range(partitions)
    }
    # Tenants are few: each one's partition hashed once per call, not once per row.
    partition_of: dict[str, int] = {}
    for key, counts, version in windows:
        p = partition_of.get(key[1])
        if p is None:
            p = partition_of[key[1]] = alert_partition(key[1], partitions)
        # Rows are tuples (orjson writes arrays alike): a tuple of plain values leaves the
        # collector's lists at its first pass, where thousands of lists would stay to be rescanned.
        out[p]["windows"].append((*key, version, *counts))
    for view, _ in contacts:
        wait = _wait_row(view)
        if wait is None:
            continue  # no clock start: outside the SLA metrics
        waiting = _waiting_row(view)
        if before is not None:
            contact = (view.tenant_id, view.contact_id)
            if contact not in before:
                continue  # only re-written (a duplicate): nothing new for the alert stage
            old = before[contact]
            if old is not None:
                if _wait_row(old) == wait:
                    wait = None
                if _waiting_row(old) == waiting:
                    waiting = None
        p = partition_of.get(view.tenant_id)
        if p is None:
            p = partition_of[view.tenant_id] = alert_partition(view.tenant_id, partitions)
        message = out[p]
        if wait is not None:
            message["waits"].append(wait)
        if waiting is not None:
            message["waiting"].append(waiting)
    if not split:
        return {p: [orjson.dumps(m)] for p, m in out.items()}
    return {p: _chunked(m) for p, m in out.items()}


ALERT_INPUT_BYTES = 512 * 1024  # well under Kafka's default 1 MiB message limit


def _chunked(message: dict[str, Any]) -> list[bytes]:
    """One message, or several each under `ALERT_INPUT_BYTES` when its rows are many (a batch
    of 4,000 changed contacts of one tenant came to ~950 KiB). Each part carries the shard's
    clock; the alert stage applies them one by one, the same as one message."""
    whole = orjson.dumps(message)
    if len(whole) <= ALERT_INPUT_BYTES:
        return [whole]
    head = {k: v for k, v in message.items() if k not in ROW_KINDS}
    base = len(orjson.dumps({**head, **{k: [] for k in ROW_KINDS}}))
    parts: list[bytes] = []
    rows: dict[str, list[Any]] = {k: [] for k in ROW_KINDS}
    size = base
    for kind in ROW_KINDS:
        for row in message[kind]:
            n = len(orjson.dumps(row)) + 1
            if size + n > ALERT_INPUT_BYTES and size > base:
                parts.append(orjson.dumps({**head, **rows}))
                rows, size = {k: [] for k in ROW_KINDS}, base
            rows[kind].append(row)
            size += n
    parts.append(orjson.dumps({**head, **rows}))
    return parts


ROW_KINDS = ("windows", "waiting", "waits")


def _wait_row(view: ContactView) -> tuple[Any, ...] | None:
    """Its current wait, or none (an answer can disappear: a late abandon before it); None for
    a contact without a clock start."""
    if view.queued_at is None:
        return None
    return (view.tenant_id, view.contact_id, view.channel, view.queue, view.priority,
            view.first_agent_id or "", view.answered_at, view.wait_ms)


def _waiting_row(view: ContactView) -> tuple[Any, ...] | None:
    """The whole waiting interval, also when it already ended: the alert stage then raises
    the same warnings whether it saw the contact waiting or only afterwards. None for a
    contact never offered to a queue (it never waits, never warns)."""
    if view.queued_at is None or not view.has_queued:
        return None
    stop = None if waiting_contact(view) is not None else stopped_waiting(view)
    start = view.sla_start_at if view.sla_start_at is not None else view.queued_at
    return (view.tenant_id, view.contact_id, view.channel, view.queue, view.priority,
            start, view.sla_target_s, *(stop or (None, None)), view.sla_due_at)
