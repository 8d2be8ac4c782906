"""The hot path's cheaper forms say exactly what the plain forms say.

- `EventRecord.to_wire_list`/`from_wire_list`: the positional wire form round-trips like the dict,
  and `validate_wire` (the ingest stage's path, no record built) gives exactly that form.
- `rows.*_columns`: the column form holds the values of the row dicts (times as epoch ms).
- `CustomerState.encode`: with each contact's JSON cached until it changes (customers with
  several contacts only), the changelog record is byte for byte the one encoded from scratch,
  after every event.
- `rollup.delta`: equals "new contribution − old contribution, without all-zero windows", and
  its shortcut for views that agree on every window input is sound.
- `rows.seconds`: `MILLI × ms` is `Decimal(ms).scaleb(-3)`, digits and exponent.
- `ContactFacts`: the empty set its rare sets share is never changed through a contact.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from itertools import pairwise
from typing import Any

import orjson
import pytest

from sqm.streams.core import rows
from sqm.streams.core.derive import ContactView
from sqm.streams.core.facts import ContactFacts
from sqm.streams.core.records import EventRecord
from sqm.streams.core.rollup import N_COUNTERS, contribution, delta
from sqm.streams.core.shard import Shard, ShardConfig
from sqm.streams.core.state import CustomerState, DictStore, customer_key
from sqm.streams.core.validate import Rejection, validate, validate_wire
from sqm.streams.simulate import SimConfig, history
from tests.events import ev

BASE = 1_772_326_800_000  # 2026-03-01T01:00:00Z


@pytest.fixture(scope="module")
def simulated() -> list[EventRecord]:
    """Messy simulated traffic: every event type, duplicates, +08:00 offsets."""
    lines = history(400, datetime(2026, 3, 2, tzinfo=UTC), 2.0, SimConfig(customers=60), messy=True)
    records = [validate(x.encode() if isinstance(x, str) else orjson.dumps(x)) for x in lines]
    return [r for r in records if isinstance(r, EventRecord)]


def hand_built() -> list[EventRecord]:
    return [
        ev("survey.submitted", BASE, "c1", csat=4),  # trailing nps None, empty ratings
        ev("survey.submitted", BASE, "c1", csat=4, nps=9, ratings={"speed": 5}),
        ev("contact.transferred", BASE, "c2", to_queue="q", to_kind="human"),
        ev("message.sent", BASE, "c3", sender="agent", agent_id="a", public=False),
        ev("contact.closed", BASE, "c4"),  # nothing but the common fields
        ev("contact.created", BASE, "c5", raw='{"x": "é"}', queue="q", priority="high"),
    ]


# --- wire ----------------------------------------------------------------------------------------


def test_wire_list_round_trips_like_the_dict(simulated: list[EventRecord]) -> None:
    for record in [*simulated, *hand_built()]:
        as_list = orjson.loads(orjson.dumps(record.to_wire_list()))
        as_dict = orjson.loads(orjson.dumps(record.to_wire()))
        assert EventRecord.from_wire_list(as_list) == record
        assert EventRecord.from_wire_any(as_list) == record
        assert EventRecord.from_wire_any(as_dict) == EventRecord.from_wire(as_dict) == record


def test_wire_list_leaves_off_trailing_unset_fields_only() -> None:
    closed, survey = hand_built()[4], hand_built()[0]
    assert closed.to_wire_list() == [
        closed.event_id, "contact.closed", BASE, "t1", "c4", "u1", "chat", "",
    ]
    assert survey.to_wire_list()[-2:] == [None, 4]  # None inside the list stays
    rated = hand_built()[1].to_wire_list()
    assert rated[-3:] == [4, 9, {"speed": 5}]
    assert EventRecord.from_wire_list(closed.to_wire_list()).ratings == {}


def test_validate_wire_gives_the_records_wire_form() -> None:
    lines = [*history(300, datetime(2026, 3, 2, tzinfo=UTC), 2.0, SimConfig(customers=40),
                      messy=True)]
    status = {"event_id": "s1", "type": "contact.status_changed", "status": "open",
              "occurred_at": "2026-03-02T08:00:00+08:00", "tenant_id": "t", "contact_id": "c",
              "customer_id": "u", "channel": "chat"}  # ratings sits before status: {} kept
    rated = {**status, "event_id": "s2", "type": "survey.submitted", "csat": 3,
             "ratings": {"patience": 2}, "extra": [1]}
    kinds = set()
    for line in [*lines, status, rated, {**rated, "ratings": None}, b"{", {"type": 1}]:
        raw = line.encode() if isinstance(line, str) else (
            line if isinstance(line, bytes) else orjson.dumps(line))
        wire, record = validate_wire(raw), validate(raw)
        if isinstance(record, Rejection):
            assert wire == record
            continue
        kinds.add(record.type)
        assert wire == record.to_wire_list()
        assert EventRecord.from_wire_list(orjson.loads(orjson.dumps(wire))) == record
    assert len(kinds) >= 9  # the simulator and the two above: all but reopened and closed


# --- rows ----------------------------------------------------------------------------------------


def shard_results(records: list[EventRecord]) -> list[Any]:
    shard = Shard(0, DictStore(), ShardConfig())
    messages = [(i, records[j:j + 50], i % 2) for i, j in enumerate(range(0, len(records), 50))]
    results = []
    for k in range(0, len(messages), 3):
        results.append(shard.process(messages[k:k + 3]))
        shard.commit()
    return results


def as_ms(value: Any) -> Any:
    return rows.epoch_ms(value) if isinstance(value, datetime) else value


def transpose(row_dicts: list[dict[str, Any]]) -> dict[str, list[Any]]:
    return {c: [as_ms(r[c]) for r in row_dicts] for c in row_dicts[0]}


def test_columns_hold_the_values_of_the_row_dicts(simulated: list[EventRecord]) -> None:
    now = datetime(2026, 3, 2, 1, 2, 3, 456789, tzinfo=UTC)  # sub-ms part: floored either way
    now_ms = rows.epoch_ms(now)
    assert now_ms == 1_772_413_323_456
    results = shard_results(simulated)
    events = [e for res in results for e in res.accepted]
    contacts = [c for res in results for c in res.contacts]
    windows = [(shard, *w) for shard, res in enumerate(results) for w in res.windows]
    assert events and contacts and windows

    def columns(form: dict[str, Any]) -> dict[str, list[Any]]:
        return {c: list(v) for c, v in form.items()}

    assert columns(rows.event_columns(events, now_ms)) == transpose(
        [rows.event_row(e, now) for e in events])
    assert columns(rows.contact_columns(contacts, now_ms)) == transpose(
        [rows.contact_row(v, ver, now) for v, ver in contacts])
    sla = columns(rows.sla_columns(windows, now_ms))
    assert sla == transpose([rows.sla_row(k, c, s, ver, now) for s, k, c, ver in windows])
    # DateTime('UTC') windows: whole minutes, which the writer turns into seconds.
    assert all(start % 60_000 == 0 for start in sla["window_start"])
    assert all(isinstance(x, Decimal) for x in sla["wait_s_sum"])


def test_empty_results_give_empty_columns_of_the_same_names() -> None:
    assert list(rows.event_columns([], 0)) == list(rows.EVENT_COLUMNS)
    assert list(rows.contact_columns([], 0)) == list(rows.CONTACT_COLUMNS)
    assert list(rows.sla_columns([], 0)) == list(rows.SLA_COLUMNS)
    for form in (rows.event_columns([], 0), rows.contact_columns([], 0), rows.sla_columns([], 0)):
        assert not any(form.values())  # the writer skips such a table


# --- rollup --------------------------------------------------------------------------------------


def naive_delta(old: ContactView | None, new: ContactView | None) -> dict[Any, list[int]]:
    """The definition: new − old per window, all-zero windows left out."""
    before, after = contribution(old), contribution(new)
    out = {}
    for key in before.keys() | after.keys():
        b = before.get(key, [0] * N_COUNTERS)
        a = after.get(key, [0] * N_COUNTERS)
        d = [x - y for x, y in zip(a, b, strict=True)]
        if any(d):
            out[key] = d
    return out


def all_views(records: list[EventRecord]) -> list[ContactView]:
    return [v for res in shard_results(records) for v, _ in res.contacts]


def test_delta_is_new_minus_old_contribution(simulated: list[EventRecord]) -> None:
    views = all_views(simulated)
    by_contact: dict[str, list[ContactView]] = {}
    for v in views:
        by_contact.setdefault(v.contact_id, []).append(v)
    # A view against none, either way: every view (the shortcut for one view's contribution).
    pairs = [(None, v) for v in views] + [(v, None) for v in views] + [(None, None)]
    pairs += [(a, b) for vs in by_contact.values() for a in vs for b in vs]
    pairs += list(pairwise(views))  # different contacts and dimensions
    moved = 0
    for old, new in pairs:
        assert delta(old, new) == naive_delta(old, new)
        moved += bool(delta(old, new))
    assert moved > 100


def test_fields_outside_the_window_inputs_do_not_change_a_contribution(
    simulated: list[EventRecord],
) -> None:
    # delta() skips views that agree on its window inputs; that is sound only if no other field
    # feeds a contribution. Change each other field and the contribution must stay the same.
    others = {
        "contact_id": "zz", "customer_id": "zz", "order_id": "o", "topic": "t",
        "first_agent_id": "a", "sla_target_s": 1, "resolved_at": 1, "resolved_by": "bot",
        "bot_contained": True, "transferred_to_human": True, "nps": 1,
        "first_event_at": 1, "last_event_at": 1, "event_count": 99, "is_abandoned": None,
        "first_resolved_at": 1, "first_resolution_ms": 1, "resolution_ms": 1, "reopen_count": 9,
        "transfer_count": 9, "ratings": (("patience", 1),), "sla_clock": "business",
        "sla_start_at": 1, "sla_due_at": 1, "first_response_ms": 1, "next_response_count": 3,
        "next_response_sum_ms": 3, "next_response_max_ms": 2, "next_response_missed": 1,
        "resolution_target_s": 9, "resolution_in_sla": False, "handle_ms": 5,
        "policy_version": "x",
    }
    assert set(others) | {
        "tenant_id", "channel", "queue", "priority", "created_at", "is_repeat", "queued_at",
        "has_queued", "answered_at", "wait_ms", "answered_in_sla", "abandoned_at",
        "is_short_abandon", "sla_outcome", "surveyed_at", "csat",
    } == set(ContactView._fields)
    for v in all_views(simulated):
        for name, value in others.items():
            changed = v._replace(**{name: value})
            assert contribution(changed) == contribution(v), name
            assert delta(v, changed) == {}


def test_cached_contact_json_is_the_encoding_from_scratch(simulated: list[EventRecord]) -> None:
    """Applies the traffic event by event to per-customer states, encoding the touched customer
    after each event (so every contact's cache is filled, then invalidated by its next event)
    and comparing with the same state encoded with no cache at all. Then a merge."""
    states: dict[tuple[str, str], CustomerState] = {}
    for e in simulated:
        st = states.setdefault((e.tenant_id, e.customer_id), CustomerState())
        facts = st.contacts.setdefault(
            e.contact_id, ContactFacts(e.tenant_id, e.contact_id, e.customer_id))
        facts.apply(e)
        st.repeat[e.contact_id] = len(facts.event_ids) % 2 == 0
        plain = orjson.dumps([[f.to_state(), st.repeat.get(cid, False)]
                              for cid, f in st.contacts.items()])
        assert st.encode() == plain
        assert CustomerState.decode(st.encode()).encode() == plain
        if len(st.contacts) == 1:  # written only when its contact changed: nothing to keep
            assert facts._json is None
    assert len(states) > 20
    a = next(f for st in states.values() for f in st.contacts.values())
    a.state_json()
    other = ContactFacts(a.tenant_id, a.contact_id, a.customer_id)
    other.apply(ev("contact.reopened", BASE + 99_000_000, a.contact_id))
    a.merge(other)
    assert bytes(orjson.dumps(a.state_json())) == orjson.dumps(a.to_state())


def test_seconds_have_the_digits_and_places_of_scaleb() -> None:
    for ms in (0, 1, 7, 999, 1000, 1500, 86_400_000, 123_456_789_012, -5, -1500):
        exact = Decimal(ms).scaleb(-3)
        assert rows.seconds(ms).as_tuple() == exact.as_tuple()
        assert rows.opt_seconds(ms).as_tuple() == exact.as_tuple()  # type: ignore[union-attr]
    assert rows.opt_seconds(None) is None


def test_rare_sets_start_shared_and_empty_and_stay_so() -> None:
    """reopens, transfers and statuses share one immutable empty set until a contact has
    one: filling, merging or restoring a contact's never shows in another's."""
    a = ContactFacts("t1", "c1", "u1")
    for e in (ev("contact.reopened", BASE, "c1"), ev("contact.transferred", BASE + 1, "c1"),
              ev("contact.status_changed", BASE + 2, "c1", status="pending"),
              ev("contact.reopened", BASE + 3, "c1")):
        a.apply(e)
    assert len(a.reopens) == 2 and len(a.transfers) == 1 and len(a.statuses) == 1
    b = ContactFacts("t1", "c1", "u1")
    b.merge(a)
    b.apply(ev("contact.reopened", BASE + 4, "c1"))
    assert len(b.reopens) == 3 and len(a.reopens) == 2
    restored = ContactFacts.from_state(a.to_state())
    assert restored == a
    restored.apply(ev("contact.transferred", BASE + 5, "c1"))
    assert len(restored.transfers) == 2 and len(a.transfers) == 1
    fresh = ContactFacts("t1", "c2", "u1")
    assert fresh.reopens == fresh.transfers == fresh.statuses == set()
    assert ContactFacts.from_state(fresh.to_state()) == fresh


def test_wanted_contacts_are_each_contacts_first_customer_without_it() -> None:
    """The contacts to read back: per (tenant, contact), the first customer it has an event
    for that does not hold it in state (customers decoded from a recovered changelog, or new),
    unless the batch creates it; hostile input may give one contact several customers."""
    store = DictStore()
    shard = Shard(0, store, ShardConfig())
    shard.process([(0, [ev("contact.created", BASE, "c1", customer="u1"),
                        ev("contact.created", BASE, "c2", customer="u2")])])
    shard.commit()
    recovered = DictStore.recover(store.changelog)  # customers as bytes
    assert isinstance(recovered.get(customer_key(0, "t1", "u1")), bytes)
    batch = [
        ev("contact.queued", BASE + 1, "c1", customer="u1"),  # held
        ev("contact.queued", BASE + 2, "c1", customer="u9"),  # wanted for u9
        ev("contact.queued", BASE + 3, "c1", customer="u1"),
        ev("contact.queued", BASE + 4, "c3", customer="u1"),  # created below: not wanted
        ev("contact.created", BASE + 5, "c3", customer="u1"),
        ev("contact.queued", BASE + 6, "c4", customer="u2"),  # wanted for u2, the first
        ev("contact.queued", BASE + 7, "c4", customer="u1"),
        ev("contact.queued", BASE + 8, "c2", customer="u2"),  # held
    ]
    wanted = Shard(0, recovered, ShardConfig()).wanted_contacts([(1, batch[:4]), (2, batch[4:])])
    assert wanted == {("t1", "c1"): customer_key(0, "t1", "u9"),
                      ("t1", "c4"): customer_key(0, "t1", "u2")}
