"""Batches of events from a Faust stream, paced rather than delayed.

Faust's `Stream.take_events(max_, within)` yields when `max_` events are buffered or when
`within` seconds have passed since it started waiting. A stage that is behind therefore waits
`within` for every batch that is not full: the last batch of a replay, and every batch of the
alert stage, whose inputs (a few messages per customer batch) never fill it. Measured, that was
up to 0.5 s at each stage's end of a replay, most of the gap between the two rates the
pipeline benchmark prints.

`take_paced` keeps `within` as a pace instead: a batch starts when `max_` events are buffered,
or when `within` has passed since the previous batch started *and* `settle` has passed since
this batch's first event arrived (so the messages waiting in the stream's queue flow in first).
Live, a stage still makes at most one batch (one ClickHouse insert per table) per `within`;
behind, the next batch starts as soon as the previous one is done.

Built on the same stream hooks as `take_events` (a buffering processor, passive consumption,
manual acks) of the pinned faust-streaming 0.15.3, two of them private (`Stream._enable_passive`,
`Stream._processors`): Faust has no public way to buffer a stream with its acks held back.
tests/unit/test_engine_internals.py checks that `take_events` still uses each hook. Unlike it,
a batch's events are acknowledged only when the consumer asks for the next batch (or, with
`ack=False`, when the consumer says so): a batch whose processing raised or was cancelled is
never acknowledged, so it is processed again after a restart.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

from faust.types import EventT, StreamT
from mode.utils.futures import notify

SETTLE_S = 0.02  # how long a batch's first event waits for the ones queued behind it


async def take_paced(
    stream: StreamT, max_: int, within: float, settle: float = SETTLE_S, *, ack: bool = True
) -> AsyncIterator[list[EventT]]:
    """Batches of `stream`'s events. With `ack=False` the consumer acknowledges each batch
    itself (`acknowledge`), e.g. once work it left running on the batch is done."""
    s = cast(Any, stream)  # the hooks below are not in Faust's public types
    loop = asyncio.get_running_loop()
    events: list[EventT] = []
    full = asyncio.Event()
    consumed = asyncio.Event()
    arrived = asyncio.Event()
    consuming: asyncio.Future[None] | None = None
    first_at = 0.0

    async def add_to_buffer(value: Any) -> Any:
        nonlocal consuming, first_at
        try:
            if consuming is not None:  # a batch is out: hold this event back until it is done
                try:
                    await consuming
                finally:
                    consuming = None
            event = s.current_event
            if event is None:
                raise RuntimeError("take_paced found no current event")
            if not events:
                first_at = loop.time()
                arrived.set()
            events.append(event)
            if len(events) >= max_:
                full.set()
                consumed.clear()
                await s.wait(consumed)  # never more than max_ in a batch
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            s.log.exception("Error adding to take buffer: %r", exc)
            await s.crash(exc)
        return value

    enable_acks = s.enable_acks
    s.enable_acks = False  # acknowledged below, once the consumer is done with the batch
    s.add_processor(add_to_buffer)
    s._enable_passive(stream.channel.__aiter__())  # private, as take_events does
    last_start = float("-inf")
    try:
        while not s.should_stop:
            if not events:
                arrived.clear()
                # The timeout only bounds how long a stop request waits to be noticed.
                await s.wait_for_stopped(arrived, timeout=within)
                if not events:
                    continue
            wait_s = max(last_start + within, first_at + settle) - loop.time()
            if wait_s > 0 and len(events) < max_:
                await s.wait_for_stopped(full, timeout=wait_s)
            if not events or s.should_stop:
                continue
            last_start = loop.time()
            batch = list(events)
            consuming = loop.create_future()
            try:
                yield batch
                if ack:  # only after the consumer came back for more
                    await acknowledge(stream, batch)
            finally:
                events.clear()
                notify(consuming)
                full.clear()
                consumed.set()
    finally:
        s.enable_acks = enable_acks
        s._processors.remove(add_to_buffer)  # private, as take_events does (no remove API)


async def acknowledge(stream: StreamT, events: list[EventT]) -> None:
    """Acknowledge a batch `take_paced(..., ack=False)` gave (in the order batches came)."""
    s = cast(Any, stream)
    for event in events:
        await s.ack(event)
