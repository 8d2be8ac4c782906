"""Faust's table recovery, with the stream partitions started in a safe order.

faust-streaming 0.15.3 ends a rebalance like this (`Recovery.on_recovery_completed` and
`Recovery._resume_streams`):

1. resume the stream partitions (the fetcher is already running: it read the changelogs);
2. seek them to their committed offsets;
3. resume flow control, which *clears every channel buffer* (`clear_on_resume=True`).

Whatever the fetcher delivered between 1 and 3 is dropped from the buffers, but the consumer's
position has already moved past it, so those messages are never processed and never acked:
the committed offset stops for good at the first of them (upstream: faust-streaming/faust#596,
"A race condition in recovery causes unrecoverable gaps in acked offsets", open; the earlier
fix faust-streaming/faust#217 reordered only `_resume_streams`). Measured on the embedded broker: a
worker restarted after SIGKILL skipped ~600 messages per partition in 1 run out of 2, which
showed as a stalled worker, and after a further restart as events dead-lettered `late` (the
skipped messages came back behind newer ones). The race is Faust's, so a real Kafka has it too.

`OrderedRecovery` stops delivery first, lets an in-flight fetch drain, clears the buffers, rewinds
the stream partitions (to the log start where nothing was committed, which Faust's seek skips)
and only then resumes, so every message after the committed offset is delivered, in order.
It is installed through Faust's own extension point, `App(TableManager=...)`.

Internals relied on, each checked by tests/unit/test_engine_internals.py on the pinned
faust-streaming: the bodies of `Recovery._resume_streams` and `on_recovery_completed` (copied
here, so their upstream source is pinned by hash), `Recovery._is_changelog_tp`, `_wait`,
`_set_recovery_ended`, `_build_highwaters(consumer, tps, destination, title)` keeping end offset
- 1, `TableManager._recovery`, `App._fetcher`, and `Consumer._read_offset` /
`_committed_offset` (Faust's own bookkeeping of what counts as new; no public setter).

On Tansu (the embedded broker) `TansuRecovery` also corrects the changelogs' end offsets, which
Tansu reports as the first offset of the newest batch + 1: Faust stops restoring a changelog at
its end offset, so it used to drop the rest of that batch, the last writes before a restart
(tests/integration/test_changelog_recovery.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any, cast

from aiokafka import TopicPartition
from faust.tables.manager import TableManager
from faust.tables.recovery import Recovery
from faust.types import TP, ConsumerT

from sqm.streams.engine.faust.broker import tansu_end_offsets

FETCH_SETTLE_S = 1.5


class OrderedRecovery(Recovery):
    # Recoveries ended: the tables' data was written by Faust, not through the stages' stores,
    # whose indexes of it are then stale (`recoveries`, read by `tables.table_state`).
    ended = 0

    async def _start_streams(self, assignment: set[TP]) -> None:
        """Stop delivery, clear buffers, rewind the stream partitions, then resume them."""
        self.ended += 1  # every table restored, the keys of other partitions dropped
        app, consumer = self.app, self.app.consumer
        streams = {tp for tp in assignment if not self._is_changelog_tp(tp)}
        consumer.stop_flow()
        # A fetch already in flight returns within Faust's getmany timeout (1 s); with the flow
        # stopped Faust discards it instead of delivering records from a stale position. Like
        # every wait here, a new rebalance interrupts it (RebalanceAgain: recovery restarts).
        await self._wait(asyncio.sleep(FETCH_SETTLE_S))
        app.flow_control.resume()  # drops whatever was delivered; the rewind re-reads it
        if streams:
            self.log.info("Rewind stream partitions to their committed offsets.")
            await self._wait(self._rewind(streams), timeout=app.conf.broker_request_timeout)
        consumer.resume_partitions(streams)
        self.completed.set()
        consumer.resume_flow()
        # As faust's on_recovery_completed does: make sure the fetcher runs (private, no API).
        await cast(Any, app)._fetcher.maybe_start()

    async def _rewind(self, streams: set[TP]) -> None:
        """Seek to the committed offset, or to the log start where nothing was committed.

        Faust's `perform_seek` leaves a partition without a committed offset where it is, so
        what was fetched from it and then dropped would be lost for good.
        """
        consumer = cast(Any, self.app.consumer)
        committed = await consumer.seek_to_committed()
        fresh = [tp for tp in streams if not committed.get(tp)]
        if fresh and self.app.conf.consumer_auto_offset_reset == "earliest":
            earliest = await consumer.earliest_offsets(*fresh)
            await consumer.seek_wait({tp: earliest[tp] for tp in fresh})
        # Faust's own bookkeeping, set last: it decides which re-read messages count as new
        # (private dicts of faust's Consumer; `perform_seek` sets them only where committed).
        for tp in streams:
            offset = committed.get(tp)
            consumer._read_offset[tp] = offset if offset else None
            if offset:
                consumer._committed_offset[tp] = offset

    async def _resume_streams(self, generation_id: int = 0) -> None:
        app = self.app
        await app.on_rebalance_complete.send()
        if app.consumer_generation_id != generation_id:
            self.log.warning("Recovery rebalancing again")
            return
        await self._start_streams(app.consumer.assignment())
        self.tables.on_actives_ready()
        self.tables.on_standbys_ready()
        app.on_rebalance_end()
        self.log.info("Worker ready")

    async def on_recovery_completed(self, generation_id: int = 0) -> None:
        app = self.app
        self.log.info("Restore complete!")
        await app.on_rebalance_complete.send()
        self._set_recovery_ended()
        callbacks = [
            asyncio.ensure_future(table.on_recovery_completed(
                self.actives_for_table[table], self.standbys_for_table[table]))
            for table in self.tables.values()
        ]
        if callbacks:
            await asyncio.wait(callbacks)
        if app.consumer_generation_id != generation_id:
            self.log.warning("Recovery rebalancing again")
            return
        await self._start_streams(app.consumer.assignment())
        self.tables.on_actives_ready()
        if not app.assignor.assigned_standbys():
            self.tables.on_standbys_ready()
        app.on_rebalance_end()
        self.log.info("Worker ready")


def recoveries(app: Any) -> Callable[[], int]:
    """How many recoveries of `app`'s tables have ended, as a function. Read when called:
    the table manager makes its recovery service on first use, and its loop with it."""

    def ended() -> int:
        recovery = app.tables.recovery
        if not isinstance(recovery, OrderedRecovery):
            raise TypeError("the app's TableManager must be OrderedTableManager or "
                            "TansuTableManager")
        return recovery.ended

    return ended


class OrderedTableManager(TableManager):
    """The stock table manager, recovering through `OrderedRecovery`."""

    @property
    def recovery(self) -> Recovery:
        if self._recovery is None:
            self._recovery = OrderedRecovery(self.app, self, beacon=self.beacon, loop=self.loop)
        return self._recovery


class TansuRecovery(OrderedRecovery):
    async def _build_highwaters(self, consumer: ConsumerT, tps: set[TP],
                                destination: Any, title: str) -> None:
        await super()._build_highwaters(consumer, tps, destination, title)
        # Faust keeps end offset − 1 (and −1 for an empty partition).
        reported = {TopicPartition(tp.topic, tp.partition): destination[tp] + 1 for tp in tps}
        true: dict[TopicPartition, int] = {}

        async def probe() -> None:
            true.update(await tansu_end_offsets(_bootstrap(self.app), reported,
                                                auth=_auth(self.app)))

        # Like every wait in recovery, a new rebalance interrupts it (RebalanceAgain).
        await self._wait(probe(), timeout=self.app.conf.broker_request_timeout)
        if len(true) != len(reported):
            raise RuntimeError("could not read the changelogs' end offsets from the broker")
        for tp in tps:
            end = true[TopicPartition(tp.topic, tp.partition)]
            if end - 1 != destination[tp]:
                self.log.info("Highwater of %s corrected for Tansu: %s -> %s", tp,
                              destination[tp], end - 1)
            destination[tp] = end - 1


def _bootstrap(app: Any) -> str:
    return ",".join(f"{url.host}:{url.port}" for url in app.conf.broker)


def _auth(app: Any) -> Mapping[str, Any]:
    """The security arguments the app's own clients use (a Tansu started by hand may be
    behind SASL or TLS)."""
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    return credentials_to_aiokafka_auth(app.conf.broker_credentials, app.conf.ssl_context)


class TansuTableManager(TableManager):
    """The stock table manager, recovering through `TansuRecovery`."""

    @property
    def recovery(self) -> Recovery:
        if self._recovery is None:
            self._recovery = TansuRecovery(self.app, self, beacon=self.beacon, loop=self.loop)
        return self._recovery
