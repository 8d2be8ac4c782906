"""The stages' contract and the exactly-once order: `settle` writes rows and records, then the
changelog, then acknowledges, and stops at the first failure; the customer stage's prepared
work holds its changelog back until then, and a state restored from that changelog carries on
as if it had never stopped."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from sqm.streams.core.ingest_batch import route_batch
from sqm.streams.core.partitions import KeyedBytesStore, MemoryPartitions
from sqm.streams.core.ports import ChangelogRecord, OutRecord, Rows
from sqm.streams.core.shard import ShardConfig
from sqm.streams.core.stages.customers import CustomerBatch, CustomerStage, Origin
from sqm.streams.core.stages.ingest import IngestBatch, IngestStage
from sqm.streams.core.stages.settle import Prepared, settle
from sqm.streams.core.state import SEP, Progress
from tests.events import ev

T0 = 1_772_413_200_000  # 2026-03-02T01:00:00Z
NOW = datetime(2026, 3, 2, 2, tzinfo=UTC)


class Recorder:
    """An outbox that logs each call; `fail` names the step that raises."""

    def __init__(self, fail: str = "") -> None:
        self.calls: list[str] = []
        self.fail = fail

    async def _step(self, name: str) -> None:
        await asyncio.sleep(0.01 if name == "rows" else 0)  # the insert is the slow one
        if name == self.fail:
            raise RuntimeError(name)
        self.calls.append(name)

    async def write_rows(self, rows: Rows) -> None:
        await self._step("rows")

    async def produce(self, records: Sequence[OutRecord]) -> None:
        await self._step("records")

    async def write_changelog(self, records: Sequence[ChangelogRecord]) -> None:
        await self._step("changelog")

    async def acknowledge(self) -> None:
        await self._step("ack")


def test_settle_writes_rows_and_records_then_the_changelog_then_acknowledges() -> None:
    out = Recorder()
    asyncio.run(settle(out, Prepared()))
    # The records are produced while the rows are written; the changelog waits for both.
    assert out.calls == ["records", "rows", "changelog", "ack"]


@pytest.mark.parametrize(("fail", "done"), [
    ("rows", ["records"]), ("records", []), ("changelog", ["records", "rows"]),
])
def test_a_failed_step_leaves_the_changelog_or_the_acknowledgement_unwritten(
        fail: str, done: list[str]) -> None:
    out = Recorder(fail)
    with pytest.raises(RuntimeError, match=fail):
        asyncio.run(settle(out, Prepared()))
    assert "ack" not in out.calls and out.calls == done


def batch(offset: int, *events: Any) -> CustomerBatch:
    return CustomerBatch({0: [(offset, list(events))]}, Origin("by-customer"), NOW)


def test_the_customer_stage_owes_its_changelog_in_the_shards_order() -> None:
    data: dict[bytes, Any] = {}
    stage = CustomerStage(ShardConfig(), 1, KeyedBytesStore(data), dead_letter_topic="dl",
                          alert_inputs_topic="ai")
    prepared = stage.prepare(batch(0, ev("contact.created", T0, "c1", queue="q")))
    kinds = [key.split(SEP.encode())[0] for _, key, _ in prepared.changelog]
    assert kinds == [b"w", b"c", b"m"]  # windows, then customers, then the meta
    assert {p for p, _, _ in prepared.changelog} == {0}
    # The rows and the alert stage's input are computed; nothing else is owed afterwards.
    assert prepared.rows["events"]["event_id"] and prepared.rows["contacts"]["contact_id"]
    assert [(r.topic, r.partition) for r in prepared.records] == [("ai", 0)]
    assert stage.store.owed() == []


def test_a_state_restored_from_the_owed_changelog_carries_on_identically() -> None:
    events = [ev("contact.created", T0 + i * 1000, f"c{i % 3}", queue="q", event_id=f"e{i}")
              for i in range(12)]
    straight = CustomerStage(ShardConfig(), 1, KeyedBytesStore({}))
    changelog: list[ChangelogRecord] = []
    for offset in range(6):
        changelog += straight.prepare(batch(offset, events[offset])).changelog
    restored: dict[bytes, Any] = {}
    for _, key, value in changelog:  # what a recovery reads back: bytes, latest per key
        if value is None:
            restored.pop(key, None)
        else:
            restored[key] = value
    again = CustomerStage(ShardConfig(), 1, KeyedBytesStore(restored))
    for offset in range(6, 12):
        a = straight.prepare(batch(offset, events[offset]))
        b = again.prepare(batch(offset, events[offset]))
        assert orjson.dumps(a.rows, option=orjson.OPT_PASSTHROUGH_DATETIME, default=str) == \
            orjson.dumps(b.rows, option=orjson.OPT_PASSTHROUGH_DATETIME, default=str)
        assert a.changelog == b.changelog


def test_on_memory_partitions_nothing_is_owed() -> None:
    stage = CustomerStage(ShardConfig(), 1, MemoryPartitions())
    prepared = stage.prepare(batch(0, ev("contact.created", T0, "c1", queue="q")))
    assert prepared.changelog == [] and prepared.records == []
    assert prepared.alert_inputs[0]  # handed over in process instead


def test_ingest_sends_the_events_then_the_progress_report_then_the_dead_letters() -> None:
    values = [orjson.dumps(INPUT), b"not json"]
    routed = route_batch(values, [0, 0], 2, T0 + 3_600_000, 300)
    stage = IngestStage(2, by_customer_topic="bc", dead_letter_topic="dl")
    report = Progress(1, {0: T0})
    prepared = stage.prepare(IngestBatch(routed, values, "in", [0, 0], [10, 11], NOW,
                                         [T0, None], progress=report))
    target = routed.chunks[0][0]
    assert [(r.topic, r.partition) for r in prepared.records] == [
        ("bc", target), ("bc", 0), ("bc", 1), ("dl", None)]
    [row] = prepared.rows["dead_letters"]
    assert (row["dl_id"], row["offset"], row["received_at"]) == ("in:0:11", 11, NOW)
    # A file's lines: named by line, no topics, nothing produced.
    numbered = IngestStage(2).prepare(IngestBatch(routed, values, "f.jsonl", [0, 0], [3, 4],
                                                  NOW, numbered=True))
    assert numbered.records == [] and numbered.rows["dead_letters"][0]["dl_id"] == "f.jsonl:4"


INPUT = {"event_id": "e1", "type": "contact.queued", "occurred_at": "2026-03-02T01:00:00Z",
         "tenant_id": "t1", "contact_id": "c1", "customer_id": "u1", "channel": "chat",
         "queue": "billing", "schema_version": 1}


def test_the_direct_runners_wanted_contacts_from_wire_lists_equal_the_records() -> None:
    """The direct runner asks `CustomerStage.wanted` from the routed wire lists (before the
    records are built): the same contacts, with the same customer each, as `read_back`'s
    first half from the records: held ones not asked, created ones not asked, a contact with
    two customers asked for the first that does not hold it."""
    from sqm.streams.core.records import EventRecord
    from sqm.streams.core.routing import shard_for
    from sqm.streams.direct import _contacts_seen
    from tests.histories import to_json

    stage = CustomerStage(ShardConfig(), 4, MemoryPartitions())
    first = [ev("contact.created", T0 + i, f"c{i}", customer=f"u{i % 5}", queue="q")
             for i in range(30)]
    messages: dict[int, list[Any]] = {p: [] for p in range(4)}
    for e in first:
        messages[shard_for(e.tenant_id, e.customer_id, 4)].append((0, [e]))
    stage.prepare(CustomerBatch(messages, Origin("by-customer"), NOW))
    second = [
        *(ev("contact.queued", T0 + 100 + i, f"c{i}", customer=f"u{i % 5}", queue="q")
          for i in range(0, 30, 3)),  # held
        *(ev("message.sent", T0 + 200 + i, f"n{i}", customer=f"u{i}", sender="customer")
          for i in range(12)),  # not held, not created here: asked
        ev("contact.created", T0 + 300, "n3", customer="u3", queue="q"),  # created: not asked
        ev("contact.queued", T0 + 301, "c1", customer="u9", queue="q"),  # another customer
        ev("contact.queued", T0 + 302, "n5", customer="u1", queue="q"),  # first u5, then u1
    ]
    values = [to_json(e) for e in second]
    routed = route_batch(values, [0] * len(values), 4, T0 + 3_600_000, 300, encode=False)
    records: dict[int, list[Any]] = {p: [] for p in range(4)}
    for target, _source, wires in routed.wires:
        records[target].append((1, [EventRecord(*w) for w in wires]))
    expected = {p: stage._shard(p).wanted_contacts(msgs) for p, msgs in records.items() if msgs}
    got = stage.wanted(_contacts_seen(routed))
    assert got == expected
    asked = {key for w in got.values() for key in w}
    assert ("t1", "n0") in asked and ("t1", "n3") not in asked and ("t1", "c0") not in asked
    assert ("t1", "c1") in asked  # u9 does not hold it
    assert len(asked) == 12 + 1 - 1  # n0..n11 and c1, not n3
