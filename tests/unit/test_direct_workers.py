"""The direct runner's alert partitions in worker processes (streams/direct_workers.py) give
exactly the changes, in the same order, chunk by chunk, as the same partitions stepped in the
caller: with 2 workers and with 3 (uneven), whichever worker each partition lands in (the one
with the least input so far when the partition's first messages come). The inputs
are a 3-week history's alert-input messages, made by the customer shards as the direct runner
makes them (one ordered input, a progress message after each chunk, closed at the end)."""

from __future__ import annotations

import asyncio
import os

from sqm.streams.core.alerting import AlertChange, parse_config
from sqm.streams.core.alerting.changes import changes_of
from sqm.streams.core.routing import shard_for
from sqm.streams.core.shard import Message, Shard, ShardConfig
from sqm.streams.core.state import DictStore, Progress
from sqm.streams.core.wire import alert_inputs
from sqm.streams.direct_workers import AlertPartitions
from tests.histories import arrival, history
from tests.unit.test_hostile_times import ANOMALIES, RULES

SHARDS = 4
LATENESS_MS = 3_600_000
# Rules that fire on a small history (low minimum samples), and anomaly rules.
CONFIG = parse_config({"rules": RULES, "anomalies": ANOMALIES})


def chunk_inputs(chunk_events: int) -> list[list[list[bytes]]]:
    """Per chunk, per alert partition: the alert-input messages the shards sent."""
    events = arrival(history(11, weeks=3, contacts=900), 11)
    shards = [Shard(s, DictStore(), ShardConfig(lateness_ms=LATENESS_MS)) for s in range(SHARDS)]
    offsets = [0] * SHARDS
    mark = 0
    out: list[list[list[bytes]]] = []
    for start in range(0, len(events), chunk_events):
        chunk = events[start:start + chunk_events]
        last = start + chunk_events >= len(events)
        mark = max([mark, *(e.ts for e in chunk)])
        progress = Progress(1, {0: mark}, frozenset({0}) if last else frozenset())
        messages: list[list[Message]] = [[] for _ in range(SHARDS)]
        for e in chunk:
            s = shard_for(e.tenant_id, e.customer_id, SHARDS)
            messages[s].append((offsets[s], [e], 0, None))
            offsets[s] += 1
        inputs: list[list[bytes]] = [[] for _ in range(SHARDS)]
        for s, shard in enumerate(shards):
            res = shard.process([*messages[s], (offsets[s], [], -1, progress)])
            offsets[s] += 1
            shard.commit()
            for p, values in alert_inputs(s, shard.meta.low_watermark, res.windows,
                                         res.contacts, SHARDS, res.before,
                                         closed=shard.meta.closed, shards=SHARDS).items():
                inputs[p].extend(values)
        out.append(inputs)
    return out


def changes_by_chunk(chunks: list[list[list[bytes]]], processes: int,
                     owners: dict[int, int] | None = None
                     ) -> tuple[list[list[AlertChange]], set[int]]:
    parts = AlertPartitions(SHARDS, CONFIG, LATENESS_MS, processes)
    try:
        pending = [parts.submit(inputs) for inputs in chunks]  # all queued before any result

        async def collect() -> list[list[AlertChange]]:
            return [list(changes_of(await parts.result(p))) for p in pending]

        if owners is not None:
            owners.update(parts.owner)
        return asyncio.run(collect()), set(parts.pids())
    finally:
        parts.close()


def test_workers_give_the_callers_changes_in_its_order() -> None:
    chunks = chunk_inputs(700)
    reference, none = changes_by_chunk(chunks, 0)
    assert none == set()
    flat = [c for changes in reference for c in changes]
    # Not vacuous: several chunks with changes, from more than one partition's rules.
    assert sum(bool(changes) for changes in reference) >= 3, [len(c) for c in reference]
    assert len({c.rule_id for c in flat}) >= 5, {c.rule_id for c in flat}
    assert len({(c.tenant_id, c.channel) for c in flat}) >= 3
    for processes in (2, 3):
        got, pids = changes_by_chunk(chunks, processes)
        assert len(pids) == processes and os.getpid() not in pids
        assert got == reference, processes


def test_busy_partitions_go_to_different_workers() -> None:
    # The history's tenants make two partitions busy (the others get ticks only); by
    # `p % 2` both were in one worker while the other idled.
    chunks = chunk_inputs(700)
    size = [sum(len(v) for v in values) for values in chunks[0]]
    busy = sorted(range(SHARDS), key=lambda p: -size[p])[:2]
    assert min(size[p] for p in busy) > 2 * max(size[p] for p in range(SHARDS) if p not in busy)
    owners: dict[int, int] = {}
    changes_by_chunk(chunks[:1], 2, owners)
    assert owners[busy[0]] != owners[busy[1]], (busy, owners)


def test_a_partition_fed_later_joins_a_worker_and_changes_stay_the_same() -> None:
    # Partitions 1 and 3 get no message in the first two chunks: they are placed when their
    # first messages come, by then beside partitions with state.
    chunks = [[values if p in (0, 2) or i >= 2 else [] for p, values in enumerate(inputs)]
              for i, inputs in enumerate(chunk_inputs(700))]
    reference, _ = changes_by_chunk(chunks, 0)
    assert any(reference)
    for processes in (2, 3):
        owners: dict[int, int] = {}
        got, _ = changes_by_chunk(chunks, processes, owners)
        assert sorted(owners) == list(range(SHARDS))
        assert got == reference, processes


def test_columns_give_back_the_changes() -> None:
    """The workers send columns: the changes come back from them unchanged, in order."""
    from sqm.streams.core.alerting.changes import change_columns, joined_columns

    chunks = chunk_inputs(700)
    reference, _ = changes_by_chunk(chunks, 0)
    flat = [c for changes in reference for c in changes]
    assert flat
    assert list(changes_of(change_columns(flat))) == flat
    halves = [change_columns(changes) for changes in reference]
    assert list(changes_of(joined_columns(halves))) == flat
