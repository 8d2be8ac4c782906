"""Property tests: the streaming core equals the reference whatever the arrival order,
duplication, batching, sharding or crash-and-replay history."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sqm.streams.core.records import EventRecord
from sqm.streams.core.shard import Shard, ShardConfig
from sqm.streams.core.state import DictStore
from tests import reference
from tests.events import ev
from tests.harness import FinalTables, run

BASE = 1_772_326_800_000  # 2026-03-01T01:00:00Z
SPAN_MS = 50 * 60 * 1000  # inside the default 1 h lateness: no event is ever late


@st.composite
def contact_events(draw: st.DrawFn, contact: str) -> list[EventRecord]:
    tenant = draw(st.sampled_from(["t1", "t2"]))
    customer = draw(st.sampled_from(["u1", "u2", "u3"]))
    channel = draw(st.sampled_from(["chat", "phone", "email", "social", "app"]))
    kw = {"tenant": tenant, "customer": customer, "channel": channel}
    t = lambda: BASE + draw(st.integers(0, SPAN_MS))  # noqa: E731
    out: list[EventRecord] = []
    if draw(st.booleans()) or True:
        out.append(ev("contact.created", t(), contact, queue=draw(st.sampled_from(["q1", "q2"])),
                      priority=draw(st.sampled_from(["low", "normal", "urgent"])), **kw))
    for _ in range(draw(st.integers(0, 2))):
        out.append(ev("contact.queued", t(), contact, queue=draw(st.sampled_from(["q1", "q2"])),
                      **kw))
    if draw(st.booleans()):
        out.append(ev("contact.assigned", t(), contact, agent_id="a1",
                      agent_kind=draw(st.sampled_from(["bot", "human"])), **kw))
    for _ in range(draw(st.integers(0, 5))):  # enough for next responses
        sender = draw(st.sampled_from(["agent", "bot", "customer"]))
        out.append(ev("message.sent", t(), contact, sender=sender,
                      agent_id=None if sender == "customer" else "a1",
                      public=draw(st.booleans()), **kw))
    if draw(st.booleans()):
        out.append(ev("contact.abandoned", t(), contact, **kw))
    for _ in range(draw(st.integers(0, 2))):
        out.append(ev("contact.resolved", t(), contact,
                      resolved_by=draw(st.sampled_from(["bot", "human"])), **kw))
    if draw(st.booleans()):
        out.append(ev("contact.reopened", t(), contact, **kw))
    if draw(st.booleans()):
        out.append(ev("contact.transferred", t(), contact, to_queue="q2",
                      to_kind=draw(st.sampled_from(["bot", "human"])), **kw))
    for _ in range(draw(st.integers(0, 2))):  # the latest survey wins, ratings and all
        ratings = draw(st.dictionaries(st.sampled_from(["patience", "professionalism"]),
                                       st.integers(1, 5), max_size=2))
        out.append(ev("survey.submitted", t(), contact, csat=draw(st.integers(1, 5)),
                      ratings=ratings, **kw))
    if not draw(st.booleans()):
        out = [e for e in out if e.type != "contact.created"]  # created may never arrive
    return out


@st.composite
def scenarios(draw: st.DrawFn) -> list[EventRecord]:
    n = draw(st.integers(1, 8))
    events = [e for i in range(n) for e in draw(contact_events(f"c{i}"))]
    return events


def shuffled_with_duplicates(events: list[EventRecord], seed: int) -> list[EventRecord]:
    rnd = random.Random(seed)
    out = list(events) + [rnd.choice(events) for _ in range(len(events) // 3)] if events else []
    rnd.shuffle(out)
    return out


def assert_matches_reference(tables: FinalTables, events: list[EventRecord]) -> None:
    ref = reference.contacts(events)
    got = {k: v for k, (_, v) in tables.contacts.items()}
    assert got.keys() == ref.keys()
    for key, r in ref.items():
        v = got[key]
        actual = {
            "customer_id": v.customer_id, "channel": v.channel, "queue": v.queue,
            "priority": v.priority, "created_at": v.created_at, "queued_at": v.queued_at,
            "has_queued": v.has_queued, "answered_at": v.answered_at,
            "abandoned_at": v.abandoned_at, "wait_ms": v.wait_ms, "in_sla": v.answered_in_sla,
            "short": v.is_short_abandon, "resolved_by": v.resolved_by,
            "bot_contained": v.bot_contained, "csat": v.csat, "event_count": v.event_count,
            "is_repeat": v.is_repeat, "first_resolution_ms": v.first_resolution_ms,
            "resolution_ms": v.resolution_ms, "reopen_count": v.reopen_count,
            "transfer_count": v.transfer_count, "ratings": dict(v.ratings),
            "surveyed_at": v.surveyed_at, "sla_outcome": v.sla_outcome,
            "next_responses": (v.next_response_count, v.next_response_sum_ms,
                               v.next_response_max_ms),
            "handle_ms": v.handle_ms,
        }
        assert actual == r, key
    assert tables.window_totals() == reference.windows(events)


SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(scenarios(), st.integers(0, 2**32), st.integers(1, 4), st.integers(1, 9),
       st.integers(1, 4))
def test_any_order_duplicates_and_batching_match_reference(events, seed, shards, msg, batch):
    arrived = shuffled_with_duplicates(events, seed)
    tables = run(arrived, shards=shards, message_size=msg, batch_messages=batch)
    assert_matches_reference(tables, events)
    assert tables.late == []
    assert len(tables.accepted) == len({e.event_id for e in events})


@SETTINGS
@given(scenarios(), st.integers(0, 2**32), st.data())
def test_crash_and_replay_never_double_counts(events, seed, data):
    """Crash at any point: the changelog keeps any prefix at least as long as what was there
    when input offsets were last committed; rows already written stay; the input is replayed
    from the committed offset with a different batching."""
    arrived = shuffled_with_duplicates(events, seed)
    msgs = [(i, arrived[i * 3:(i + 1) * 3]) for i in range((len(arrived) + 2) // 3)]
    cfg = ShardConfig()
    tables = FinalTables()
    store = DictStore()
    shard = Shard(0, store, cfg)
    committed_msg, committed_log = 0, 0
    crash_after = data.draw(st.integers(0, len(msgs)))
    i = 0
    while i < crash_after:
        size = data.draw(st.integers(1, 3))
        batch = msgs[i:i + size]
        tables.absorb(0, shard.process(batch))
        shard.commit()
        i += len(batch)
        if data.draw(st.booleans()):  # Faust commits offsets now and then, after a flush
            committed_msg, committed_log = i, len(store.changelog)
    kept = data.draw(st.integers(committed_log, len(store.changelog)))
    shard = Shard(0, DictStore.recover(store.changelog[:kept]), cfg)
    j = committed_msg
    while j < len(msgs):
        size = data.draw(st.integers(1, 4))
        tables.absorb(0, shard.process(msgs[j:j + size]))
        shard.commit()
        j += size
    assert_matches_reference(tables, events)


def test_state_is_evicted_by_event_time_not_wall_clock():
    day = 24 * 3600 * 1000
    old = BASE - 400 * day  # more than a year ago: history replays must work
    events = [ev("contact.created", old + i * day, f"c{i}", customer=f"u{i}", queue="q")
              for i in range(12)]
    store = DictStore()
    shard = Shard(0, store, ShardConfig())
    for e in events:
        shard.process([(events.index(e), [e])])
        shard.commit()
    customers = [k for k in store.data if k.startswith("c")]
    # ttl 8 days + 1 h lateness after the newest event (day 11): days 0..2 are gone.
    assert len(customers) == 9
