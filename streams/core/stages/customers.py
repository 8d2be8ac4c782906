"""The customer stage: a `Shard` per partition over a `PartitionedStateStore`.

`prepare` applies a batch (the messages of `sqm.by-customer` per shard partition, in offset
order) to the shards' state in memory and computes everything it writes: the rows (events,
contacts, one-minute windows, late events' dead letters, dropped corrections), the alert
stage's inputs (as records on `alert_inputs_topic`, or handed over in process when that is
None), and the changelog records the state owes, held back for `settle`. It reads nothing a
later batch changes, so an engine may prepare batch k+1 while batch k settles.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqm.streams.core import rows
from sqm.streams.core.archive import Archive, ContactKey, Evictions
from sqm.streams.core.derive import ContactView
from sqm.streams.core.ports import OutRecord, PartitionedStateStore
from sqm.streams.core.records import EventRecord
from sqm.streams.core.rollup import WindowKey
from sqm.streams.core.shard import Late, Message, ReadBack, Shard, ShardConfig, ShardResult
from sqm.streams.core.stages.settle import Prepared
from sqm.streams.core.wire import alert_inputs, dead_letter_message

if TYPE_CHECKING:
    from sqm.streams.stats import PipelineStats

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Origin:
    """Where a batch's messages came from, to name a late event's dead letter the same way on
    every re-delivery: by topic, partition, offset and index within the message, stamped with
    the message's record time (`stamps`, the worker), or, with `lines`, by the input file's
    line number of each event of each message (the direct runner: one file, partition 0)."""

    topic: str
    stamps: dict[tuple[int, int], datetime] = field(default_factory=dict)
    lines: dict[tuple[int, int], list[int]] | None = None

    def late_row(self, partition: int, late: Late, now: datetime) -> dict[str, Any]:
        if self.lines is not None:
            line = self.lines[(partition, late.offset)][late.index]
            dl_id, part, offset, at = f"{self.topic}:{line}", 0, line, now
        else:
            dl_id = f"{self.topic}:{partition}:{late.offset}:{late.index}"
            part, offset = partition, late.offset
            at = self.stamps.get((partition, late.offset), now)
        return rows.dead_letter_row(
            dl_id=dl_id, stage="late", reason=late.reason, topic=self.topic, partition=part,
            offset=offset, raw=late.event.raw, now=at, event_id=late.event.event_id,
            tenant_id=late.event.tenant_id)


@dataclass(slots=True)
class CustomerBatch:
    messages: dict[int, list[Message]]  # shard partition -> its messages
    origin: Origin
    now: datetime  # the rows' insert time (and a dead letter's without a record time)


@dataclass(slots=True)
class PreparedCustomers(Prepared):
    alert_inputs: dict[int, list[bytes]] = field(default_factory=dict)  # alert partition -> msgs
    results: list[ShardResult] = field(default_factory=list)
    n_events: int = 0

    def count(self, stats: PipelineStats) -> None:
        """Add this batch to the stage's counters (once it is settled)."""
        s = stats
        for res in self.results:
            s.accepted += len(res.accepted)
            s.duplicates += res.duplicates
            s.late += len(res.late)
            s.dead_lettered += len(res.late)
            s.dropped_corrections += res.dropped_corrections
            s.restored_contacts += res.restored_contacts
            s.restored_windows += res.restored_windows
        s.processed += self.n_events

    @property
    def dropped_corrections(self) -> int:
        return sum(res.dropped_corrections for res in self.results)


