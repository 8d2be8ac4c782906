"""`sqm whatif`'s recomputation and comparison on contacts worked out by hand (no store).

Tenant t1, queue q, 01:00-02:00Z on 2 March 2026. The current policy is contract v1's (chat
first response 30 s, at risk at 80 %: 24 s); the proposed one moves chat to 20 s (at risk at
16 s). Waits count from `contact.queued` to the first public human-agent message:

| contact | what happens                 | 30 s target          | 20 s target           |
|---------|------------------------------|----------------------|-----------------------|
| k1      | chat answered after 15 s     | met                  | met                   |
| k2      | chat answered after 25 s     | met, at risk (24 s)  | missed, at risk (16 s)|
| k3      | chat answered after 20 s     | met                  | met (20 ≤ 20), at risk|
| k4      | chat abandoned after 18 s    | missed               | missed, at risk       |
| k5      | chat answered after 40 s     | missed, at risk      | missed, at risk       |
| k6      | phone answered after 10 s    | met (20 s target)    | met (unchanged)       |
| k7      | chat abandoned after 3 s     | excluded (short)     | excluded (short)      |

Chat service level: current met k1 k2 k3, missed k4 k5 → 3/5 = 60 %; proposed met k1 k3,
missed k2 k4 k5 → 2/5 = 40 %. At risk: current k2 k5 (2), proposed k2 k3 k4 k5 (4). Phone
100 % on both. Changed: k2 met → missed; k3 and k4 now at risk. Scorecard `response_in_sla`
over the answered chats k1 k2 k3 k5: 3/4 → 2/4; `answered_rate` 4 / (4 + k4) = 0.8 on both
(k7 is a short abandon).
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from sqm.streams.cli import cli
from sqm.streams.config import ConfigError
from sqm.streams.core.alerting import AtRiskConfig
from sqm.streams.core.policy_file import Policy, parse_policy, scorecard_config
from sqm.streams.core.records import ABANDONED, CREATED, MESSAGE, QUEUED, EventRecord
from sqm.streams.whatif.compare import ALL, Period, compare
from sqm.streams.whatif.indicators import measure
from sqm.streams.whatif.policies import Side, check_stored
from sqm.streams.whatif.recompute import Rules, contact_facts, recompute
from tests.events import ev, ms

T0 = ms("2026-03-02T01:00:00Z")
WEEK_MS = 7 * 86_400_000


def contact(cid: str, minute: int, *, answered: float | None = None,
            abandoned: float | None = None, channel: str = "chat") -> list[EventRecord]:
    at = T0 + minute * 60_000
    events = [ev(CREATED, at, cid, channel=channel, customer=f"u-{cid}", queue="q",
                 priority="normal"),
              ev(QUEUED, at, cid, channel=channel, customer=f"u-{cid}", queue="q")]
    if answered is not None:
        events.append(ev(MESSAGE, at + round(answered * 1000), cid, channel=channel,
                         customer=f"u-{cid}", sender="agent", agent_id="a1", public=True))
    if abandoned is not None:
        events.append(ev(ABANDONED, at + round(abandoned * 1000), cid, channel=channel,
                         customer=f"u-{cid}"))
    return events


EVENTS = [
    *contact("k1", 0, answered=15), *contact("k2", 1, answered=25),
    *contact("k3", 2, answered=20), *contact("k4", 3, abandoned=18),
    *contact("k5", 4, answered=40), *contact("k6", 5, answered=10, channel="phone"),
    *contact("k7", 6, abandoned=3),
]
PROPOSED = parse_policy({"version": "chat-20s",
                         "default": {"targets": {"chat": {"first_response": "20s"}}}})
PERIOD = Period(T0, T0 + 3_600_000, T0 + 3_600_000)


def side(name: str, policy: Policy) -> Side:
    return Side(name, "test", Rules(policy, WEEK_MS, AtRiskConfig()), *scorecard_config(policy))


def run() -> tuple[list, list, tuple]:
    scope = contact_facts(EVENTS)
    sides = (side("current", Policy.default()), side("proposed", PROPOSED))
    results = (recompute(scope, {}, sides[0].rules, PERIOD.horizon_ms),
               recompute(scope, {}, sides[1].rules, PERIOD.horizon_ms))
    rows, changed = compare(PERIOD, "efficiency", sides, results)
    return rows, changed, results


def test_service_level_misses_and_at_risk_per_queue() -> None:
    rows, _, _ = run()
    by_key = {r.key: r for r in rows}
    chat = by_key[("t1", "chat", "q")]
    assert (chat.current.met, chat.current.missed, chat.current.at_risk) == (3, 2, 2)
    assert (chat.proposed.met, chat.proposed.missed, chat.proposed.at_risk) == (2, 3, 4)
    assert chat.current.service_level == 0.6 and chat.proposed.service_level == 0.4
    assert chat.changed == 3
    phone = by_key[("t1", "phone", "q")]
    assert phone.current.service_level == phone.proposed.service_level == 1.0
    assert phone.changed == 0
    total = by_key[("t1", ALL, ALL)]
    assert (total.current.met, total.proposed.met, total.proposed.missed) == (4, 3, 3)


def test_the_contacts_that_flip() -> None:
    _, changed, _ = run()
    assert [(c.current.contact_id, c.what) for c in changed] == [
        ("k2", ("met → missed",)),
        ("k3", ("now at risk",)),
        ("k4", ("now at risk",)),
    ]
    k2 = changed[0]
    assert (k2.current.sla_target_s, k2.proposed.sla_target_s) == (30, 20)
    assert k2.current.first_response_ms == k2.proposed.first_response_ms == 25_000
    assert k2.counted_at == T0 + 60_000 + 25_000  # by its answer


def test_scorecard_indicators_follow_the_target() -> None:
    _, _, (current, proposed) = run()
    for res, in_sla in ((current, 0.75), (proposed, 0.5)):
        chats = [v for v in res.views.values() if v.channel == "chat"]
        measured, provisional = measure(chats, res.next_created, WEEK_MS, PERIOD.horizon_ms)
        assert measured["response_in_sla"].value == in_sla
        assert measured["response_in_sla"].count == 4
        assert measured["answered_rate"].value == 0.8
        assert provisional == 6  # created less than a week before the newest event


def test_nothing_changes_under_the_same_policy() -> None:
    scope = contact_facts(EVENTS)
    sides = (side("current", Policy.default()), side("proposed", Policy.default()))
    res = recompute(scope, {}, sides[0].rules, PERIOD.horizon_ms)
    rows, changed = compare(PERIOD, "efficiency", sides, (res, res))
    assert changed == [] and all(r.current == r.proposed for r in rows)


def test_neighbours_make_repeats_and_end_fcrs_under_each_window() -> None:
    """Customer u-n's n0 was created two days before k8 (outside the period: a neighbour, read
    for its creation only): k8 is a repeat within 7 days, not within 24 hours. Customer u-f's
    k9, resolved in the period, is followed by f1 three days later: no first-contact
    resolution with a 7-day window, one with 24 hours."""
    day = 86_400_000
    k8 = [ev(CREATED, T0 + 600_000, "k8", customer="u-n", queue="q", priority="normal")]
    k9 = [ev(CREATED, T0 + 660_000, "k9", customer="u-f", queue="q", priority="normal"),
          ev("contact.resolved", T0 + 700_000, "k9", customer="u-f", resolved_by="human")]
    neighbours = contact_facts([
        ev(CREATED, T0 - 2 * day, "n0", customer="u-n", queue="q", priority="normal"),
        ev(CREATED, T0 + 3 * day, "f1", customer="u-f", queue="q", priority="normal")])
    scope = contact_facts([*k8, *k9])
    day_window = parse_policy({"version": "repeat-24h", "repeat": {"window": "24h"}})
    week = recompute(scope, neighbours, Rules(Policy.default(), WEEK_MS, AtRiskConfig()),
                     PERIOD.horizon_ms)
    one_day = recompute(scope, neighbours, Rules(day_window, day, AtRiskConfig()),
                        PERIOD.horizon_ms)
    assert week.views[("t1", "k8")].is_repeat and not one_day.views[("t1", "k8")].is_repeat
    assert week.next_created[("t1", "k9")] == T0 + 3 * day
    for res, window, fcr in ((week, WEEK_MS, 0.0), (one_day, day, 1.0)):
        measured, _ = measure([res.views[("t1", "k9")]], res.next_created, window,
                              T0 + 4 * day)
        assert measured["fcr_rate"].value == fcr
    sides = (side("current", Policy.default()), side("proposed", day_window))
    _, changed = compare(PERIOD, "efficiency", sides, (week, one_day))
    assert [(c.current.contact_id, c.what) for c in changed] == [("k8", ("no longer a repeat",))]


def test_the_command_has_help() -> None:
    result = CliRunner().invoke(cli, ["whatif", "--help"])
    assert result.exit_code == 0, result.output
    assert "--policy" in result.output and "--current" in result.output


def test_the_stored_rows_must_come_from_the_current_policy() -> None:
    current = side("current", Policy.default())
    check_stored(current, {"default": 12})
    with pytest.raises(ConfigError, match=r"^the current policy, test, is version 'default' but "
                                          r"the period's 1,200 contacts were derived under "
                                          r"'v2': pass --current FILE with that policy$"):
        check_stored(current, {"v2": 1200})
    with pytest.raises(ConfigError, match=r"derived under 2 policy versions: 'default' \(3\), "
                                          r"'v2' \(4\); choose a --period and --end within one"):
        check_stored(current, {"v2": 4, "default": 3})


def test_a_contact_still_waiting_is_at_risk_once_the_clock_passed_its_point() -> None:
    """k10, a chat queued at 01:59:00 and never answered, passes 24 s (at risk) at 01:59:24:
    the alert stage raises that only if its clock, the newest event stored, got that far."""
    scope = contact_facts(contact("k10", 59))
    rules = Rules(Policy.default(), WEEK_MS, AtRiskConfig())
    at_risk = T0 + 59 * 60_000 + 24_000
    assert recompute(scope, {}, rules, at_risk).at_risk_at == {("t1", "k10"): at_risk}
    assert recompute(scope, {}, rules, at_risk - 1).at_risk_at == {}
