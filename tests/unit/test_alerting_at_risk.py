"""Pre-breach warnings on a timer: per contact, stamped with the contact's own times."""

from __future__ import annotations

import json
from dataclasses import replace

from sqm.streams.core.alerting import AtRiskTracker, Scope, WaitingContact, waiting_contact
from sqm.streams.core.alerting.at_risk import stopped_waiting
from sqm.streams.core.alerting.changes import AlertChange, alert_id
from sqm.streams.core.alerting.rules import AtRiskConfig
from tests.events import ev, ms
from tests.harness import run

T0 = ms("2026-03-02T01:00:00+00:00")
SEC = 1000
EACH_QUEUE = Scope(tenant="*", channel="*", queue="*")


def contact(cid: str, start: int = T0, target_s: int = 30,
            queue: str = "billing") -> WaitingContact:
    return WaitingContact("t1", cid, "chat", queue, "normal", start, target_s)


def ticks(tracker: AtRiskTracker, start_s: int, end_s: int, step_s: float = 1) -> list[AlertChange]:
    out: list[AlertChange] = []
    t = start_s * SEC
    while t <= end_s * SEC:
        out += tracker.evaluate(T0 + int(t))
        t += step_s * SEC
    return out


def test_the_timer_alone_raises_the_warning_and_an_answer_resolves_it():
    tr = AtRiskTracker()
    tr.upsert(contact("c1"))
    assert tr.evaluate(T0 + 10 * SEC) == []
    assert tr.evaluate(T0 + 23_999) == []  # 80 % of the 30 s target is 24 s
    [fire] = tr.evaluate(T0 + 24 * SEC)  # no event arrived: time passing is enough
    assert (fire.kind, fire.state, fire.version, fire.rule_id) == (
        "at_risk", "firing", 1, "contact-at-risk")
    assert (fire.contact_id, fire.queue, fire.channel, fire.tenant_id) == (
        "c1", "billing", "chat", "t1")
    assert fire.started_at == fire.updated_at == T0 + 24 * SEC and fire.ended_at is None
    assert (fire.value, fire.threshold, fire.metric) == (24.0, 24.0, "wait_s")
    assert fire.alert_id == alert_id("contact-at-risk", "t1", "c1", T0 + 24 * SEC)
    assert fire.message == (
        "chat contact c1 in queue billing (tenant t1) has waited 24 s of its 30 s target: "
        "6 s left, breach at 2026-03-02T01:00:30Z"
    )
    assert tr.evaluate(T0 + 25 * SEC) == []  # no repeats while it lasts
    tr.stop("t1", "c1", T0 + 27 * SEC, "answered")
    [done] = tr.evaluate(T0 + 28 * SEC)
    assert (done.alert_id, done.state, done.version) == (fire.alert_id, "resolved", 3)
    assert done.ended_at == done.updated_at == T0 + 27 * SEC and done.value == 27.0
    assert done.message == (
        "chat contact c1 in queue billing (tenant t1) answered after 27 s, within its 30 s target"
    )
    assert tr.entries == {}  # gone from state once it stopped waiting


def test_a_contact_still_waiting_at_its_target_resolves_the_warning_as_breached():
    tr = AtRiskTracker()
    tr.upsert(contact("c2"))
    out = ticks(tr, 0, 40)
    assert [(c.state, c.updated_at) for c in out] == [
        ("firing", T0 + 24 * SEC), ("resolved", T0 + 30 * SEC)]
    assert out[1].message == (
        "chat contact c2 in queue billing (tenant t1) breached its 30 s target at "
        "2026-03-02T01:00:30Z, still waiting"
    )
    # Still waiting: counted in the queue's backlog and at-risk count (breached included).
    key = ("t1", "chat", "billing", "", "")
    assert tr.samples("backlog", EACH_QUEUE, 0, T0 + 40 * SEC)[key].value == 1.0
    assert tr.samples("at_risk_count", EACH_QUEUE, 0, T0 + 40 * SEC)[key].value == 1.0


def test_answered_before_the_risk_point_raises_nothing_and_a_stop_ahead_of_the_clock_waits():
    tr = AtRiskTracker()
    tr.upsert(contact("c3"))
    tr.stop("t1", "c3", T0 + 10 * SEC)
    assert ticks(tr, 0, 60) == []
    # The stop is known before the clock reaches it: the contact waits until then.
    tr.upsert(contact("c4", start=T0 + 100 * SEC))
    tr.stop("t1", "c4", T0 + 127 * SEC)
    out = ticks(tr, 100, 126)
    assert [c.state for c in out] == ["firing"]
    assert [(c.state, c.ended_at) for c in ticks(tr, 127, 130)] == [
        ("resolved", T0 + 127 * SEC)]


