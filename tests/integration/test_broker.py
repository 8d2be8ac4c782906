"""The embedded broker: starts on a free loopback port, stops cleanly, fails with one line."""

from __future__ import annotations

import asyncio
import socket

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from kafka import KafkaAdminClient

from sqm.streams.engine.faust.broker import (
    BrokerError,
    EmbeddedBroker,
    ensure_topics,
    tansu_end_offsets,
)

pytestmark = pytest.mark.integration


def test_starts_on_loopback_creates_topics_and_stops() -> None:
    with EmbeddedBroker() as broker:
        assert broker.bootstrap.startswith("127.0.0.1:")
        ensure_topics(broker.bootstrap, ["a", "b"], partitions=3)
        ensure_topics(broker.bootstrap, ["a"], partitions=3)  # idempotent
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
        try:
            topics = {t["name"]: len(t["partitions"]) for t in admin.describe_topics(["a", "b"])}
        finally:
            admin.close()
        assert topics == {"a": 3, "b": 3}
        pid = broker.pid
    assert broker.pid is None and pid is not None
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", int(broker.bootstrap.split(":")[1])), timeout=1)


def test_a_busy_port_is_one_clear_line() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(BrokerError) as info:
            EmbeddedBroker(port=port).start(timeout_s=5)
    message = str(info.value)
    assert "\n" not in message
    assert str(port) in message


def test_true_end_offsets_of_batched_partitions() -> None:
    """Tansu's ListOffsets gives the newest batch's first offset + 1 (the bug the recovery
    works around); `tansu_end_offsets` gives last offset + 1."""

    async def scenario(bootstrap: str) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=50)
        await producer.start()
        try:
            for size in (5, 3):  # two batches on partition 0: offsets 0-4 and 5-7
                sent = [await producer.send("t", b"v", partition=0) for _ in range(size)]
                await asyncio.gather(*sent)
            await (await producer.send("t", b"v", partition=1))  # one batch of one: offset 0
        finally:
            await producer.stop()
        tps = [TopicPartition("t", p) for p in range(3)]
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
        await consumer.start()
        try:
            reported = await consumer.end_offsets(tps)
        finally:
            await consumer.stop()
        assert reported == {tps[0]: 6, tps[1]: 1, tps[2]: 0}  # the bug, as measured
        assert await tansu_end_offsets(bootstrap, reported) == {tps[0]: 8, tps[1]: 1, tps[2]: 0}

    with EmbeddedBroker() as broker:
        ensure_topics(broker.bootstrap, ["t"], partitions=3)
        asyncio.run(scenario(broker.bootstrap))