class CustomerStage:
    def __init__(self, config: ShardConfig, partitions: int, store: PartitionedStateStore,
                 archive: Archive | None = None, *, dead_letter_topic: str | None = None,
                 alert_inputs_topic: str | None = None) -> None:
        self.config = config
        self.partitions = partitions
        self.store = store
        # Where evicted long-lived contacts and windows are read back from (core/archive.py).
        self.archive = archive
        self.evictions: Evictions | None = None  # told what the shards evict (core/archive.py)
        self.dead_letter_topic = dead_letter_topic
        self.alert_inputs_topic = alert_inputs_topic

    def prepare(self, batch: CustomerBatch,
                read_back: dict[int, ReadBack] | None = None) -> PreparedCustomers:
        """The batch through the shards. `read_back`: `self.read_back(batch)`, read earlier
        (the state must not have changed since); None reads it here."""
        now = batch.now
        accepted: list[EventRecord] = []
        contacts: list[tuple[ContactView, int]] = []
        windows: list[tuple[int, WindowKey, list[int], int]] = []  # (shard, key, counts, version)
        dead: list[dict[str, Any]] = []
        dropped: list[dict[str, Any]] = []
        results: list[ShardResult] = []
        inputs: dict[int, list[bytes]] = defaultdict(list)
        n = self.partitions
        n_events = 0
        topic = self.alert_inputs_topic  # None: handed over in process, messages unsplit
        shards: dict[int, Shard] = {}
        for partition, messages in batch.messages.items():
            messages.sort(key=lambda m: m[0])
            shards[partition] = self._shard(partition)
        if read_back is None:
            read_back = self.fetch({p: shard.wanted_contacts(batch.messages[p])
                                    for p, shard in shards.items()})
        for partition, messages in batch.messages.items():
            shard = shards[partition]
            res = shard.process(messages, read_back.get(partition))
            results.append(res)
            accepted += res.accepted
            contacts += res.contacts
            windows += [(partition, *w) for w in res.windows]
            dead += [batch.origin.late_row(partition, late, now) for late in res.late]
            dropped += [rows.dropped_correction_row(partition, key, d, offset, now)
                        for key, d, offset in res.dropped]
            for p, values in alert_inputs(partition, shard.meta.low_watermark, res.windows,
                                         res.contacts, n, res.before, closed=shard.meta.closed,
                                         shards=n, split=topic is not None).items():
                inputs[p] += values
            shard.commit()  # owed to the store's changelog, written only by `settle`
            n_events += sum(len(m[1]) for m in messages)
        # Column form for the hot tables (times as epoch ms); dead letters are few, rows do.
        now_ms = rows.epoch_ms(now)
        out: dict[str, Any] = {
            "events": rows.event_columns(accepted, now_ms),
            "contacts": rows.contact_columns(contacts, now_ms),
            "sla_1m": rows.sla_columns(windows, now_ms, self.config.policy.version),
            "dead_letters": dead,
            "dropped_corrections": dropped,
        }
        records: list[OutRecord] = []
        if self.dead_letter_topic is not None:
            records += [OutRecord(self.dead_letter_topic, None, row["dl_id"].encode(),
                                  dead_letter_message(row)) for row in dead]
        if self.alert_inputs_topic is not None:
            records += [OutRecord(self.alert_inputs_topic, p, str(p).encode(), value)
                        for p, values in inputs.items() for value in values]
        return PreparedCustomers(out, records, self.store.owed(), dict(inputs), results,
                                 n_events)

    def read_back(self, batch: CustomerBatch) -> dict[int, ReadBack]:
        """What `prepare(batch)` reads back from the archive, read now: a caller can choose
        when the store is queried (the direct runner: while no insert holds it)."""
        return self.fetch({p: self._shard(p).wanted_contacts(messages)
                           for p, messages in batch.messages.items()})

    def wanted(self, seen: Mapping[int, tuple[Iterable[tuple[str, str, str]],
                                              Collection[ContactKey]]]
               ) -> dict[int, dict[ContactKey, str]]:
        """`read_back`'s first half, which reads the state: per shard partition, the contacts
        to read back for a batch given as `Shard.wanted_keys` takes it (per shard partition,
        its events' distinct (tenant, contact, customer) in order, and the contacts it
        creates)."""
        return {p: self._shard(p).wanted_keys(*keys) for p, keys in seen.items()}

    def fetch(self, wanted: dict[int, dict[ContactKey, str]]) -> dict[int, ReadBack]:
        """`read_back`'s second half: the archive's answer, in one query for all shards (each
        query costs a scan of the stored contacts, whatever the number of keys; shards own
        disjoint customers, so none's answer depends on another's batch). It reads no state:
        a caller may run it in another thread."""
        if self.archive is None:
            return {}
        keys = [key for w in wanted.values() for key in w]
        found = self.archive.contacts(keys) if keys else {}
        return {p: (w, {k: a for k, a in found.items() if k in w}) for p, w in wanted.items()}

    def _shard(self, partition: int) -> Shard:
        return Shard(partition, self.store.partition(partition), self.config, self.archive,
                     self.evictions)
