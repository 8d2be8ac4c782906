"""Hand-worked examples of the metric definitions (docs/metrics.md)."""

from __future__ import annotations

from decimal import Decimal

import orjson

from sqm.streams.core.rows import contact_row
from tests.events import ev, ms
from tests.harness import run

T0 = "2026-03-02T09:00:00+08:00"  # = 01:00:00 UTC


def at(seconds: float) -> int:
    return ms(T0) + int(seconds * 1000)


def contact_of(tables, contact: str, tenant: str = "t1"):
    return tables.contacts[(tenant, contact)][1]


def test_answered_in_sla_and_wait():
    events = [
        ev("contact.created", at(0), "c1", queue="general", priority="high"),
        ev("contact.queued", at(10), "c1", queue="vip"),
        ev("message.sent", at(25), "c1", sender="bot", agent_id="b1"),
        ev("message.sent", at(30), "c1", sender="agent", agent_id="a1", public=False),
        ev("message.sent", at(38.5), "c1", sender="agent", agent_id="a2"),
    ]
    v = contact_of(run(events), "c1")
    # queued at +10 s (the earliest queued), answered by a2's public message at +38.5 s.
    assert v.queue == "vip" and v.priority == "high"
    assert v.queued_at == at(10) and v.answered_at == at(38.5)
    assert v.wait_ms == 28_500 and v.answered_in_sla is True  # chat target 30 s
    assert v.first_agent_id == "a2"
    row = contact_row(v, 1, None)  # type: ignore[arg-type]
    assert row["wait_s"] == Decimal("28.500")


def test_sla_miss_abandon_short_abandon_and_service_level():
    # One minute, chat, queue q: answered in 20 s (met), answered in 45 s (missed),
    # abandoned after 60 s (counts), abandoned after 3 s (short: excluded).
    base = {"queue": "q"}
    events = [
        ev("contact.queued", at(0), "a", **base),
        ev("message.sent", at(20), "a", sender="agent", agent_id="x"),
        ev("contact.queued", at(1), "b", customer="u2", **base),
        ev("message.sent", at(46), "b", customer="u2", sender="agent", agent_id="x"),
        ev("contact.queued", at(2), "c", customer="u3", **base),
        ev("contact.abandoned", at(62), "c", customer="u3"),
        ev("contact.queued", at(3), "d", customer="u4", **base),
        ev("contact.abandoned", at(6), "d", customer="u4"),
    ]
    totals = run(events).window_totals()
    w0 = totals[(ms(T0), "t1", "chat", "q", "normal")]
    w1 = totals[(ms(T0) + 60_000, "t1", "chat", "q", "normal")]
    assert w0 == {"offered": 4, "answered": 2, "answered_in_sla": 1, "wait_ms_sum": 65_000,
                  "abandoned": 1, "short_abandoned": 1, "created": 0, "repeat_contacts": 0,
                  "sl_met": 1, "sl_missed": 1, "csat_count": 0, "csat_sum": 0, "csat_good": 0}
    assert w1["abandoned"] == 1 and w1["short_abandoned"] == 0
    assert (w1["sl_met"], w1["sl_missed"]) == (0, 1)  # the default policy: abandons are misses
    answered = w0["answered"] + w1["answered"]
    in_sla = w0["answered_in_sla"] + w1["answered_in_sla"]
    abandoned = w0["abandoned"] + w1["abandoned"]
    short = w0["short_abandoned"] + w1["short_abandoned"]
    # service level = 1 / (2 + 2 - 1)
    assert in_sla / (answered + abandoned - short) == 1 / 3
    assert (w0["sl_met"] + w1["sl_met"]) / (w0["sl_met"] + w0["sl_missed"] + w1["sl_missed"]) \
        == 1 / 3


def test_abandon_after_answer_is_not_abandoned():
    events = [
        ev("contact.queued", at(0), "c1", queue="q"),
        ev("message.sent", at(10), "c1", sender="agent", agent_id="a"),
        ev("contact.abandoned", at(20), "c1"),
    ]
    v = contact_of(run(events), "c1")
    assert not v.is_abandoned and v.answered_at == at(10) and v.abandoned_at is None


