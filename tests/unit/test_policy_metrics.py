"""The SLA policy in the metrics: every value below is worked out by hand in the comments
(docs/policies.md, "Worked examples"; docs/metrics.md). Events run through real shards
(`tests/harness.run`), in reverse order and duplicated where it matters."""

from __future__ import annotations

from typing import Any

from sqm.streams.core.derive import ContactView
from sqm.streams.core.policy_file import Policy, parse_policy
from sqm.streams.core.records import EventRecord
from sqm.streams.core.rows import contact_row
from sqm.streams.core.shard import ShardConfig
from tests.events import ev, ms
from tests.harness import FinalTables, run

S = 1000
T0 = ms("2026-03-02T09:00:00+00:00")  # a Monday

# Asia/Shanghai (UTC+8), Mon-Fri 09:00-18:00, 2 June 2025 (Dragon Boat, a Monday) a holiday.
SHANGHAI = {"timezone": "Asia/Shanghai", "hours": {d: "09:00-18:00" for d in
                                                    ("mon", "tue", "wed", "thu", "fri")},
            "holidays": ["2025-06-02"]}


def policy(**sections: Any) -> Policy:
    return parse_policy({"version": "test-1", **sections})


def config(p: Policy) -> ShardConfig:
    return ShardConfig(policy=p, lateness_ms=30 * 86400 * S,
                       repeat_window_ms=p.repeat_window_ms or 7 * 86400 * S,
                       repeat_identity=p.repeat_identity, state_ttl_ms=60 * 86400 * S)


def contact(events: list[EventRecord], p: Policy | None = None, cid: str = "c1") -> ContactView:
    # Reversed and duplicated: the policy's results obey the spine's order rule too.
    arrived = list(reversed(events)) + events[:2]
    tables: FinalTables = run(arrived, config=config(p or Policy.default()))
    return tables.contacts[("t1", cid)][1]


def at(seconds: float) -> int:
    return T0 + round(seconds * S)


# --- business hours, weekend, holiday, time zone ------------------------------------------------

EMAIL_4H_BUSINESS = policy(
    calendars={"cn": SHANGHAI},
    default={"calendar": "cn",
             "targets": {"email": {"first_response": {"target": "4h", "clock": "business"}}}},
)


def email(queued: str, answered: str) -> list[EventRecord]:
    return [
        ev("contact.created", queued, "c1", channel="email", queue="mail"),
        ev("message.sent", answered, "c1", channel="email", sender="agent", agent_id="a1"),
    ]


def test_business_hours_across_a_weekend_in_a_utc_plus_8_zone() -> None:
    # Queued Friday 6 June 2025 17:50 Shanghai: 10 min on Friday, nothing on the weekend,
    # answered Monday 10:00 = 10 min + 1 h = 1 h 10 min of business time: met. Due Monday
    # 09:00 + 3 h 50 min = 12:50 local = 04:50Z. Real wait: 64 h 10 min.
    v = contact(email("2025-06-06T17:50:00+08:00", "2025-06-09T10:00:00+08:00"),
                EMAIL_4H_BUSINESS)
    assert v.sla_clock == "business"
    assert v.first_response_ms == 70 * 60 * S
    assert v.answered_in_sla is True and v.sla_outcome == "met"
    assert v.sla_due_at == ms("2025-06-09T04:50:00+00:00")
    assert v.wait_ms == (64 * 60 + 10) * 60 * S
    assert v.sla_target_s == 4 * 3600 and v.policy_version == "test-1"
    # The same contact under the default policy: 4 h of calendar time, long missed.
    d = contact(email("2025-06-06T17:50:00+08:00", "2025-06-09T10:00:00+08:00"))
    assert d.sla_clock == "calendar" and d.sla_outcome == "missed"
    assert d.first_response_ms == d.wait_ms and d.policy_version == "default"


