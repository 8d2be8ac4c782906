"""The shards' archive on the real engine (chDB): what a shard wrote is what it reads back.

A shard processes a week of one customer's contacts and writes its rows as the customer stage
does; `ClickHouseArchive` then gives back each stored contact's events (validated again from
`raw`) with its repeat flag, and each window's counts and version, exactly; contacts and windows
never written are absent. Then an evicted contact's late survey, through a shard whose archive
is ClickHouse, gives the reference's rows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from clickhouse_connect.driver import Client

from sqm.sinks.archive import ClickHouseArchive
from sqm.sinks.writer import ClickHouseWriter
from sqm.streams.core import rows
from sqm.streams.core.partitions import MemoryPartitions
from sqm.streams.core.records import EventRecord
from sqm.streams.core.rollup import WindowKey
from sqm.streams.core.shard import Shard, ShardConfig
from sqm.streams.core.stages.customers import CustomerBatch, CustomerStage, Origin
from sqm.streams.core.state import DictStore, Progress
from sqm.streams.core.validate import validate
from sqm.streams.replay_evicted import EvictedArchive
from tests import reference
from tests.events import ev
from tests.histories import BASE, DAY, HOUR, to_json

pytestmark = pytest.mark.integration



def valid(e: EventRecord) -> EventRecord:
    record = validate(to_json(e))
    assert isinstance(record, EventRecord)
    return record


def write(writer: ClickHouseWriter, shard: int, res) -> None:  # type: ignore[no-untyped-def]
    writer.write({
        "events": rows.event_columns(res.accepted, 0),
        "contacts": rows.contact_columns(res.contacts, 0),
        "sla_1m": rows.sla_columns([(shard, *w) for w in res.windows], 0),
    })


def test_what_a_shard_wrote_is_read_back(client: Client, tmp_path: Path) -> None:
    writer = ClickHouseWriter(client)
    events = [valid(e) for e in (
        ev("contact.created", BASE, "k1", customer="u9", queue="q"),
        ev("contact.queued", BASE + 1_000, "k1", customer="u9", queue="q"),
        ev("message.sent", BASE + 20_000, "k1", customer="u9", sender="agent", agent_id="a1"),
        ev("contact.created", BASE + HOUR, "k2", customer="u9", queue="q"),
        ev("survey.submitted", BASE + 2 * HOUR, "k2", customer="u9", csat=2),
    )]
    shard = Shard(3, DictStore(), ShardConfig())
    res = shard.process([(0, events)])
    write(writer, 3, res)
    archive = ClickHouseArchive(client)
    got = archive.contacts([("t1", "k1"), ("t1", "k2"), ("t1", "nobody")])
    assert set(got) == {("t1", "k1"), ("t1", "k2")}
    assert sorted(got[("t1", "k1")].events, key=lambda e: e.ts) == events[:3]
    assert got[("t1", "k2")].is_repeat and not got[("t1", "k1")].is_repeat
    keys = [w[0] for w in res.windows]
    windows = archive.windows(3, [*keys, (BASE, "t1", "chat", "other", "normal")])
    assert windows == {key: (counts, version) for key, counts, version in res.windows}
    assert archive.windows(4, keys) == {}  # another shard's rows are its own


def test_rows_written_twice_are_read_back_once_with_the_latest_flag(client: Client) -> None:
    """A replay after a crash writes a contact's events and rows again, and a later batch a
    newer row of the contact: the read-back (no FINAL) gives each event once, in time order,
    and the flag of the highest version, as FINAL would."""
    writer = ClickHouseWriter(client)
    events = [valid(e) for e in (
        ev("contact.created", BASE + HOUR, "w2", customer="u31", queue="q"),
        ev("contact.created", BASE, "w1", customer="u31", queue="q"),
        ev("message.sent", BASE + 9_000, "w1", customer="u31", sender="agent", agent_id="a1"),
    )]
    res = Shard(2, DictStore(), ShardConfig()).process([(0, events)])
    write(writer, 2, res)
    write(writer, 2, res)  # the same rows again, as after a crash
    [(w2, version)] = [c for c in res.contacts if c[0].contact_id == "w2"]
    assert w2.is_repeat
    older = rows.contact_columns([(w2._replace(is_repeat=False), version - 1)], 0)
    writer.write({"contacts": older})  # an older version, written last
    got = ClickHouseArchive(client).contacts([("t1", "w1"), ("t1", "w2")])
    assert got[("t1", "w1")].events == [events[1], events[2]]  # once each, by time
    assert got[("t1", "w2")].events == [events[0]]
    assert got[("t1", "w2")].is_repeat and not got[("t1", "w1")].is_repeat


def test_an_evicted_contact_comes_back_for_its_late_survey(client: Client) -> None:
    writer = ClickHouseWriter(client)
    cfg = ShardConfig(await_progress=True)
    shard = Shard(5, DictStore(), cfg, ClickHouseArchive(client))
    first = [valid(e) for e in (
        ev("contact.created", BASE, "s1", customer="u7", queue="q"),
        ev("contact.queued", BASE, "s1", customer="u7", queue="q"),
        ev("message.sent", BASE + 5_000, "s1", customer="u7", sender="agent", agent_id="a1"),
        ev("survey.submitted", BASE + HOUR, "s1", customer="u7", csat=5),
    )]
    # Eleven more days of another customer's traffic move the clock past s1's TTL.
    filler = [valid(ev("contact.created", BASE + d * DAY, f"f{d}", customer="u8", queue="q"))
              for d in range(1, 12)]
    late = valid(ev("survey.submitted", BASE + 12 * DAY, "s1", customer="u7", csat=1))
    messages = [(0, first, 0, None), (1, [], -1, Progress(1, {0: BASE + HOUR}))]
    messages += [(2 + d, [e], 0, Progress(1, {0: e.ts})) for d, e in enumerate(filler)]
    for m in messages:
        write(writer, 5, shard.process([m]))
        shard.commit()
    assert not [k for k in shard.store.keys(("c",)) if "u7" in k], "s1 was evicted"
    res = shard.process([(20, [late], 0, Progress(1, {0: late.ts}))])
    write(writer, 5, res)
    shard.commit()
    assert res.restored_contacts == 1 and res.restored_windows >= 1 and not res.dropped
    everything = [*first, *filler, late]
    ref = reference.contacts(everything)[("t1", "s1")]
    [(view, _)] = [c for c in res.contacts if c[0].contact_id == "s1"]
    assert (view.csat, view.surveyed_at, view.answered_at, view.event_count) == (
        1, late.ts, ref["answered_at"], ref["event_count"])
    # The old survey's window lost its count, the new one has it: the reference's totals.
    totals = dict(client.query("""
        SELECT toUnixTimestamp(window_start) * 1000, sum(csat_count)
        FROM sqm.sla_1m FINAL WHERE shard = 5 GROUP BY ALL HAVING sum(csat_count) > 0
        """).result_rows)
    expected = {k[0]: v["csat_count"] for k, v in reference.windows(everything).items()
                if v["csat_count"]}
    assert totals == expected == {late.ts - late.ts % 60_000: 1}


class CountingArchive(ClickHouseArchive):
    """The real archive, counting its contact look-ups (each one scans the stored contacts)."""

    def __init__(self, client: Client) -> None:
        super().__init__(client)
        self.asked: list[list[tuple[str, str]]] = []

    def contacts(self, keys):  # type: ignore[no-untyped-def]
        self.asked.append(sorted(keys))
        return super().contacts(keys)


def test_the_customer_stage_reads_back_every_shards_contacts_in_one_query(
        client: Client) -> None:
    """Two shards' evicted contacts get their late surveys in one batch: the stage asks the
    archive once for both, and each shard restores its own (the same views as one query per
    shard gave)."""
    writer = ClickHouseWriter(client)
    archive = CountingArchive(client)
    stage = CustomerStage(ShardConfig(await_progress=True), 2, MemoryPartitions(), archive)
    now = datetime(2026, 3, 1, tzinfo=UTC)
    owners = {0: ("r0", "u50"), 1: ("r1", "u51")}  # shard -> (contact, customer)
    first = {p: [valid(e) for e in (
        ev("contact.created", BASE, c, customer=u, queue="q"),
        ev("message.sent", BASE + 5_000, c, customer=u, sender="agent", agent_id="a1"),
    )] for p, (c, u) in owners.items()}
    late = {p: valid(ev("survey.submitted", BASE + 12 * DAY, c, customer=u, csat=1 + p))
            for p, (c, u) in owners.items()}
    batches = [{p: [(0, first[p], 0, Progress(1, {0: BASE}))] for p in owners}]
    for d in range(1, 12):  # other customers' traffic moves both shards' clocks past the TTL
        batches.append({p: [(d, [valid(ev("contact.created", BASE + d * DAY, f"g{p}-{d}",
                                           customer=f"u6{p}", queue="q"))], 0,
                             Progress(1, {0: BASE + d * DAY}))] for p in owners})
    for messages in batches:
        writer.write(stage.prepare(CustomerBatch(messages, Origin("in"), now)).rows)
    asked_before = len(archive.asked)
    prepared = stage.prepare(CustomerBatch(
        {p: [(20, [late[p]], 0, Progress(1, {0: late[p].ts}))] for p in owners},
        Origin("in"), now))
    assert archive.asked[asked_before:] == [[("t1", "r0"), ("t1", "r1")]]
    assert [res.restored_contacts for res in prepared.results] == [1, 1]
    views = {v.contact_id: v for res in prepared.results for v, _ in res.contacts}
    for p, (c, _) in owners.items():
        assert (views[c].csat, views[c].answered_at, views[c].event_count) == (
            1 + p, BASE + 5_000, 3)


def test_a_resumed_replay_reads_back_what_was_stored_when_it_evicted(client: Client) -> None:
    """`EvictedArchive` (streams/replay_evicted.py): told what the shard evicts, it gives back
    that contact with the events stored then and its flag, and those windows' counts, even once
    the store holds the contact's later rows (as a killed run leaves it)."""
    writer = ClickHouseWriter(client)
    evicted = EvictedArchive(ClickHouseArchive(client))
    shard = Shard(6, DictStore(), ShardConfig(await_progress=True), evicted, evicted)
    first = [valid(e) for e in (
        ev("contact.created", BASE, "rz1", customer="u66", queue="q"),
        ev("contact.queued", BASE, "rz1", customer="u66", queue="q"),
        ev("survey.submitted", BASE + HOUR, "rz1", customer="u66", csat=4),
    )]
    filler = [valid(ev("contact.created", BASE + d * DAY, f"gz{d}", customer="u65", queue="q"))
              for d in range(1, 12)]
    messages = [(0, first, 0, None), (1, [], -1, Progress(1, {0: BASE + HOUR}))]
    messages += [(2 + d, [e], 0, Progress(1, {0: e.ts})) for d, e in enumerate(filler)]
    windows: dict[WindowKey, list[int]] = {}
    for m in messages:
        res = shard.process([m])
        write(writer, 6, res)
        windows.update({key: counts for key, counts, _ in res.windows})
        shard.commit()
    assert evicted.kept_contacts >= 1 and evicted.kept_windows >= 1
    # Later rows of r1 in the store: another survey, and its window.
    late = valid(ev("survey.submitted", BASE + 12 * DAY, "rz1", customer="u66", csat=1))
    later = Shard(6, DictStore(), ShardConfig(), ClickHouseArchive(client))
    write(writer, 6, later.process([(0, [late])]))
    assert len(ClickHouseArchive(client).contacts([("t1", "rz1")])[("t1", "rz1")].events) == 4
    got = evicted.contacts([("t1", "rz1"), ("t1", "nobody")])
    assert list(got) == [("t1", "rz1")]
    assert sorted(got[("t1", "rz1")].events, key=lambda e: e.ts) == first
    assert not got[("t1", "rz1")].is_repeat
    r1_windows = [key for key in windows if key[0] < BASE + DAY]
    assert r1_windows
    back = evicted.windows(6, [*r1_windows, (BASE, "t1", "chat", "other", "normal")])
    assert {key: counts for key, (counts, _) in back.items()} == {
        key: windows[key] for key in r1_windows}
    assert evicted.windows(7, r1_windows) == {}
    evicted.close()
