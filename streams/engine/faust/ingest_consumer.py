"""The ingest stage's input: a plain aiokafka batch consumer running inside the Faust worker.

Why not a Faust agent: the input topic carries one message per event, and Faust's per-message
path tops out at ~12,500 messages/s on this project's machines (several event-loop turns and
tasks per message; `benchmarks/faust_take_ceiling.py`), while aiokafka's `getmany` hands over
thousands of records per call. The stage is stateless, so it needs nothing else Faust offers.

Delivery is at-least-once, as before:
- a batch's offsets are committed only after `IngestStage.handle` returned, i.e. after every
  forwarded event and dead letter was acknowledged by the broker;
- the consumer has a group of its own (`<app_id>-ingest`), so several workers share the input
  partitions through the ordinary Kafka group protocol, independently of Faust's group;
- a batch read before a revocation is still forwarded (the partition's next owner re-reads it
  from the last commit; the customer stage merges the duplicates by event_id) but never
  committed: a late commit could move the new owner's committed offset backwards.

Upgrade: a partition this group has never committed starts where Faust's group (`app_id`),
whose agent read the topic before, left it, instead of at the log start (which would re-read
the whole retained topic once).

Lifecycle (wired in `app.py`): the consumer starts with the app, so its group join
(~5 s on the embedded broker) overlaps Faust's own; it reads only once the worker is ready;
it stops before Faust's producer does, finishing and committing the batch in hand. A failure
crashes the app like a failing agent does: the worker stops, and the uncommitted batch is read
again after a restart.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from mode import Service

from sqm.streams.core.input_progress import InputProgress
from sqm.streams.engine.faust.ingest import InputRecord
from sqm.streams.kafka_auth import auth_of

log = logging.getLogger(__name__)

# How long a revocation waits for the batch being forwarded, and a stop for the batch in hand,
# before giving up on it (it is then read again by whoever owns the partition next).
SETTLE_S = 10.0

Handle = Callable[[Sequence[InputRecord]], Awaitable[None]]
Batch = dict[TopicPartition, list[Any]]  # aiokafka ConsumerRecords by partition


def ingest_group(app_id: str) -> str:
    """The ingest consumer's group: not Faust's (`app_id`), whose offsets Faust manages."""
    return f"{app_id}-ingest"


def consumer_config(conf: Any, bootstrap: str, app_id: str) -> dict[str, Any]:
    """aiokafka settings from the Faust app's (so the broker profile applies to both groups:
    on Tansu a short session timeout keeps the group join at ~5 s instead of 30)."""
    return {
        "bootstrap_servers": bootstrap,
        "client_id": f"{conf.broker_client_id}-ingest",
        "group_id": ingest_group(app_id),
        "enable_auto_commit": False,
        "auto_offset_reset": conf.consumer_auto_offset_reset,
        "max_partition_fetch_bytes": conf.consumer_max_fetch_size,
        "request_timeout_ms": int(conf.broker_request_timeout * 1000),
        "session_timeout_ms": int(conf.broker_session_timeout * 1000),
        "rebalance_timeout_ms": int(conf.broker_rebalance_timeout * 1000),
        "heartbeat_interval_ms": int(conf.broker_heartbeat_interval * 1000),
        "max_poll_interval_ms": int((conf.broker_max_poll_interval or 300) * 1000),
        **credentials_to_aiokafka_auth(conf.broker_credentials, conf.ssl_context),
    }


class IngestConsumer(Service):
    """Reads `topic` in batches of up to `batch_max` records (waiting at most `within_s` to
    fill one), hands each to `handle`, then commits it."""

    def __init__(
        self,
        topic: str,
        handle: Handle,
        config: dict[str, Any],
        *,
        batch_max: int,
        within_s: float,
        on_crash: Callable[[BaseException], Awaitable[None]],
        previous_group: str | None = None,
        consumer_factory: Callable[..., Any] = AIOKafkaConsumer,
        read_ahead: int = 3,
        progress: InputProgress | None = None,
        heartbeat: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__()
        self.topic = topic
        self.handle = handle
        self.config = config
        self.batch_max = batch_max
        self.within_s = within_s
        self.on_crash = on_crash
        self.previous_group = previous_group
        self.consumer_factory = consumer_factory
        self.read_ahead = max(1, read_ahead)  # batches in hand at most
        # The event clock's inputs: which partitions this consumer owns and reads, and what to
        # call between batches when a progress report may be due (streams/engine/faust/ingest.py).
        self.progress = progress
        self.heartbeat = heartbeat
        self.consumer: Any = None
        self.generation = 0  # bumped on every revocation: batches read before it stay uncommitted
        self._ready = asyncio.Event()
        self._holding = False  # records read and not yet forwarded and committed
        self._forwarding = asyncio.Event()  # set while no batch is being forwarded
        self._forwarding.set()
        self._stopping = False
        self._loop_task: asyncio.Task[None] | None = None
        # For the metrics and readiness: the offsets last committed, and whether the group
        # has assigned this consumer its partitions (maybe none) at least once.
        self.committed: dict[TopicPartition, int] = {}
        self.joined = False

    def begin(self) -> None:
        """Start reading (called once the worker is ready: producer up, tables recovered)."""
        self._ready.set()

    async def on_start(self) -> None:
        self.consumer = self.consumer_factory(**self.config)
        await self.consumer.start()
        self.consumer.subscribe([self.topic], listener=_Listener(self))
        self._loop_task = asyncio.ensure_future(self._run())

    async def on_stop(self) -> None:
        self._stopping = True
        task = self._loop_task
        if task is not None and not task.done():
            if not self._holding:
                task.cancel()  # waiting for records: nothing in hand, nothing to finish
            done, _ = await asyncio.wait({task}, timeout=SETTLE_S)
            if not done:
                log.warning("ingest: the batch in hand did not finish within %.0f s at stop; "
                            "it will be read again", SETTLE_S)
                task.cancel()
                await asyncio.wait({task})
        if self.consumer is not None:
            await self.consumer.stop()  # leaves the group: the others take over at once

    async def _run(self) -> None:
        # Batches read and handed to `handle` (which may start work on them at once, e.g. in a
        # child process), not yet delivered and committed; delivered in order.
        pending: deque[_InHand] = deque()
        try:
            await self._ready.wait()
            while pending or not self._stopping:
                if not pending:
                    batch, generation = await self._next_batch()
                    if batch:
                        pending.append(self._take(batch, generation))
                    elif self.heartbeat is not None and not self._stopping:
                        await self.heartbeat()
                # Read ahead (only what is already fetched) so that the next batches' work can
                # start while this one is delivered.
                while len(pending) < self.read_ahead and not self._stopping:
                    batch = await self.consumer.getmany(timeout_ms=0,
                                                        max_records=self.batch_max)
                    if not batch:
                        break
                    pending.append(self._take(batch, self.generation))
                while pending and pending[0].generation != self.generation:
                    # Read before a revocation and not yet forwarded: the partitions' next
                    # owner (maybe this worker) reads it again from the last commit.
                    pending.popleft().drop()
                if pending:
                    await self._forward(pending.popleft())
                self._holding = bool(pending)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # Like a failing agent (app.py `guarded`): stop the worker rather than run on
            # without ingest. The batch is not committed, so a restarted worker reads it again.
            log.error("ingest stage failed, stopping the worker: %s", exc)
            await self.on_crash(exc)
        finally:
            self._holding = False
            for item in pending:
                item.drop()

    def _take(self, batch: Batch, generation: int) -> _InHand:
        self._holding = True
        if self.progress is not None:
            self.progress.seen((tp.partition for tp in batch), time.monotonic())
        return _InHand(batch, generation, self.handle([r for rs in batch.values() for r in rs]))

    async def _next_batch(self) -> tuple[Batch, int]:
        """Up to `batch_max` records: whatever is there, topped up for at most `within_s`."""
        batch: Batch = await self.consumer.getmany(
            timeout_ms=int(self.within_s * 1000), max_records=self.batch_max)
        # No await since getmany returned: these records belong to this generation.
        generation = self.generation
        if not batch:
            return batch, generation
        self._holding = True
        n = sum(len(rs) for rs in batch.values())
        deadline = time.monotonic() + self.within_s
        while n < self.batch_max and not self._stopping and generation == self.generation:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            more = await self.consumer.getmany(timeout_ms=max(1, int(left * 1000)),
                                               max_records=self.batch_max - n)
            if not more:
                break
            for tp, rs in more.items():
                batch.setdefault(tp, []).extend(rs)
                n += len(rs)
        return batch, generation

    async def _forward(self, item: _InHand) -> None:
        self._forwarding.clear()
        try:
            await item.delivery
            if item.generation == self.generation:
                await self._commit({tp: rs[-1].offset + 1 for tp, rs in item.batch.items()})
            else:
                log.info("ingest: partitions were revoked while a batch was in hand; it was "
                         "forwarded but not committed (the next owner reads it again)")
        finally:
            self._forwarding.set()

    async def resume_previous(self, assigned: set[TopicPartition]) -> None:
        """Start partitions this group never committed where `previous_group` left them."""
        if self.previous_group is None or not assigned:
            return
        tps = sorted(assigned)
        mine = await asyncio.gather(*(self.consumer.committed(tp) for tp in tps))
        fresh = [tp for tp, offset in zip(tps, mine, strict=True) if offset is None]
        if not fresh:
            return
        try:
            theirs = await asyncio.to_thread(
                committed_offsets, self.config["bootstrap_servers"], self.previous_group, fresh,
                auth_of(self.config))
        except Exception as exc:  # at-least-once still holds: they start at the log start
            log.warning("ingest: could not read group %s's offsets (%s); partitions %s start "
                        "at the log start", self.previous_group, exc,
                        sorted(tp.partition for tp in fresh))
            return
        for tp, offset in theirs.items():
            self.consumer.seek(tp, offset)
        if theirs:
            log.info("ingest: partitions %s start at the offsets group %s committed",
                     sorted(tp.partition for tp in theirs), self.previous_group)

    async def track(self, assigned: set[TopicPartition]) -> None:
        """Tell the progress tracker which partitions are read now, and from where."""
        if self.progress is None or not assigned:
            return
        # The committed offset (where reading resumes), not `position`, which may wait on the
        # rebalance this callback is part of.
        starts = {tp.partition: (await self.consumer.committed(tp)) or 0 for tp in assigned}
        sources = len(self.consumer.partitions_for_topic(self.topic) or ())
        self.progress.assign(starts, max(sources, max(starts) + 1), time.monotonic())

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        try:
            await self.consumer.commit(offsets)
            self.committed.update(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            # The group moved on (a rebalance the revocation callback did not see first):
            # whoever owns these partitions now reads the batch again. Harmless duplicates.
            log.info("ingest: commit skipped after a rebalance: %s", exc)


@dataclass
class _InHand:
    """A batch read, the generation it was read in and its delivery (`handle`'s awaitable)."""

    batch: Batch
    generation: int
    delivery: Awaitable[None]

    def drop(self) -> None:
        close = getattr(self.delivery, "close", None)  # a coroutine never awaited: no warning
        if close is not None:
            close()


class _Listener(ConsumerRebalanceListener):
    def __init__(self, owner: IngestConsumer) -> None:
        self.owner = owner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        owner = self.owner
        owner.generation += 1  # the batch in hand, if any, will not be committed
        if owner.progress is not None:
            owner.progress.revoke(tp.partition for tp in revoked)
        # Let its sends finish before the partitions move, so the next owner's re-read follows
        # them rather than racing them (fewer duplicates behind newer events, nothing more).
        try:
            await asyncio.wait_for(owner._forwarding.wait(), SETTLE_S)
        except TimeoutError:
            log.warning("ingest: a batch was still being forwarded %.0f s into a rebalance",
                        SETTLE_S)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info("ingest: assigned %s", sorted(tp.partition for tp in assigned))
        await self.owner.resume_previous(assigned)
        await self.owner.track(assigned)
        self.owner.joined = True


def committed_offsets(
    bootstrap: str, group: str, partitions: Sequence[TopicPartition],
    auth: Mapping[str, Any] | None = None,
) -> dict[TopicPartition, int]:
    """Another group's committed offsets (blocking; kafka-python, as aiokafka's admin
    `list_consumer_group_offsets` cannot decode Tansu's answer)."""
    from kafka import KafkaConsumer
    from kafka import TopicPartition as KafkaTP

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                             enable_auto_commit=False, **(auth or {}))
    try:
        found = {tp: consumer.committed(KafkaTP(tp.topic, tp.partition)) for tp in partitions}
    finally:
        consumer.close()
    return {tp: offset for tp, offset in found.items() if offset is not None}
