"""`take_paced` in a real Faust worker on the embedded broker: full batches at once, the next
batch without a wait once the pace allows it, the pace between batches that are not full, and
acknowledgements only for batches the consumer finished.

The time bounds are wide (the pace is 1.5 s; Faust's `take_events` would wait that long where
`take_paced` must not wait more than half of it), so machine load cannot flip them."""

from __future__ import annotations

import asyncio
import contextlib
import io
import signal
from typing import Any, cast

import faust
import pytest
from kafka import KafkaProducer

from sqm.streams.engine.faust.broker import (
    EMBEDDED_FAUST_SETTINGS,
    EmbeddedBroker,
    ensure_topics,
    free_port,
)
from sqm.streams.engine.faust.paced_take import take_paced

pytestmark = pytest.mark.integration

WITHIN = 1.5


def test_batches_are_paced_not_delayed_and_acked_only_when_done() -> None:
    batches: list[dict[str, Any]] = []
    with EmbeddedBroker() as broker:
        ensure_topics(broker.bootstrap, ["paced"], 1)
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
        for i in range(100):
            producer.send("paced", value=b"m%d" % i)
        producer.close()  # flushes
        app = faust.App("sqm-test-paced", broker=f"kafka://{broker.bootstrap}",
                        store="memory://", web_enabled=False, web_bind="127.0.0.1",
                        web_port=free_port(), **EMBEDDED_FAUST_SETTINGS)
        topic = app.topic("paced", key_serializer="raw", value_serializer="raw")
        # Its terminal spinner writes at exit: to a buffer of its own, not to pytest's capture.
        worker = faust.Worker(app, loglevel="ERROR", quiet=True, stdout=io.StringIO())

        @app.agent(topic)
        async def consume(stream: Any) -> None:
            loop = asyncio.get_running_loop()
            batches_in = take_paced(stream, 64, WITHIN)
            previous: list[Any] = []  # the last batch's events
            async for batch in batches_in:
                batches.append({
                    "start": loop.time(), "values": [e.value for e in batch],
                    "in_hand_acked": any(e.message.acked for e in batch),
                    "previous_acked": all(e.message.acked for e in previous),
                })
                previous = list(batch)
                if len(batches) == 1:
                    await asyncio.sleep(WITHIN + 0.3)  # slower than the pace
                elif len(batches) == 2:
                    await topic.send(value=b"late")  # arrives while the pace still holds
                else:
                    break  # abandoned, as when processing raises: never acknowledged
                batches[-1]["end"] = loop.time()
            await cast(Any, batches_in).aclose()
            batches[-1]["abandoned_acked"] = any(e.message.acked for e in previous)
            for e in previous:  # or Faust's stop would wait for them (wait_empty)
                await stream.ack(e)
            worker._schedule_shutdown(signal.SIGTERM)

        with contextlib.suppress(SystemExit):
            worker.execute_from_commandline()

    assert [len(b["values"]) for b in batches] == [64, 36, 1]
    assert [v for b in batches for v in b["values"]] == [
        *(b"m%d" % i for i in range(100)), b"late"]
    first, second, third = batches
    # Full: no wait. Not full, but the previous batch took longer than the pace: no wait either
    # (take_events would have waited WITHIN here).
    assert second["start"] - first["end"] < WITHIN / 2
    # Not full, the pace not yet passed: it waits for the pace, counted from the last start.
    assert third["start"] - second["start"] >= WITHIN
    assert not any(b["in_hand_acked"] for b in batches)
    assert second["previous_acked"] and third["previous_acked"]
    assert third["abandoned_acked"] is False
