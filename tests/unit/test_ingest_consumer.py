"""The ingest stage and its batch consumer, without a broker: a fake consumer and fake topics.

What must hold: a batch is committed only after `handle` returned (its sends delivered), with
each partition's last offset + 1; a batch read before a revocation is never committed; a failure
crashes the worker and commits nothing; a stop finishes and commits the batch in hand.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from aiokafka import TopicPartition

from sqm.streams.config import load_settings
from sqm.streams.core.records import EventRecord
from sqm.streams.core.routing import shard_for
from sqm.streams.core.validate import validate
from sqm.streams.core.wire import decode_chunk, encode_chunk
from sqm.streams.engine.faust.ingest import IngestStage, InputRecord
from sqm.streams.engine.faust.ingest_consumer import IngestConsumer, consumer_config, ingest_group
from sqm.streams.stats import PipelineStats

TOPIC = "sqm.events"


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    timestamp: int | None
    value: bytes | None


def rec(partition: int, offset: int, value: bytes = b"{}") -> Record:
    return Record(TOPIC, partition, offset, 1_772_326_800_123, value)


class FakeConsumer:
    """Hands out the queued batches one `getmany` at a time, then waits like a quiet topic.
    Like aiokafka after a rebalance, it hands out again what was not committed before it."""

    def __init__(self, batches: list[dict[int, list[Record]]], **config: Any) -> None:
        self.config = config
        self.batches = [{TopicPartition(TOPIC, p): rs for p, rs in b.items()} for b in batches]
        self.commits: list[dict[TopicPartition, int]] = []
        self.uncommitted: list[dict[TopicPartition, list[Record]]] = []
        self.listener: Any = None
        self.stopped = False
        self.calls: list[int] = []
        self.assigned = asyncio.Event()
        self.assigned.set()

    async def start(self) -> None: ...

    def subscribe(self, topics: list[str], listener: Any) -> None:
        self.listener = listener

    async def rebalance(self, revoked: set[int], assigned: set[int], log: list[str]) -> None:
        """Like aiokafka: no records are handed out between the revocation and the assignment."""
        self.assigned.clear()
        await self.listener.on_partitions_revoked({TopicPartition(TOPIC, p) for p in revoked})
        log.append("revoked")
        self.batches[:0], self.uncommitted = self.uncommitted, []  # back to the committed offsets
        await self.listener.on_partitions_assigned({TopicPartition(TOPIC, p) for p in assigned})
        self.assigned.set()

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[Any]]:
        await self.assigned.wait()
        self.calls.append(max_records)
        if self.batches:
            self.uncommitted.append(self.batches.pop(0))
            return dict(self.uncommitted[-1])
        await asyncio.sleep(timeout_ms / 1000)
        return {}

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(dict(offsets))
        self.uncommitted = [b for b in self.uncommitted
                            if any(rs[-1].offset >= offsets.get(tp, 0) for tp, rs in b.items())]

    async def stop(self) -> None:
        self.stopped = True


class Harness:
    def __init__(self, batches: list[dict[int, list[Record]]], *, batch_max: int = 100,
                 handle: Any = None) -> None:
        self.handled: list[list[tuple[int, int]]] = []
        self.crashes: list[BaseException] = []
        self.fake: FakeConsumer | None = None
        self.batches = batches

        def factory(**config: Any) -> FakeConsumer:
            self.fake = FakeConsumer(self.batches, **config)
            return self.fake

        async def crash(exc: BaseException) -> None:
            self.crashes.append(exc)

        self.consumer = IngestConsumer(
            TOPIC, handle or self.handle, {"group_id": "g"}, batch_max=batch_max,
            within_s=0.05, on_crash=crash, consumer_factory=factory,
        )

    async def handle(self, records: Sequence[InputRecord]) -> None:
        await asyncio.sleep(0)
        self.handled.append([(r.partition, r.offset) for r in records])

    @property
    def commits(self) -> list[dict[int, int]]:
        assert self.fake is not None
        return [{tp.partition: o for tp, o in c.items()} for c in self.fake.commits]


async def settle(until: Any, timeout: float = 2.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not until():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


def test_commits_each_batch_after_handling_it() -> None:
    async def main() -> Harness:
        h = Harness([{0: [rec(0, 5), rec(0, 6)], 1: [rec(1, 0)]}, {0: [rec(0, 7)]}], batch_max=3)
        await h.consumer.start()
        h.consumer.begin()
        await settle(lambda: len(h.commits) == 2)
        await h.consumer.stop()
        return h

    h = asyncio.run(main())
    assert h.handled == [[(0, 5), (0, 6), (1, 0)], [(0, 7)]]
    assert h.commits == [{0: 7, 1: 1}, {0: 8}]
    assert h.fake is not None and h.fake.stopped
    assert not h.crashes


def test_reads_nothing_before_the_worker_is_ready() -> None:
    async def main() -> Harness:
        h = Harness([{0: [rec(0, 0)]}])
        await h.consumer.start()
        await asyncio.sleep(0.1)
        assert h.fake is not None and h.fake.calls == []
        await h.consumer.stop()
        return h

    h = asyncio.run(main())
    assert h.handled == [] and h.commits == []


def test_tops_a_batch_up_to_batch_max() -> None:
    async def main() -> Harness:
        h = Harness([{0: [rec(0, 0)]}, {1: [rec(1, 0), rec(1, 1)]}, {0: [rec(0, 1)]}],
                    batch_max=3)
        await h.consumer.start()
        h.consumer.begin()
        await settle(lambda: len(h.commits) == 2)
        await h.consumer.stop()
        return h

    h = asyncio.run(main())
    assert h.handled == [[(0, 0), (1, 0), (1, 1)], [(0, 1)]]
    assert h.fake is not None and h.fake.calls[:2] == [3, 2]  # asks only for what is missing
    assert h.commits == [{0: 1, 1: 2}, {0: 2}]


def test_a_batch_revoked_while_forwarded_is_not_committed() -> None:
    async def main() -> tuple[Harness, list[str]]:
        gate = asyncio.Event()
        order: list[str] = []
        h: Harness

        async def slow(records: Sequence[InputRecord]) -> None:
            await gate.wait()
            order.append("forwarded")
            await h.handle(records)

        h = Harness([{0: [rec(0, 0)]}, {1: [rec(1, 0)]}], handle=slow, batch_max=1)
        await h.consumer.start()
        h.consumer.begin()
        await settle(lambda: not h.consumer._forwarding.is_set())
        assert h.fake is not None
        assert len(h.fake.uncommitted) == 2, "the second batch was read ahead"
        rebalance = asyncio.ensure_future(h.fake.rebalance({0, 1}, {0, 1}, order))
        await asyncio.sleep(0.05)
        assert order == [], "the revocation waits for the sends in flight"
        gate.set()
        await rebalance
        await settle(lambda: len(h.commits) == 2)
        await h.consumer.stop()
        return h, order

    h, order = asyncio.run(main())
    # The batch being forwarded went out but was not committed; the one read ahead was dropped
    # unsent. The next owner (here: us again) re-reads both from the committed offsets.
    assert order == ["forwarded", "revoked", "forwarded", "forwarded"]
    assert h.handled == [[(0, 0)], [(0, 0)], [(1, 0)]]
    assert h.commits == [{0: 1}, {1: 1}]


def test_batches_are_read_ahead_and_delivered_and_committed_in_order() -> None:
    async def main() -> tuple[Harness, list[str]]:
        events: list[str] = []
        h: Harness

        def handle(records: Sequence[InputRecord]) -> Any:
            # Like IngestStage.handle: work starts when the batch is read, delivery is awaited.
            offsets = [r.offset for r in records]
            events.append(f"start {offsets}")

            async def deliver() -> None:
                await asyncio.sleep(0.01)
                events.append(f"deliver {offsets}")
                await h.handle(records)
            return deliver()

        h = Harness([{0: [rec(0, i)]} for i in range(5)], handle=handle, batch_max=1)
        await h.consumer.start()
        h.consumer.begin()
        await settle(lambda: len(h.commits) == 5)
        await h.consumer.stop()
        return h, events

    h, events = asyncio.run(main())
    # Three batches are in hand at most (read_ahead): the fourth starts once the first is done.
    assert events[:4] == ["start [0]", "start [1]", "start [2]", "deliver [0]"]
    assert [e for e in events if e.startswith("deliver")] == [f"deliver [{i}]" for i in range(5)]
    assert h.commits == [{0: i + 1} for i in range(5)]


def test_a_failure_crashes_the_worker_and_commits_nothing() -> None:
    async def main() -> tuple[Harness, list[int]]:
        delivered: list[int] = []

        async def fail(records: Sequence[InputRecord]) -> None:
            delivered.append(records[0].offset)
            raise RuntimeError("ClickHouse is gone")

        h = Harness([{0: [rec(0, i)]} for i in range(5)], handle=fail, batch_max=1)
        await h.consumer.start()
        h.consumer.begin()
        await settle(lambda: h.crashes)
        await h.consumer.stop()
        return h, delivered

    h, delivered = asyncio.run(main())
    assert [str(e) for e in h.crashes] == ["ClickHouse is gone"]
    assert h.commits == []
    assert delivered == [0], "nothing delivered after the failure"
    assert h.fake is not None and h.fake.batches, "nothing read after the failure"


def test_a_stop_finishes_and_commits_the_batch_in_hand() -> None:
    async def main() -> Harness:
        gate = asyncio.Event()
        h: Harness

        async def slow(records: Sequence[InputRecord]) -> None:
            await gate.wait()
            await h.handle(records)

        h = Harness([{2: [rec(2, 40)]}], handle=slow)
        await h.consumer.start()
        h.consumer.begin()
        await settle(lambda: h.consumer._holding)
        stopping = asyncio.ensure_future(h.consumer.stop())
        await asyncio.sleep(0.05)
        assert h.fake is not None and not h.fake.stopped
        gate.set()
        await stopping
        return h

    h = asyncio.run(main())
    assert h.handled == [[(2, 40)]]
    assert h.commits == [{2: 41}]
    assert h.fake is not None and h.fake.stopped


def test_consumer_config_follows_the_broker_profile() -> None:
    from sqm.streams.engine.faust.app import build_app

    class NoWriter:
        client = None

        def retrying(self, call: Any) -> Any:
            return call()

    tansu = build_app(load_settings(broker_profile="tansu"), "127.0.0.1:1", NoWriter())  # type: ignore[arg-type]
    kafka = build_app(load_settings(kafka_bootstrap="k:9092", broker_profile="kafka"),
                      "k:9092", NoWriter())  # type: ignore[arg-type]
    t = consumer_config(tansu.app.conf, "127.0.0.1:1", "sqm")
    k = consumer_config(kafka.app.conf, "k:9092", "sqm")
    assert t["group_id"] == k["group_id"] == ingest_group("sqm") == "sqm-ingest"
    assert t["session_timeout_ms"] == 10_000 and t["heartbeat_interval_ms"] == 1_000
    assert k["session_timeout_ms"] > t["session_timeout_ms"]
    assert not t["enable_auto_commit"] and t["auto_offset_reset"] == "earliest"


# --- the stage on plain records -------------------------------------------------------------


class FakeTopic:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, bytes, int | None]] = []

    async def send(self, key: bytes, value: bytes, partition: int | None = None) -> Any:
        self.sent.append((key, value, partition))
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


class FakeWriter:
    def __init__(self) -> None:
        self.batches: list[dict[str, Any]] = []

    async def write_async(self, batch: dict[str, Any]) -> None:
        self.batches.append(batch)


EVENT = {"event_id": "e1", "type": "contact.queued", "occurred_at": "2026-03-02T09:00:05+08:00",
         "tenant_id": "t1", "contact_id": "c1", "customer_id": "u1", "channel": "chat",
         "queue": "billing", "schema_version": 1}


def test_stage_forwards_valid_records_and_dead_letters_the_rest() -> None:
    settings = load_settings(partitions=4)
    by_customer, dead_letters, writer = FakeTopic(), FakeTopic(), FakeWriter()
    stats = PipelineStats()
    stage = IngestStage(settings, writer, stats, by_customer, dead_letters)  # type: ignore[arg-type]
    records = [rec(3, 10, orjson.dumps(EVENT)), rec(3, 11, b"not json"),
               Record(TOPIC, 1, 7, None, None)]
    asyncio.run(stage.handle(records))

    target = shard_for("t1", "u1", 4)
    [(key, value, partition)] = by_customer.sent
    assert (key, partition) == (str(target).encode(), target)
    source, events, progress = decode_chunk(value)
    assert source == 3 and [e.event_id for e in events] == ["e1"] and progress is None
    assert events[0].queue == "billing"

    [batch] = writer.batches
    rows = batch["dead_letters"]
    assert [r["dl_id"] for r in rows] == [f"{TOPIC}:3:11", f"{TOPIC}:1:7"]
    # The record's own timestamp, so a re-delivered dead letter merges with the first one.
    assert rows[0]["received_at"] == datetime(2026, 3, 1, 1, 0, 0, 123000, tzinfo=UTC)
    assert [k for k, _, _ in dead_letters.sent] == [f"{TOPIC}:3:11".encode(),
                                                     f"{TOPIC}:1:7".encode()]
    assert (stats.read, stats.forwarded, stats.dead_lettered) == (3, 1, 2)


@pytest.mark.parametrize("bad", [b"", b"[]"])
def test_stage_never_raises_on_bad_bytes(bad: bytes) -> None:
    stage = IngestStage(load_settings(), FakeWriter(), PipelineStats(),  # type: ignore[arg-type]
                        FakeTopic(), FakeTopic())  # type: ignore[arg-type]
    asyncio.run(stage.handle([rec(0, 0, bad)]))


def test_chunks_are_positional_and_older_dict_chunks_still_decode() -> None:
    record = validate(orjson.dumps(EVENT))
    assert isinstance(record, EventRecord)
    by_customer = FakeTopic()
    stage = IngestStage(load_settings(partitions=4), FakeWriter(), PipelineStats(),  # type: ignore[arg-type]
                        by_customer, FakeTopic())  # type: ignore[arg-type]
    asyncio.run(stage.handle([rec(0, 0, orjson.dumps(EVENT))]))
    [(_, value, _)] = by_customer.sent
    assert isinstance(orjson.loads(value)["events"][0], list)
    assert decode_chunk(value) == (0, [record], None)
    older = encode_chunk(2, [orjson.dumps(record.to_wire())])
    assert decode_chunk(older) == (2, [record], None)