def test_the_same_changes_whether_the_timer_ticks_every_second_or_once():
    def scenario() -> AtRiskTracker:
        tr = AtRiskTracker(AtRiskConfig(contact_breach=True))
        tr.upsert(contact("a"))  # answered at 27 s: warning 24 → 27
        tr.upsert(contact("b"))  # answered at 45 s: warning 24 → 30, breach 30 → 45
        tr.upsert(contact("c", start=T0 + 5 * SEC))  # abandoned at 12 s: nothing
        tr.stop("t1", "a", T0 + 27 * SEC, "answered")
        tr.stop("t1", "b", T0 + 45 * SEC, "answered")
        tr.stop("t1", "c", T0 + 12 * SEC, "abandoned")
        return tr

    def order(changes: list[AlertChange]) -> list[AlertChange]:
        return sorted(changes, key=lambda c: (c.updated_at, c.alert_id, c.version))

    fine = scenario()
    fine.evaluate(T0)
    every_second = ticks(fine, 0, 60)
    coarse = scenario()
    coarse.evaluate(T0)
    once = coarse.evaluate(T0 + 60 * SEC)
    assert order(once) == order(every_second)
    readable = sorted(((c.updated_at - T0) // SEC, c.contact_id, c.kind, c.state) for c in once)
    assert readable == [
        (24, "a", "at_risk", "firing"), (24, "b", "at_risk", "firing"),
        (27, "a", "at_risk", "resolved"),
        (30, "b", "at_risk", "resolved"), (30, "b", "breach", "firing"),
        (45, "b", "breach", "resolved"),
    ]
    breach_end = next(c for c in once if c.kind == "breach" and c.state == "resolved")
    assert breach_end.severity == "critical" and breach_end.message == (
        "chat contact b in queue billing (tenant t1) answered after 45 s, over its 30 s target"
    )


def test_a_contact_first_seen_after_its_target_gets_no_warning():
    tr = AtRiskTracker(AtRiskConfig(contact_breach=True))
    tr.evaluate(T0 + 100 * SEC)
    tr.upsert(contact("late"))  # its target passed 70 s ago: too late to warn
    out = tr.evaluate(T0 + 101 * SEC)
    assert [(c.kind, c.state, c.started_at) for c in out] == [
        ("breach", "firing", T0 + 100 * SEC)]


def test_contacts_waiting_past_max_wait_leave_the_state():
    tr = AtRiskTracker(AtRiskConfig(max_wait="1m"))
    tr.upsert(contact("c1"))
    out = ticks(tr, 0, 61, step_s=10)
    assert [c.state for c in out] == ["firing", "resolved"]
    assert tr.entries == {}
    assert tr.samples("backlog", EACH_QUEUE, 0, T0 + 61 * SEC) == {}


def test_gauges_group_by_scope_as_of_the_clock():
    tr = AtRiskTracker()
    tr.upsert(contact("c1"))  # at risk from 24 s
    tr.upsert(contact("c2", start=T0 + 10 * SEC))  # at risk from 34 s
    tr.upsert(contact("c3", queue="returns"))
    tr.upsert(contact("c4", start=T0 + 60 * SEC))  # its clock has not started at 30 s
    at = T0 + 30 * SEC
    backlog = tr.samples("backlog", EACH_QUEUE, 0, at)
    risky = tr.samples("at_risk_count", EACH_QUEUE, 0, at)
    assert {k[2]: v.value for k, v in backlog.items()} == {"billing": 2.0, "returns": 1.0}
    assert {k[2]: v.value for k, v in risky.items()} == {"billing": 1.0, "returns": 1.0}
    one_tenant = tr.samples("backlog", Scope(tenant="t1"), 0, at)
    assert one_tenant == {("t1", "", "", "", ""): (3.0, 3)}


def test_contact_views_from_the_core_start_and_stop_the_clock():
    queued = [ev("contact.created", T0, "c1", queue="billing"),
              ev("contact.queued", T0, "c1", queue="billing")]
    answer = ev("message.sent", T0 + 27 * SEC, "c1", sender="agent", agent_id="a1")
    waiting_view = run(queued).contacts[("t1", "c1")][1]
    answered_view = run([*queued, answer]).contacts[("t1", "c1")][1]
    # The view carries its due time (sla_due_at): chat, 30 s after the clock start.
    assert waiting_contact(waiting_view) == replace(contact("c1"), due_ms=T0 + 30 * SEC)
    assert waiting_contact(answered_view) is None
    assert stopped_waiting(answered_view) == (T0 + 27 * SEC, "answered")
    # A bot-handled contact that was never queued never waited for a human.
    bot = [ev("contact.created", T0, "b1", queue="billing"),
           ev("contact.resolved", T0 + 5 * SEC, "b1", resolved_by="bot")]
    assert waiting_contact(run(bot).contacts[("t1", "b1")][1]) is None

    tr = AtRiskTracker()
    tr.apply_view(waiting_view)
    out = ticks(tr, 0, 25)
    tr.apply_view(answered_view)
    out += ticks(tr, 26, 30)
    assert [(c.state, (c.updated_at - T0) // SEC) for c in out] == [
        ("firing", 24), ("resolved", 27)]


def test_state_round_trips_with_identical_output():
    def fresh() -> AtRiskTracker:
        tr = AtRiskTracker(AtRiskConfig(contact_breach=True))
        for i in range(5):
            tr.upsert(contact(f"c{i}", start=T0 + i * 7 * SEC))
        tr.stop("t1", "c1", T0 + 40 * SEC, "abandoned")
        return tr

    straight = fresh()
    ticks(straight, 0, 33)
    restored = AtRiskTracker.from_state(json.loads(json.dumps(straight.to_state())),
                                        straight.config)
    assert restored.to_state() == straight.to_state()
    # Row by row, as the alert stage's changelog keeps it.
    rows = [json.loads(json.dumps(straight.entry_row(k))) for k in straight.entries]
    by_rows = AtRiskTracker.from_rows(straight.now, rows, straight.config)
    assert by_rows.to_state() == straight.to_state()
    expected = ticks(straight, 34, 90)
    assert ticks(restored, 34, 90) == expected == ticks(by_rows, 34, 90)


def test_a_business_hours_due_time_moves_the_warning_and_the_breach() -> None:
    # Email, 4 business hours, queued Friday 6 June 2025 17:50 Shanghai, due Monday 12:50
    # (docs/policies.md). In calendar time it would warn at 21:02 Friday; with the due time it
    # warns 20 % of 4 h = 48 min before it, Monday 12:02, and breaches at 12:50.
    start, due = ms("2025-06-06T17:50:00+08:00"), ms("2025-06-09T12:50:00+08:00")
    c = WaitingContact("t1", "e1", "email", "mail", "normal", start, 4 * 3600, due)
    tr = AtRiskTracker()
    tr.record(c, None)
    assert tr.evaluate(ms("2025-06-09T12:01:59+08:00")) == []
    [fire] = tr.evaluate(ms("2025-06-09T12:02:00+08:00"))
    assert (fire.state, fire.started_at) == ("firing", ms("2025-06-09T12:02:00+08:00"))
    assert fire.message == ("email contact e1 in queue mail (tenant t1) is due at "
                            "2025-06-09T04:50:00Z (4 h target, business hours or pauses): "
                            "48 min left")
    [breach] = tr.evaluate(due)
    assert (breach.state, breach.ended_at) == ("resolved", due)
    assert "breached" in breach.message


def test_a_paused_contact_has_no_due_time_and_never_warns() -> None:
    tr = AtRiskTracker()
    tr.record(replace(contact("c1"), due_ms=None), None)
    assert ticks(tr, 0, 120, 10) == []
    at = T0 + 60 * SEC
    assert tr.samples("at_risk_count", EACH_QUEUE, 0, at)[("t1", "chat", "billing", "", "")] == (
        0.0, 1)  # still in the backlog, not at risk
    # The pause ends: the view comes back with a due time, and the warning follows it.
    tr.record(replace(contact("c1"), due_ms=T0 + 150 * SEC), None)
    [fire] = tr.evaluate(T0 + 150 * SEC - 6 * SEC)  # 20 % of 30 s before the due time
    assert fire.state == "firing"


def test_rows_written_before_due_times_restore_as_start_plus_target() -> None:
    tr = AtRiskTracker()
    tr.record(contact("c1"), None)
    row = tr.entry_row(("t1", "c1"))
    assert row is not None and row[14] == -1
    old = AtRiskTracker.from_rows(None, [row[:14]])  # a 14-field row of the earlier format
    assert old.entries[("t1", "c1")].c == contact("c1")
    [fire] = old.evaluate(T0 + 24 * SEC)
    assert fire.started_at == T0 + 24 * SEC


class EveryEntryTracker(AtRiskTracker):
    """Evaluates every entry at every call: the tracker without its wake times."""

    def _wake(self, e: object, now: int) -> int:
        return now


def test_skipping_entries_with_nothing_due_changes_nothing() -> None:
    """Random contacts recorded, re-recorded, stopped (also earlier than before, paused and
    resumed) and evaluated at random growing clocks: the same changes, in the same order, and
    the same state as a tracker that looks at every entry every time."""
    import random

    rng = random.Random(11)
    config = AtRiskConfig(contact_breach=True)
    fast, slow = AtRiskTracker(config), EveryEntryTracker(config)
    now = T0
    for _ in range(3000):
        op = rng.random()
        cid = f"c{rng.randrange(60)}"
        start = now - rng.randrange(0, 120_000)
        target = rng.choice([20, 30, 60])
        due = rng.choice([start + target * 1000, start + rng.randrange(0, 200_000), None])
        c = WaitingContact("t1", cid, "chat", "q", "normal", start, target, due)
        if op < 0.35:
            stop = None if rng.random() < 0.5 else (start + rng.randrange(0, 150_000), "answered")
            for t in (fast, slow):
                t.record(c, stop)
        elif op < 0.45:
            for t in (fast, slow):
                t.upsert(c)
        elif op < 0.55:
            at = now - rng.randrange(0, 60_000)
            for t in (fast, slow):
                t.stop("t1", cid, at, "abandoned")
        else:
            now += rng.randrange(0, 15_000)
            assert fast.evaluate(now) == slow.evaluate(now)
            assert fast.to_state() == slow.to_state()
            assert fast.take_changed() == slow.take_changed()
