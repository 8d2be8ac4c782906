"""RecordBatches on the embedded broker: what arrives is exactly what Faust's per-record sends
would have written (partitions, order, keys, tombstones), also across full batches."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from sqm.streams.engine.faust.broker import EmbeddedBroker, ensure_topics
from sqm.streams.engine.faust.record_batches import RecordBatches

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def bootstrap() -> Iterator[str]:
    with EmbeddedBroker() as b:
        ensure_topics(b.bootstrap, ["log", "keyed", "ref", "big"], 4)
        yield b.bootstrap


Records = dict[int, list[tuple[bytes | None, bytes | None]]]  # partition → (key, value)s


async def read_all(bootstrap: str, topic: str) -> Records:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                group_id=None)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(4)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = {tp: o for tp, o in (await consumer.end_offsets(tps)).items()}
        out: Records = {p: [] for p in range(4)}
        for tp in tps:
            while await consumer.position(tp) < ends[tp]:
                for r in (await consumer.getmany(tp, timeout_ms=1000)).get(tp, []):
                    out[tp.partition].append((r.key, r.value))
        return out
    finally:
        await consumer.stop()


def test_records_arrive_in_order_per_partition_with_tombstones(bootstrap: str) -> None:
    async def scenario() -> Records:
        # A small batch size makes the 3,000 records span many batches per partition.
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_batch_size=4096)
        await producer.start()
        try:
            counts: Counter[str] = Counter()
            out = RecordBatches(lambda: producer, counts)
            for i in range(3000):
                value = None if i % 7 == 0 else f"v{i}".encode() * 5
                out.add("log", i % 3, f"k{i % 50}".encode(), value)
            assert len(out) == 3000
            await out.send()
            assert len(out) == 0 and counts == Counter({"log": 3000})
            await out.send()  # nothing pending: a no-op
        finally:
            await producer.stop()
        return await read_all(bootstrap, "log")

    got = asyncio.run(scenario())
    for p in range(3):
        want = [(f"k{i % 50}".encode(), None if i % 7 == 0 else f"v{i}".encode() * 5)
                for i in range(3000) if i % 3 == p]
        assert got[p] == want
    assert got[3] == []


def test_keyed_records_land_where_a_plain_send_puts_them(bootstrap: str) -> None:
    keys = [f"alert-{i}".encode() for i in range(200)]

    async def scenario() -> tuple[Records, Records]:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            out = RecordBatches(lambda: producer)
            for k in keys:
                out.add("keyed", None, k, b"x")
            await out.send()
            await asyncio.gather(*[await producer.send("ref", b"x", key=k) for k in keys])
        finally:
            await producer.stop()
        return await read_all(bootstrap, "keyed"), await read_all(bootstrap, "ref")

    keyed, ref = asyncio.run(scenario())
    assert keyed == ref
    assert sum(1 for records in keyed.values() if records) > 1  # spread, not all on one


def test_a_record_larger_than_the_batch_size_goes_in_a_batch_of_its_own(bootstrap: str) -> None:
    async def scenario() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_batch_size=1024)
        await producer.start()
        try:
            out = RecordBatches(lambda: producer)
            out.add("big", 3, b"small", b"s")
            out.add("big", 3, b"big", b"b" * 10_000)
            out.add("big", 3, b"after", b"a")
            await out.send()
        finally:
            await producer.stop()

    asyncio.run(scenario())
    assert asyncio.run(read_all(bootstrap, "big"))[3] == [
        (b"small", b"s"), (b"big", b"b" * 10_000), (b"after", b"a")]