def test_a_holiday_moves_the_due_time_and_turns_an_answer_into_a_miss() -> None:
    # Queued Friday 30 May 17:50: 10 min; Mon 2 June is a holiday; Tuesday 09:00 + 3 h 50 min
    # = 12:50 due. Answered Tuesday 13:00: 10 min + 4 h = 4 h 10 min > 4 h: missed.
    v = contact(email("2025-05-30T17:50:00+08:00", "2025-06-03T13:00:00+08:00"),
                EMAIL_4H_BUSINESS)
    assert v.sla_due_at == ms("2025-06-03T12:50:00+08:00")
    assert v.first_response_ms == (4 * 60 + 10) * 60 * S
    assert v.sla_outcome == "missed" and v.answered_in_sla is False


# --- pause states -------------------------------------------------------------------------------

PAUSE = policy(default={"clock": {"pause_states": ["waiting_on_customer"]}})


def paused_chat(*extra: EventRecord) -> list[EventRecord]:
    return [
        ev("contact.created", at(0), "c1", queue="q"),
        ev("contact.status_changed", at(10), "c1", status="waiting_on_customer"),
        ev("contact.status_changed", at(70), "c1", status="open"),
        *extra,
    ]


def test_time_in_a_pause_state_does_not_count() -> None:
    # Chat, 30 s target. Clock 0-10 s, paused 10-70 s, running again: answered at 80 s has
    # used 10 + 10 = 20 s: met. Due: 10 s used by the pause, 20 s left after 70 s = 90 s.
    answered = ev("message.sent", at(80), "c1", sender="agent", agent_id="a1")
    v = contact(paused_chat(answered), PAUSE)
    assert v.first_response_ms == 20 * S and v.sla_outcome == "met"
    assert v.sla_due_at == at(90)
    assert v.wait_ms == 80 * S  # wait_s stays real time from queued_at
    # Without pause states the same contact waited 80 s: missed.
    assert contact(paused_chat(answered)).sla_outcome == "missed"


def test_a_pause_that_has_not_ended_stops_the_due_time() -> None:
    v = contact(paused_chat()[:2], PAUSE)
    assert v.sla_due_at is None and v.sla_outcome is None
    # Other statuses do not pause: due at 30 s.
    other = [ev("contact.created", at(0), "c1", queue="q"),
             ev("contact.status_changed", at(10), "c1", status="on_hold")]
    assert contact(other, PAUSE).sla_due_at == at(30)


# --- clock start and stop -----------------------------------------------------------------------

def handoff_chat() -> list[EventRecord]:
    return [
        ev("contact.created", at(0), "c1", queue="bot"),
        ev("message.sent", at(5), "c1", sender="bot", agent_id="b1"),
        ev("contact.transferred", at(20), "c1", to_queue="human", to_kind="human"),
        ev("contact.queued", at(22), "c1", queue="human"),
        ev("message.sent", at(45), "c1", sender="agent", agent_id="a1"),
    ]


def test_clock_start_created_queued_or_bot_handoff() -> None:
    starts = {
        "created": (at(0), 45 * S, "missed"),
        "queued": (at(22), 23 * S, "met"),
        "bot_handoff": (at(20), 25 * S, "met"),
    }
    for start, (start_at, elapsed, outcome) in starts.items():
        v = contact(handoff_chat(), policy(default={"clock": {"start": start}}))
        assert (v.sla_start_at, v.first_response_ms, v.sla_outcome) == (
            start_at, elapsed, outcome), start
        assert v.wait_ms == 23 * S  # real wait from queued_at, whatever the policy
        assert v.transferred_to_human is True


def test_bot_replies_stop_the_clock_only_when_the_policy_says_so() -> None:
    v = contact(handoff_chat(), policy(default={"clock": {"stop_on_bot_reply": True,
                                                          "start": "created"}}))
    assert (v.answered_at, v.first_agent_id, v.first_response_ms) == (at(5), "b1", 5 * S)
    assert v.bot_contained is False  # containment still needs no human answer at all


# --- service-level formula variants -------------------------------------------------------------

def abandoned_after(seconds: float, cid: str) -> list[EventRecord]:
    return [ev("contact.queued", at(0), cid, queue="q", customer=cid),
            ev("contact.abandoned", at(seconds), cid, customer=cid)]


def outcomes(p: Policy) -> dict[str, str | None]:
    events = (abandoned_after(3, "short") + abandoned_after(20, "early")
              + abandoned_after(40, "late")
              + [ev("contact.queued", at(0), "exact", queue="q", customer="x"),
                 ev("message.sent", at(30), "exact", customer="x", sender="agent",
                    agent_id="a1")])
    tables = run(events, config=config(p))
    return {cid: v.sla_outcome for (_, cid), (_, v) in tables.contacts.items()}


