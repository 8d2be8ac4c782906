"""The SLA policy file (streams/core/policy_file.py): defaults, precedence, errors, hash."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from sqm.streams.core.calendar import ALWAYS_OPEN, BusinessCalendar
from sqm.streams.core.policy import DEFAULT_FIRST_RESPONSE_TARGETS_S
from sqm.streams.core.policy_file import (
    ClockRules,
    Policy,
    PolicyError,
    ServiceLevel,
    load_policy,
    parse_policy,
)
from tests.events import ms

EXAMPLE = Path(__file__).parents[2] / "deploy" / "config" / "policy.example.yaml"
CHANNELS = ("chat", "phone", "email", "social", "app")
PRIORITIES = ("low", "normal", "high", "urgent")
SHANGHAI = {"timezone": "Asia/Shanghai", "hours": {d: ["09:00-18:00"] for d in
                                                  ("mon", "tue", "wed", "thu", "fri")}}


def business(target: str) -> dict[str, str]:
    return {"target": target, "clock": "business"}


# --- defaults ------------------------------------------------------------------------------------


def test_defaults_equal_the_spine():
    for policy in (Policy.default(), parse_policy({"version": "v1"})):
        for channel in CHANNELS:
            for priority in PRIORITIES:
                t = policy.targets_for("t1", channel, priority, "general")
                assert t.first_response_s == DEFAULT_FIRST_RESPONSE_TARGETS_S[channel]
                assert t.first_response.clock == "calendar"
                assert t.first_response.calendar is ALWAYS_OPEN
                assert t.next_response is None and t.resolution is None
                assert t.clock == ClockRules("queued", False, ())
                assert t.service_level == ServiceLevel("miss", 5, "le")
    assert ServiceLevel().short_abandon_s == 5
    assert dict(DEFAULT_FIRST_RESPONSE_TARGETS_S) == {
        "chat": 30, "phone": 20, "app": 60, "social": 3600, "email": 14400}


def test_default_service_level_is_contract_v1():
    sl = ServiceLevel()
    # derive.py: in SLA iff wait_ms <= target * 1000; short abandon iff wait < 5000 ms.
    assert sl.within(30_000, 30) and not sl.within(30_001, 30)
    assert sl.is_short_abandon(4_999) and not sl.is_short_abandon(5_000)
    # Abandons are misses, short ones leave the denominator.
    assert sl.abandon_outcome(60_000, 60_000, 30) == "missed"
    assert sl.abandon_outcome(10_000, 10_000, 30) == "missed"
    assert sl.abandon_outcome(3_000, 3_000, 30) == "excluded"


def test_service_level_variants():
    lt = ServiceLevel(comparison="lt")
    assert lt.within(29_999, 30) and not lt.within(30_000, 30)
    met = ServiceLevel(abandons="met_within_threshold")
    assert met.abandon_outcome(20_000, 20_000, 30) == "met"
    assert met.abandon_outcome(40_000, 40_000, 30) == "missed"
    assert met.abandon_outcome(4_000, 4_000, 30) == "excluded"  # short: out in every variant
    # Threshold in business time (0 elapsed overnight), short abandons in real time.
    assert met.abandon_outcome(8 * 3_600_000, 0, 30) == "met"
    assert ServiceLevel(abandons="exclude").abandon_outcome(60_000, 60_000, 30) == "excluded"


# --- precedence ----------------------------------------------------------------------------------

PRECEDENCE: dict[str, Any] = {
    "version": "p1",
    "calendars": {"cn": SHANGHAI, "utc": {"timezone": "UTC", "hours": {"mon": ["00:00-24:00"]}}},
    "default": {
        "calendar": "utc",
        "targets": {"email": {"first_response": business("8h"), "resolution": "3d",
                              "priorities": {"urgent": {"first_response": "1h"}}}},
        "clock": {"start": "created", "pause_states": ["waiting_on_customer"]},
        "service_level": {"short_abandon_s": 7},
    },
    "tenants": {
        "acme": {
            "calendar": "cn",
            "targets": {"email": {"first_response": business("4h"),
                                  "priorities": {"high": {"first_response": business("2h")}}}},
            "clock": {"stop_on_bot_reply": True},
            "queues": {
                "vip": {"targets": {"email": {"first_response": "30m"}},
                        "clock": {"start": "bot_handoff", "pause_states": []},
                        "service_level": {"comparison": "lt"}},
                "cn-night": {"calendar": "utc"},
            },
        },
    },
}


def test_precedence_tenant_queue_over_tenant_over_default():
    p = parse_policy(PRECEDENCE)
    fr = lambda tenant, priority, queue: p.targets_for(tenant, "email", priority, queue)  # noqa: E731

    # Unknown tenant: the default scope; per-priority beats channel-wide within it.
    assert fr("other", "normal", "q").first_response_s == 8 * 3600
    assert fr("other", "urgent", "q").first_response_s == 3600
    assert fr("other", "normal", "q").first_response.calendar_name == "utc"
    # Tenant: its own targets; a tenant's channel-wide target beats the default's per-priority.
    assert fr("acme", "normal", "q").first_response_s == 4 * 3600
    assert fr("acme", "urgent", "q").first_response_s == 4 * 3600
    assert fr("acme", "high", "q").first_response_s == 2 * 3600
    assert fr("acme", "high", "q").first_response.calendar_name == "cn"
    # Tenant + queue beats the tenant (for every priority it does not restate).
    vip = fr("acme", "high", "vip")
    assert vip.first_response_s == 1800 and vip.first_response.clock == "calendar"
    # Kinds are inherited separately: resolution comes from the default.
    assert vip.resolution_s == 3 * 86400 and vip.next_response is None
    # Calendars are inherited separately from targets: the default's business target, the
    # queue's calendar.
    night = fr("acme", "normal", "cn-night")
    assert night.first_response_s == 4 * 3600 and night.first_response.calendar_name == "utc"
    # Other channels keep the built-in defaults everywhere.
    assert p.targets_for("acme", "chat", "urgent", "vip").first_response_s == 30


def test_clock_and_service_level_inherit_field_by_field():
    p = parse_policy(PRECEDENCE)
    assert p.targets_for("other", "chat", "normal", "").clock == ClockRules(
        "created", False, ("waiting_on_customer",))
    assert p.targets_for("acme", "chat", "normal", "").clock == ClockRules(
        "created", True, ("waiting_on_customer",))
    vip = p.targets_for("acme", "chat", "normal", "vip")
    assert vip.clock == ClockRules("bot_handoff", True, ())  # an empty list replaces
    assert vip.service_level == ServiceLevel("miss", 7, "lt")


def test_business_target_uses_the_calendar():
    p = parse_policy(PRECEDENCE)
    t = p.targets_for("acme", "email", "normal", "general").first_response
    assert isinstance(t.calendar, BusinessCalendar)
    start = ms("2025-06-06T17:50:00+08:00")
    assert t.due_ms(start) == ms("2025-06-09T12:50:00+08:00")
    assert t.elapsed_ms(start, ms("2025-06-09T09:30:00+08:00")) == 40 * 60_000


def test_lookup_is_cached_and_unknown_names_share_entries():
    p = parse_policy(PRECEDENCE)
    assert p.targets_for("acme", "email", "normal", "a") is p.targets_for("acme", "email",
                                                                         "normal", "b")
    assert p.targets_for("x", "chat", "low", "a") is p.targets_for("y", "chat", "low", "b")
    assert p.targets_for("x", "chat", "low", "a").policy_version == "p1"
    with pytest.raises(KeyError):
        p.targets_for("x", "fax", "low", "a")


def test_example_file_loads():
    p = load_policy(EXAMPLE)
    assert p.version == "2025-06-01.1" and len(p.hash) == 64
    t = p.targets_for("acme-cn", "email", "normal", "general")
    assert (t.first_response_s, t.next_response_s, t.resolution_s) == (4 * 3600, 8 * 3600,
                                                                       27 * 3600)
    # Friday 17:50 before the Dragon Boat holiday, with a lunch break: 10 min on Friday,
    # Tuesday 09:00-12:00, then 50 min from 13:00.
    assert t.first_response.due_ms(ms("2025-05-30T17:50:00+08:00")) == ms(
        "2025-06-03T13:50:00+08:00")
    assert p.targets_for("acme-cn", "email", "urgent", "vip").first_response_s == 1800
    assert p.targets_for("shop-de", "phone", "urgent", "").first_response_s == 10
    assert p.targets_for("anyone", "email", "normal", "").resolution_s == 3 * 86400
    assert p.targets_for("anyone", "chat", "normal", "").service_level == ServiceLevel()


# --- hash ----------------------------------------------------------------------------------------


def test_hash_is_stable_across_key_order_and_spelling():
    a = parse_policy(PRECEDENCE)
    reordered = yaml.safe_load(yaml.safe_dump(PRECEDENCE, sort_keys=True))
    reordered = dict(reversed(list(reordered.items())))
    assert parse_policy(reordered).hash == a.hash
    spelled = yaml.safe_load(yaml.safe_dump(PRECEDENCE))
    spelled["default"]["targets"]["email"]["resolution"] = {"target": 259200, "clock": "calendar"}
    assert parse_policy(spelled).hash == a.hash
    changed = yaml.safe_load(yaml.safe_dump(PRECEDENCE))
    changed["default"]["targets"]["email"]["resolution"] = "2d"
    assert parse_policy(changed).hash != a.hash
    assert Policy.default().hash == Policy.default().hash != a.hash


def test_hash_of_a_file_ignores_comments_and_layout(tmp_path):
    one = tmp_path / "one.yaml"
    one.write_text('version: "x"\ndefault: {targets: {chat: {first_response: 45s}}}\n')
    two = tmp_path / "two.yaml"
    two.write_text('# note\ndefault:\n  targets:\n    chat:\n      first_response: 45\n'
                   'version: "x"\n')
    assert load_policy(one).hash == load_policy(two).hash


# --- errors --------------------------------------------------------------------------------------


def with_(path: str, value: Any) -> dict[str, Any]:
    """PRECEDENCE with one value set at a dotted path."""
    data = yaml.safe_load(yaml.safe_dump(PRECEDENCE))
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node[key]
    node[last] = value
    return data


CLASH = SHANGHAI | {"holidays": ["2025-06-02"], "extra_working_days": {"2025-06-02": []}}
EMAIL = "default.targets.email"
BAD: list[tuple[str, Any, str]] = [
    # (dotted path in PRECEDENCE, value put there, expected part of the one-line error)
    ("tenants.acme.targts", {}, "tenants.acme.targts: unknown key"),
    ("calendars.cn.timezone", "Asia/Shangai", "timezone: unknown time zone 'Asia/Shangai'"),
    ("calendars.cn.hours.mon", ["09:00-25:00"], "hours.mon.0: bad time '25:00'"),
    ("calendars.cn.hours.mon", ["09:00-12:00", "11:00-18:00"],
     "hours.mon: overlapping intervals 09:00-12:00 and 11:00-18:00"),
    ("calendars.cn.hours.mon", ["09:00-12:00", 1080], "hours.mon.1: want an 'HH:MM-HH:MM'"),
    ("calendars.cn.hours.sat", ["22:00-02:00"], "must end after it starts"),
    ("calendars.cn.hours.monday", [], "hours.monday: unknown key (Input should be 'mon'"),
    ("calendars.cn.hours", {}, "calendars.cn: weekly hours are empty"),
    ("calendars.cn.holidays", ["2025-13-01"], "holidays.0: bad date '2025-13-01'"),
    ("calendars.cn", CLASH, "calendars.cn: 2025-06-02 is both a holiday and an extra working day"),
    (f"{EMAIL}.resolution", "3x", "resolution.target: bad duration '3x'"),
    (f"{EMAIL}.resolution", 1.5, "resolution.target: Input should be a valid integer"),
    (f"{EMAIL}.resolution", 0, "greater than 0"),
    (f"{EMAIL}.resolution", business("3d"), "resolution: business targets take hours, not days"),
    ("default.targets.fax", {}, "default.targets.fax: unknown key (Input should be 'chat'"),
    (f"{EMAIL}.priorities.critical", {}, "critical: unknown key (Input should be 'low'"),
    ("default.clock.start", "assigned", "default.clock.start: Input should be 'created'"),
    ("default.clock.stop_on_bot_reply", "yes", "valid boolean"),
    ("default.service_level.abandons", "ignore", "Input should be 'miss'"),
    ("default.service_level.comparison", "<=", "Input should be 'le' or 'lt'"),
    ("version", 2.1, 'version: must be a string: quote it, e.g. version: "2.1"'),
    ("version", " ", "version: must not be empty"),
    ("tenants.acme.calendar", "cnn", "tenants.acme.calendar: unknown calendar 'cnn'"),
    ("default.calendar", None,
     "default: email/low first_response counts business time but no calendar applies"),
]


@pytest.mark.parametrize(("path", "value", "message"), BAD)
def test_invalid_policies_give_one_line(path, value, message):
    with pytest.raises(PolicyError) as info:
        parse_policy(with_(path, value), "p.yaml")
    text = str(info.value)
    assert "\n" not in text and text.startswith("policy: p.yaml: ")
    assert message in text


@pytest.mark.parametrize(
    ("data", "message"), [({"default": {}}, "version: Field required"), ([1], "a mapping")]
)
def test_invalid_documents(data, message):
    with pytest.raises(PolicyError, match=message):
        parse_policy(data)


def test_several_problems_are_counted():
    data = with_("tenants.acme.targts", {}) | {"bogus": 1}
    with pytest.raises(PolicyError, match=r"\(and 1 more\)$"):
        parse_policy(data)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('version: "x"\ntenants:\n  a: {}\n  a: {}\n', "duplicate key 'a' at line 4"),
        ('version: "x"\ndefault: [\n', "at line"),
        ('version: "x"\ncalendars:\n  c:\n    timezone: UTC\n    hours: {mon: [09:00-18:00]}\n',
         None),
        ('version: "x"\ncalendars:\n  c:\n    timezone: UTC\n    hours: {mon: 09:00-18:00}\n',
         None),
        ('version: "x"\ncalendars:\n  c:\n    timezone: UTC\n    hours: {mon: [09:00, 18:00]}\n',
         "mon.0: bad interval '09:00' (want 'HH:MM-HH:MM', e.g. '09:00-18:00') (and 1 more)"),
        ('version: "x"\ncalendars:\n  c:\n    timezone: UTC\n    hours: {mon: [18:00-20:00, 8:00]}'
         '\n',
         "mon.1: want an 'HH:MM-HH:MM' string, got 480 (quote times in YAML)"),
    ],
)
def test_yaml_files(tmp_path, text, message):
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    if message is None:
        assert load_policy(path).calendars["c"].weekly[0] == ((540, 1080),)
        return
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    assert "\n" not in str(info.value) and message in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(PolicyError, match=r"cannot read .*nope\.yaml"):
        load_policy(tmp_path / "nope.yaml")
