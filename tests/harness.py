"""Runs the engine-free core the way the Faust agents do, without a broker.

Events are routed to shards by the same hash as the ingest agent, grouped into messages and
batches, processed, "written" into in-memory tables with ReplacingMergeTree FINAL semantics
(highest version per key wins, the later insert on a tie), then committed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqm.streams.core.records import EventRecord
from sqm.streams.core.rollup import COUNTER_NAMES, WindowKey
from sqm.streams.core.routing import shard_for
from sqm.streams.core.shard import Shard, ShardConfig, ShardResult
from sqm.streams.core.state import DictStore


@dataclass
class FinalTables:
    contacts: dict[tuple[str, str], tuple[int, Any]] = field(default_factory=dict)
    # (window key, shard) -> (version, counts)
    sla: dict[tuple[WindowKey, int], tuple[int, list[int]]] = field(default_factory=dict)
    late: list[str] = field(default_factory=list)
    duplicates: int = 0
    accepted: set[str] = field(default_factory=set)

    def absorb(self, shard_id: int, res: ShardResult) -> None:
        for view, version in res.contacts:
            key = (view.tenant_id, view.contact_id)
            if key not in self.contacts or self.contacts[key][0] <= version:
                self.contacts[key] = (version, view)
        for wkey, counts, version in res.windows:
            k = (wkey, shard_id)
            if k not in self.sla or self.sla[k][0] <= version:
                self.sla[k] = (version, counts)
        self.late.extend(x.event.event_id for x in res.late)
        self.duplicates += res.duplicates
        self.accepted.update(e.event_id for e in res.accepted)

    def window_totals(self) -> dict[WindowKey, dict[str, int]]:
        out: dict[WindowKey, list[int]] = defaultdict(lambda: [0] * len(COUNTER_NAMES))
        for (wkey, _), (_, counts) in self.sla.items():
            for i, x in enumerate(counts):
                out[wkey][i] += x
        return {k: dict(zip(COUNTER_NAMES, v, strict=True)) for k, v in out.items() if any(v)}


def run(
    events: Sequence[EventRecord],
    *,
    shards: int = 2,
    message_size: int = 7,
    batch_messages: int = 3,
    config: ShardConfig | None = None,
    tables: FinalTables | None = None,
) -> FinalTables:
    cfg = config or ShardConfig()
    tables = tables or FinalTables()
    per_shard: dict[int, list[EventRecord]] = defaultdict(list)
    for e in events:
        per_shard[shard_for(e.tenant_id, e.customer_id, shards)].append(e)
    for sid, evs in per_shard.items():
        shard = Shard(sid, DictStore(), cfg)
        starts = range(0, len(evs), message_size)
        msgs = [(i, evs[j:j + message_size]) for i, j in enumerate(starts)]
        for k in range(0, len(msgs), batch_messages):
            tables.absorb(sid, shard.process(msgs[k:k + batch_messages]))
            shard.commit()
    return tables