def test_abandon_variants_and_comparison() -> None:
    # Chat target 30 s; abandons after 3 s (short), 20 s and 40 s; one answer at exactly 30 s.
    assert outcomes(Policy.default()) == {
        "short": "excluded", "early": "missed", "late": "missed", "exact": "met"}
    assert outcomes(policy(default={"service_level": {"abandons": "exclude"}})) == {
        "short": "excluded", "early": "excluded", "late": "excluded", "exact": "met"}
    assert outcomes(policy(default={"service_level": {"abandons": "met_within_threshold"}})) == {
        "short": "excluded", "early": "met", "late": "missed", "exact": "met"}
    assert outcomes(policy(default={"service_level": {"comparison": "lt",
                                                      "short_abandon_s": 25}})) == {
        "short": "excluded", "early": "excluded", "late": "missed", "exact": "missed"}


def test_windows_count_the_policy_outcomes() -> None:
    p = policy(default={"service_level": {"abandons": "met_within_threshold"}})
    events = abandoned_after(3, "short") + abandoned_after(20, "early") + abandoned_after(
        40, "late")
    totals = run(events, config=config(p)).window_totals()
    # Abandoned at 3 s and 20 s fall in minute 0, at 40 s too: met 1 (early), missed 1 (late).
    w = totals[(T0, "t1", "chat", "q", "normal")]
    assert (w["sl_met"], w["sl_missed"], w["abandoned"], w["short_abandoned"]) == (1, 1, 3, 1)


# --- next response, resolution target, handle time ------------------------------------------------

def conversation() -> list[EventRecord]:
    msg = lambda s, sender, aid=None: ev(  # noqa: E731
        "message.sent", at(s), "c1", sender=sender, agent_id=aid)
    return [
        ev("contact.created", at(0), "c1", queue="q"),
        ev("contact.assigned", at(4), "c1", agent_id="a1", agent_kind="human"),
        msg(10, "agent", "a1"),  # first response
        msg(20, "customer"), msg(25, "customer"),
        msg(50, "agent", "a1"),  # next response: 20 → 50 = 30 s
        msg(60, "customer"),
        msg(65, "bot", "b1"),  # a bot does not stop it by default
        msg(70, "agent", "a1"),  # 60 → 70 = 10 s
        ev("message.sent", at(80), "c1", sender="agent", agent_id="a1", public=False),
        msg(100, "customer"),  # still waiting: not a next response yet
        ev("contact.resolved", at(3600), "c1", resolved_by="human"),
    ]


def test_next_response_times() -> None:
    v = contact(conversation())
    assert (v.next_response_count, v.next_response_sum_ms, v.next_response_max_ms) == (
        2, 40 * S, 30 * S)
    assert v.next_response_missed is None  # no next-response target by default
    p = policy(default={"targets": {"chat": {"next_response": "20s"}}})
    assert contact(conversation(), p).next_response_missed == 1  # 30 s > 20 s
    bots = policy(default={"clock": {"stop_on_bot_reply": True}})
    v = contact(conversation(), bots)  # the bot's 65 s reply now stops the second: 5 s
    assert (v.next_response_count, v.next_response_sum_ms) == (2, 35 * S)


def test_resolution_target_and_handle_time() -> None:
    p = policy(default={"targets": {"chat": {"resolution": "1h"}}})
    v = contact(conversation(), p)
    # created 0 → resolved 3600 s: exactly 1 h, within (≤). Handle: assigned 4 s → 3600 s.
    assert (v.resolution_target_s, v.resolution_in_sla) == (3600, True)
    assert v.handle_ms == 3596 * S
    reopened = [*conversation(), ev("contact.reopened", at(4000), "c1"),
                ev("contact.resolved", at(5000), "c1", resolved_by="human")]
    v = contact(reopened, p)
    assert v.resolution_in_sla is False and v.reopen_count == 1 and v.handle_ms == 4996 * S
    # Without an assignment, handle time starts at the first human answer (10 s).
    no_assign = [e for e in conversation() if e.type != "contact.assigned"]
    assert contact(no_assign).handle_ms == 3590 * S
    assert contact(conversation()).resolution_in_sla is None  # no resolution target