def test_late_answer_before_abandon_retracts_abandon_from_window():
    # The abandon arrives first; a late answer from before it flips the contact to answered.
    events = [
        ev("contact.queued", at(0), "c1", queue="q"),
        ev("contact.abandoned", at(130), "c1"),
        ev("message.sent", at(70), "c1", sender="agent", agent_id="a"),
    ]
    tables = run(events, message_size=1, batch_messages=1)
    totals = tables.window_totals()
    assert (ms(T0) + 120_000, "t1", "chat", "q", "normal") not in totals
    w1 = totals[(ms(T0) + 60_000, "t1", "chat", "q", "normal")]
    assert w1["answered"] == 1 and w1["answered_in_sla"] == 0 and w1["wait_ms_sum"] == 70_000


def test_repeat_contacts_across_channels_and_tenants():
    day = 24 * 3600 * 1000
    events = [
        ev("contact.created", at(0), "k1", channel="chat", queue="q"),
        ev("contact.created", at(0) + 3 * day, "k2", channel="phone", queue="q"),  # repeat of k1
        ev("contact.created", at(0) + 11 * day, "k3", channel="email", queue="q"),  # 8 d after k2
        # Another tenant with the same customer id: never a repeat of tenant t1's contacts.
        ev("contact.created", at(0) + day, "k4", tenant="t2", queue="q"),
        # Same created_at: the smaller contact id is the earlier one.
        ev("contact.created", at(0) + 20 * day, "z2", queue="q"),
        ev("contact.created", at(0) + 20 * day, "z1", queue="q"),
    ]
    t = run(events, shards=3)
    flags = {cid: v.is_repeat for (_, cid), (_, v) in t.contacts.items()}
    assert flags == {"k1": False, "k2": True, "k3": False, "k4": False, "z1": False, "z2": True}


def test_late_earlier_contact_flips_a_later_contacts_repeat_flag():
    events = [
        ev("contact.created", at(3600), "later", queue="q"),
        ev("contact.created", at(0), "earlier", queue="q"),
    ]
    t = run(events, message_size=1, batch_messages=1)
    assert t.contacts[("t1", "later")][1].is_repeat is True
    assert t.contacts[("t1", "earlier")][1].is_repeat is False
    w = t.window_totals()[(ms(T0) + 3_600_000, "t1", "chat", "q", "normal")]
    assert w["created"] == 1 and w["repeat_contacts"] == 1


def test_bot_containment():
    events = [
        ev("contact.created", at(0), "b1", channel="app", queue="bot"),
        ev("message.sent", at(1), "b1", channel="app", sender="bot", agent_id="bot-1"),
        ev("contact.resolved", at(2), "b1", channel="app", resolved_by="bot"),
        ev("contact.created", at(0), "b2", customer="u2", channel="app", queue="bot"),
        ev("contact.transferred", at(1), "b2", customer="u2", channel="app", to_queue="q",
           to_kind="human"),
        ev("contact.resolved", at(2), "b2", customer="u2", channel="app", resolved_by="bot"),
    ]
    t = run(events)
    assert t.contacts[("t1", "b1")][1].bot_contained is True
    assert t.contacts[("t1", "b2")][1].bot_contained is False


def test_reopen_clears_resolution_and_a_later_resolve_restores_it():
    events = [
        ev("contact.created", at(0), "r", queue="q"),
        ev("contact.resolved", at(10), "r", resolved_by="human"),
        ev("contact.reopened", at(20), "r"),
    ]
    assert run(events).contacts[("t1", "r")][1].resolved_at is None
    events.append(ev("contact.resolved", at(30), "r", resolved_by="human"))
    assert run(events).contacts[("t1", "r")][1].resolved_at == at(30)


