"""Records gathered per topic partition and produced as whole Kafka record batches.

Faust's `Topic.send` and `Table.send_changelog` cost ~20 µs of the event loop per record: a
FutureMessage, a buffer entry, an aiokafka message future and its callback each. The stages
write tens of thousands of changelog records and alert messages per second, so they gather
them here and hand aiokafka one builder per partition (`AIOKafkaProducer.send_batch`): one
future per batch. On the wire nothing changes (same topics, partitions, keys and values).

Delivery is the caller's to await (`send()` returns when every batch is acknowledged or
raises its error), so a stage acknowledges its input only after its records are durable.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

Record = tuple[bytes | None, bytes | None]  # key, value (None: a tombstone)
UNPLACED = -1  # records whose partition comes from their key when sent


class RecordBatches:
    """Pending records per (topic, partition), in the order added.

    `producer` returns the started `AIOKafkaProducer` (Faust's, once the app runs).
    `counts` tallies records sent per topic (the benchmark prints it).
    """

    def __init__(self, producer: Callable[[], Any], counts: Counter[str] | None = None) -> None:
        self._producer = producer
        self._pending: dict[tuple[str, int], list[Record]] = {}
        self.counts: Counter[str] = Counter() if counts is None else counts

    def fresh(self) -> RecordBatches:
        """An empty gatherer on the same producer and counts (one per batch in flight)."""
        return RecordBatches(self._producer, self.counts)

    def __len__(self) -> int:
        return sum(len(r) for r in self._pending.values())

    def add(self, topic: str, partition: int | None, key: bytes | None,
            value: bytes | None) -> None:
        """One record; partition None: by its key, as Faust and aiokafka's default partitioner
        place it (murmur2)."""
        where = (topic, UNPLACED if partition is None else partition)
        records = self._pending.get(where)
        if records is None:
            records = self._pending[where] = []
        records.append((key, value))

    async def send(self) -> None:
        """Produce everything pending, in order per partition, and wait for delivery."""
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        producer = self._producer()
        pending = await self._placed(producer, pending)
        deliveries: list[asyncio.Future[Any]] = []
        for (topic, partition), records in pending.items():
            batch = producer.create_batch()
            for key, value in records:
                if batch.append(key=key, value=value, timestamp=None) is None:
                    # Full (the producer's max batch size): send it, go on in a new one.
                    deliveries.append(await producer.send_batch(batch, topic,
                                                                partition=partition))
                    batch = producer.create_batch()
                    # An empty batch takes any record, as in aiokafka's send (the broker's
                    # size limit still applies).
                    batch.append(key=key, value=value, timestamp=None)
            deliveries.append(await producer.send_batch(batch, topic, partition=partition))
            self.counts[topic] += len(records)
        await asyncio.gather(*deliveries)


    @staticmethod
    async def _placed(producer: Any, pending: dict[tuple[str, int], list[Record]]
                      ) -> dict[tuple[str, int], list[Record]]:
        if not any(p == UNPLACED for _, p in pending):
            return pending
        out: dict[tuple[str, int], list[Record]] = {}
        for (topic, partition), records in pending.items():
            if partition != UNPLACED:
                out.setdefault((topic, partition), []).extend(records)
                continue
            # What AIOKafkaProducer._partition does per record, with the lists made once:
            # aiokafka's batch API (create_batch / send_batch) takes a partition and offers no
            # public way to place a key (the send path does it privately). Private attributes
            # of the pinned aiokafka, as Faust's key_partition uses them; checked by
            # tests/unit/test_engine_internals.py, and the placement against send() by
            # tests/integration/test_record_batches.py.
            await producer.client._wait_on_metadata(topic)
            partitions = list(producer._metadata.partitions_for_topic(topic))
            available = list(producer._metadata.available_partitions_for_topic(topic))
            place = producer._partitioner
            for key, value in records:
                p = place(key, partitions, available)
                out.setdefault((topic, p), []).append((key, value))
        return out


def faust_producer(app: Any) -> Callable[[], Any]:
    """The AIOKafkaProducer under a Faust app's producer (available once the app started).

    `Producer._ensure_producer` is private to faust's aiokafka driver; the public
    `send` path costs ~20 µs per record (measured, above), which is why the batches bypass it.
    """
    return lambda: app.producer._ensure_producer()