# --- scopes, version, repeats ---------------------------------------------------------------------

def test_tenant_queue_and_priority_overrides_reach_the_contact() -> None:
    p = policy(tenants={"t1": {"queues": {"vip": {"targets": {
        "chat": {"first_response": "20s", "priorities": {"urgent": {"first_response": "10s"}}}}}}}})
    def answered(queue: str, priority: str) -> ContactView:
        return contact([ev("contact.created", at(0), "c1", queue=queue, priority=priority),
                        ev("message.sent", at(15), "c1", sender="agent", agent_id="a1")], p)
    assert answered("vip", "urgent").sla_target_s == 10
    assert answered("vip", "urgent").sla_outcome == "missed"
    assert answered("vip", "normal").sla_target_s == 20
    assert answered("general", "urgent").sla_target_s == 30
    row = contact_row(answered("vip", "normal"), 1, None)  # type: ignore[arg-type]
    assert row["policy_version"] == "test-1" and row["sla_outcome"] == "met"


def test_repeat_identity_and_window_from_the_policy() -> None:
    hour = 3600 * S
    events = [
        ev("contact.created", T0, "c1", queue="q", order_id="o1"),
        ev("contact.created", T0 + hour, "c2", queue="q", order_id="o2"),
        ev("contact.created", T0 + 2 * hour, "c3", queue="q", order_id="o1"),
        ev("contact.created", T0 + 3 * hour, "c4", queue="q"),
        ev("contact.created", T0 + 30 * hour, "c5", queue="q", order_id="o1"),
    ]

    def flags(p: Policy) -> dict[str, bool]:
        tables = run(list(reversed(events)), config=config(p))
        return {cid: v.is_repeat for (_, cid), (_, v) in sorted(tables.contacts.items())}

    # Any contact of the customer within 7 days: all but the first.
    assert flags(Policy.default()) == {"c1": False, "c2": True, "c3": True, "c4": True,
                                       "c5": True}
    # Same order only: c3 (o1 two hours after c1); c5 (o1, 28 h after c3) is within 7 days.
    assert flags(policy(repeat={"identity": "order_id"})) == {
        "c1": False, "c2": False, "c3": True, "c4": False, "c5": True}
    # A 24 h window: c5 is 28 h after c3, no longer a repeat.
    assert flags(policy(repeat={"identity": "order_id", "window": "24h"})) == {
        "c1": False, "c2": False, "c3": True, "c4": False, "c5": False}


def test_changing_the_policy_keeps_the_state_and_records_the_new_version() -> None:
    # A worker restarted with a new policy (chat target 30 s → 60 s) keeps its facts: c1,
    # created under v1 and answered after 45 s under v2, is met (45 ≤ 60) and says v2; c2,
    # untouched since, is not rewritten (its row keeps v1).
    from sqm.streams.core.shard import Shard
    from sqm.streams.core.state import DictStore

    store = DictStore()
    v1 = parse_policy({"version": "v1"})
    v2 = parse_policy({"version": "v2",
                       "default": {"targets": {"chat": {"first_response": "60s"}}}})
    before = Shard(0, store, config(v1))
    res = before.process([(0, [ev("contact.created", at(0), "c1", queue="q"),
                               ev("contact.created", at(0), "c2", queue="q", customer="u2")])])
    before.commit()
    assert sorted((v.contact_id, v.policy_version) for v, _ in res.contacts) == [
        ("c1", "v1"), ("c2", "v1")]
    after = Shard(0, store, config(v2))
    res = after.process([(1, [ev("message.sent", at(45), "c1", sender="agent",
                                 agent_id="a1")])])
    (v, _), = res.contacts
    assert (v.contact_id, v.policy_version, v.sla_target_s, v.sla_outcome) == (
        "c1", "v2", 60, "met")
    assert v.event_count == 2 and v.created_at == at(0)  # facts from before the change
    (_, counts, _), = res.windows
    assert counts[8:10] == [1, 0]  # sl_met, sl_missed of minute 0