def test_resolution_times_reopens_and_transfers():
    # Created 01:00:00 UTC; bot hands off to a human queue (transfer 1), moved to another human
    # queue (transfer 2), first resolved at +10 min, reopened at +20 min, resolved again at
    # +40 min. The reopen arrives twice (a re-delivery), which counts once.
    reopen = ev("contact.reopened", at(1200), "r")
    events = [
        ev("contact.created", at(0), "r", queue="bot"),
        ev("contact.transferred", at(60), "r", to_queue="q1", to_kind="human"),
        ev("contact.transferred", at(120), "r", to_queue="q2", to_kind="human"),
        ev("message.sent", at(180), "r", sender="agent", agent_id="a1"),
        ev("contact.resolved", at(600), "r", resolved_by="human"),
        reopen, reopen,
        ev("contact.resolved", at(2400), "r", resolved_by="human"),
    ]
    v = run(list(reversed(events))).contacts[("t1", "r")][1]
    assert v.first_resolved_at == at(600) and v.first_resolution_ms == 600_000
    assert v.resolved_at == at(2400) and v.resolution_ms == 2_400_000
    assert v.reopen_count == 1 and v.transfer_count == 2
    row = contact_row(v, 1, None)  # type: ignore[arg-type]
    assert row["first_resolution_s"] == Decimal("600.000")
    assert row["resolution_s"] == Decimal("2400.000")
    # Reopened again after the final resolution: unresolved now, the first resolution stays.
    events.append(ev("contact.reopened", at(3000), "r"))
    v = run(events).contacts[("t1", "r")][1]
    assert v.resolved_at is None and v.resolution_ms is None
    assert v.first_resolution_ms == 600_000 and v.reopen_count == 2


def test_duplicates_count_once_and_late_events_are_reported():
    e1 = ev("contact.queued", at(0), "c", queue="q")
    e2 = ev("message.sent", at(5), "c", sender="agent", agent_id="a")
    far = ev("contact.created", at(7200), "other", customer="u1", queue="q")
    too_late = ev("contact.created", at(0), "old", customer="u1", queue="q")
    t = run([e1, e2, e1, e2, far, too_late], shards=1, message_size=1, batch_messages=2)
    assert t.duplicates == 2
    assert t.late == [too_late.event_id]
    assert t.contacts[("t1", "c")][1].event_count == 2


def test_a_redelivery_behind_newer_events_is_a_duplicate_not_late():
    # After a crash the ingest stage re-sends events behind newer ones; they were merged already.
    early = ev("contact.queued", at(0), "c", queue="q")
    later = ev("contact.created", at(3 * 3600), "d", customer="u2", queue="q")
    t = run([early, later, early], shards=1, message_size=1, batch_messages=1)
    assert t.duplicates == 1 and t.late == []


def test_facts_state_round_trips_and_reads_state_written_before_the_counts() -> None:
    from sqm.streams.core.facts import ContactFacts

    f = ContactFacts("t1", "r", "u1")
    for e in [ev("contact.created", at(0), "r", queue="q"), ev("contact.reopened", at(5), "r"),
              ev("contact.transferred", at(6), "r", to_queue="q2", to_kind="bot")]:
        f.apply(e)
    state = f.to_state()
    assert ContactFacts.from_state(state) == f
    old = ContactFacts.from_state(state[:7])  # the format before reopen/transfer counts
    assert old.reopens == set() and old.transfers == set() and old.last_reopened == f.last_reopened


def test_the_latest_survey_gives_csat_nps_and_ratings() -> None:
    from sqm.streams.core.derive import derive
    from sqm.streams.core.facts import ContactFacts
    from sqm.streams.core.policy_file import Policy

    events = [
        ev("contact.created", at(0), "s", queue="q"),
        ev("survey.submitted", at(100), "s", csat=2, ratings={"patience": 2}),
        ev("survey.submitted", at(200), "s", csat=5, nps=9,
           ratings={"professionalism": 5, "patience": 4}),
    ]
    v = run(list(reversed(events))).contacts[("t1", "s")][1]
    assert (v.csat, v.nps) == (5, 9)
    assert v.ratings == (("patience", 4), ("professionalism", 5))
    assert contact_row(v, 1, None)["ratings"] == {"patience": 4, "professionalism": 5}  # type: ignore[arg-type]
    # The same view after a round trip through the changelog encoding (pairs come back as lists).
    f = ContactFacts("t1", "s", "u1")
    for e in events:
        f.apply(e)
    restored = ContactFacts.from_state(orjson.loads(orjson.dumps(f.to_state())))
    assert derive(restored, False, Policy.default()) == derive(f, False, Policy.default())
