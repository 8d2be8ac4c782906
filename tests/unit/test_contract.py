"""Event contract v1: the pydantic models, the committed JSON Schema and `validate()`."""

from __future__ import annotations

import calendar
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sqm.schemas.events import SCHEMA_PATH, SCHEMA_VERSION, schema_text
from sqm.streams.core.records import EventRecord
from sqm.streams.core.validate import MAX_REASON, Rejection, validate

# Hand-computed timestamps (not derived from the code under test).
# 2026-03-01T01:00:00Z: 1970..2025 is 56 years with 14 leap days (1972..2024) → 20454 days,
# + Jan 31 + Feb 28 = 20513 days; 20513·86400 + 3600 = 1 772 326 800 s.
# Cross-check from 1 700 000 000 s = 2023-11-14T22:13:20Z: +72 326 800 s = +837 d +2h46m40s
# → 2023-11-15T01:00:00Z + 837 d = 2026-03-01T01:00:00Z (366 + 365 + 106 days). ✓
T_2026_03_01_0100Z_MS = 1_772_326_800_000
# 2024-03-01T00:00:00Z: 54 years + 13 leap days = 19723 d, + 31 + 29 = 19783 d → 1 709 251 200 s.
# Cross-check: 1 700 000 000 s + 9 251 200 s = 2023-11-15T00:00Z + 107 d = 2024-03-01. ✓
T_2024_03_01_0000Z_MS = 1_709_251_200_000

COMMON: dict[str, Any] = {
    "event_id": "e-1",
    "occurred_at": "2026-03-01T09:00:00.123+08:00",
    "tenant_id": "shop-1",
    "contact_id": "c-1",
    "customer_id": "u-1",
    "channel": "chat",
}

VALID: dict[str, dict[str, Any]] = {
    "contact.created": {
        "type": "contact.created", "queue": "returns", "priority": "high",
        "order_id": "o-9", "topic": "refund",
    },
    "contact.queued": {"type": "contact.queued", "queue": "returns"},
    "contact.assigned": {"type": "contact.assigned", "agent_id": "a-7", "agent_kind": "human"},
    "message.sent": {"type": "message.sent", "sender": "agent", "agent_id": "a-7", "public": False},
    "contact.transferred": {
        "type": "contact.transferred", "from_queue": "bot", "to_queue": "returns",
        "to_kind": "human",
    },
    "contact.resolved": {"type": "contact.resolved", "resolved_by": "bot"},
    "contact.reopened": {"type": "contact.reopened"},
    "contact.closed": {"type": "contact.closed"},
    "contact.abandoned": {"type": "contact.abandoned"},
    "survey.submitted": {
        "type": "survey.submitted", "csat": 4, "nps": 9,
        "ratings": {"professionalism": 5, "patience": 4},
    },
}

# The type-specific EventRecord fields each valid example must produce.
EXPECTED_FIELDS: dict[str, dict[str, Any]] = {
    "contact.created": {"queue": "returns", "priority": "high", "order_id": "o-9",
                        "topic": "refund"},
    "contact.queued": {"queue": "returns"},
    "contact.assigned": {"agent_id": "a-7", "agent_kind": "human"},
    "message.sent": {"sender": "agent", "agent_id": "a-7", "public": False},
    "contact.transferred": {"from_queue": "bot", "to_queue": "returns", "to_kind": "human"},
    "contact.resolved": {"resolved_by": "bot"},
    "contact.reopened": {},
    "contact.closed": {},
    "contact.abandoned": {},
    "survey.submitted": {"csat": 4, "nps": 9, "ratings": {"professionalism": 5, "patience": 4}},
}


def event(event_type: str = "message.sent", **changes: Any) -> dict[str, Any]:
    """A valid event of `event_type`; a change to `...` removes that field."""
    body = {**COMMON, **VALID[event_type], **changes}
    return {k: v for k, v in body.items() if v is not ...}


def encode(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode()


def accept(body: dict[str, Any]) -> EventRecord:
    result = validate(encode(body))
    assert isinstance(result, EventRecord), result
    return result


def reject(body: Any) -> Rejection:
    result = validate(body if isinstance(body, bytes) else encode(body))
    assert isinstance(result, Rejection), result
    return result


# --- valid events ------------------------------------------------------------------------------


@pytest.mark.parametrize("event_type", sorted(VALID))
def test_every_type_maps_to_its_record(event_type: str) -> None:
    raw = encode(event(event_type))
    record = validate(raw)
    assert isinstance(record, EventRecord)
    assert (record.event_id, record.type, record.tenant_id, record.contact_id,
            record.customer_id, record.channel) == ("e-1", event_type, "shop-1", "c-1", "u-1",
                                                    "chat")
    assert record.ts == T_2026_03_01_0100Z_MS + 123
    assert record.raw == raw.decode()
    own = {"queue", "priority", "order_id", "topic", "agent_id", "agent_kind", "sender",
           "public", "from_queue", "to_queue", "to_kind", "resolved_by", "csat", "nps"}
    expected = EXPECTED_FIELDS[event_type]
    for name in own:
        assert getattr(record, name) == expected.get(name), name
    assert record.ratings == expected.get("ratings", {})


@pytest.mark.parametrize(
    ("occurred_at", "ts"),
    [
        ("2026-03-01T09:00:00.123+08:00", T_2026_03_01_0100Z_MS + 123),
        ("2026-03-01T01:00:00Z", T_2026_03_01_0100Z_MS),
        ("2026-03-01T01:00:00z", T_2026_03_01_0100Z_MS),
        ("2026-03-01t01:00:00+00:00", T_2026_03_01_0100Z_MS),
        ("2026-03-01T01:00:00-00:00", T_2026_03_01_0100Z_MS),
        ("2026-02-28T20:00:00-05:00", T_2026_03_01_0100Z_MS),  # previous local day
        ("2026-03-01T06:30:00.5+05:30", T_2026_03_01_0100Z_MS + 500),
        # Sub-millisecond fractions round half up, from the exact decimal digits.
        ("2026-03-01T01:00:00.1234999Z", T_2026_03_01_0100Z_MS + 123),
        ("2026-03-01T01:00:00.1235Z", T_2026_03_01_0100Z_MS + 124),
        ("2026-03-01T01:00:00.123500000001Z", T_2026_03_01_0100Z_MS + 124),
        ("2026-03-01T01:00:00.0004999999Z", T_2026_03_01_0100Z_MS),
        ("2024-02-29T23:59:59.9995Z", T_2024_03_01_0000Z_MS),  # rounds into March, leap year
        ("1970-01-01T08:00:00+08:00", 0),
        ("1969-12-31T23:59:59.9995Z", 0),  # −0.5 ms rounds half up to 0
        ("1969-12-31T23:59:59.9994Z", -1),  # −0.6 ms
    ],
)
def test_occurred_at_becomes_utc_epoch_ms(occurred_at: str, ts: int) -> None:
    assert accept(event(occurred_at=occurred_at)).ts == ts


def test_defaults() -> None:
    created = accept(event("contact.created", priority=..., order_id=..., topic=...))
    assert (created.priority, created.order_id, created.topic) == ("normal", None, None)
    message = accept(event("message.sent", sender="customer", agent_id=..., public=...))
    assert (message.public, message.agent_id) == (True, None)
    assert accept(event("contact.queued")).priority is None
    assert accept(event("contact.queued")).public is None
    survey = accept(event("survey.submitted", nps=..., ratings=...))
    assert (survey.csat, survey.nps, survey.ratings) == (4, None, {})


def test_optional_fields_may_be_null() -> None:
    created = accept(event("contact.created", order_id=None, topic=None))
    assert (created.order_id, created.topic) == (None, None)
    assert accept(event("contact.transferred", from_queue=None)).from_queue is None
    survey = accept(event("survey.submitted", nps=None, ratings=None))
    assert (survey.nps, survey.ratings) == (None, {})
    assert accept(event("message.sent", sender="customer", agent_id=None)).agent_id is None


def test_schema_version_one_is_accepted() -> None:
    assert accept(event(schema_version=1)).type == "message.sent"


def test_unknown_fields_are_accepted_and_kept_in_raw() -> None:
    raw = ('{"event_id": "e-1", "type": "contact.queued", "queue": "vip",\n'
           ' "occurred_at": "2026-03-01T01:00:00Z", "tenant_id": "t", "contact_id": "c",\n'
           ' "customer_id": "u", "channel": "app", "x-trace": {"span": [1, 2]}, "note": "退货"}')
    record = validate(raw.encode())
    assert isinstance(record, EventRecord)
    assert record.raw == raw
    assert record.queue == "vip"


# --- rejections ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (event(tenant_id=...), "missing field 'tenant_id'"),
        (event(type=...), "missing field 'type'"),
        (event("contact.created", queue=...), "contact.created: missing field 'queue'"),
        (event("contact.created", priority="asap"),
         "contact.created: priority must be one of low, normal, high, urgent (got 'asap')"),
        (event(type="contact.foo"), "unknown event type 'contact.foo'"),
        (event(type=3), "type must be a string (got 3)"),
        (event(occurred_at="2026-03-01T09:00:00"),
         "occurred_at has no time-zone offset (got '2026-03-01T09:00:00')"),
        (event(occurred_at="2026-03-01 09:00:00+08:00"),
         "occurred_at is not an RFC 3339 timestamp (got '2026-03-01 09:00:00+08:00')"),
        (event(occurred_at="1772326800"),
         "occurred_at is not an RFC 3339 timestamp (got '1772326800')"),
        (event(occurred_at=1772326800),
         "occurred_at must be an RFC 3339 timestamp string (got 1772326800)"),
        (event(occurred_at="2026-02-29T09:00:00Z"),
         "occurred_at is not a valid date and time (got '2026-02-29T09:00:00Z')"),
        (event(occurred_at="2026-03-01T23:59:60Z"),
         "occurred_at is not a valid date and time (got '2026-03-01T23:59:60Z')"),
        (event(occurred_at="2026-03-01T09:00:00+08:75"),
         "occurred_at has an invalid time-zone offset (got '2026-03-01T09:00:00+08:75')"),
        (event(schema_version=2), "unsupported schema_version 2 (this service reads version 1)"),
        (event(schema_version=2, type="contact.new"),
         "unsupported schema_version 2 (this service reads version 1)"),
        (event(schema_version="1"), "schema_version must be an integer (got '1')"),
        (event(schema_version=True), "schema_version must be an integer (got true)"),
        (event(event_id=""), "event_id must not be empty"),
        (event(customer_id=42), "customer_id must be a string (got 42)"),
        (event(channel="fax"),
         "channel must be one of chat, phone, email, social, app (got 'fax')"),
        (event(sender="agent", agent_id=...),
         "message.sent: agent_id is required when sender is 'agent'"),
        (event(sender="bot", agent_id=None),
         "message.sent: agent_id is required when sender is 'bot'"),
        (event(public="false"), "message.sent: public must be true or false (got 'false')"),
        (event(public=0), "message.sent: public must be true or false (got 0)"),
        (event(public=None), "message.sent: public must be true or false (got null)"),
        (event("contact.assigned", agent_kind="robot"),
         "contact.assigned: agent_kind must be one of human, bot (got 'robot')"),
        (event("contact.transferred", to_queue=...),
         "contact.transferred: missing field 'to_queue'"),
        (event("contact.resolved", resolved_by=...),
         "contact.resolved: missing field 'resolved_by'"),
        (event("survey.submitted", csat="5"),
         "survey.submitted: csat must be an integer (got '5')"),
        (event("survey.submitted", csat=5.0),
         "survey.submitted: csat must be an integer (got 5.0)"),
        (event("survey.submitted", csat=True),
         "survey.submitted: csat must be an integer (got true)"),
        (event("survey.submitted", csat=0), "survey.submitted: csat must be at least 1 (got 0)"),
        (event("survey.submitted", csat=6), "survey.submitted: csat must be at most 5 (got 6)"),
        (event("survey.submitted", nps=11), "survey.submitted: nps must be at most 10 (got 11)"),
        (event("survey.submitted", ratings={"patience": 9}),
         "survey.submitted: ratings['patience'] must be at most 5 (got 9)"),
        (event("survey.submitted", ratings={"": 3}),
         "survey.submitted: ratings key '' must not be empty"),
        (event("survey.submitted", ratings=[5]),
         "survey.submitted: ratings must be an object (got [5])"),
        (event(tenant_id=..., customer_id=...), "missing field 'tenant_id' (and 1 more problem)"),
        (b"\xff\xfe{}", "not UTF-8 text"),
        (b'{"event_id": "\xed\xa0\x80"}', "not UTF-8 text"),  # an encoded lone surrogate
        (b"[1, 2]", "event is not a JSON object"),
        (b"null", "event is not a JSON object"),
        (b'"contact.created"', "event is not a JSON object"),
    ],
)
def test_rejection_reasons(body: Any, reason: str) -> None:
    assert reject(body).reason == reason


@pytest.mark.parametrize("raw", [b"", b"{", b"{'a': 1}", b'{"a": NaN}', b"\xef\xbb\xbf{}"])
def test_invalid_json(raw: bytes) -> None:
    assert reject(raw).reason.startswith("invalid JSON: ")


def test_rejection_carries_ids_when_readable() -> None:
    rejection = reject(event(channel="fax"))
    assert (rejection.event_id, rejection.tenant_id) == ("e-1", "shop-1")
    rejection = reject(event(event_id=7, tenant_id=""))
    assert (rejection.event_id, rejection.tenant_id) == (None, None)
    assert reject(b"[]") == Rejection("event is not a JSON object")


def test_reason_is_one_short_line_even_for_hostile_values() -> None:
    for body in (event(type="x\n" * 500), event(channel="a\u2028b" * 200),
                 event(**{"priority": "p\r\n" * 100}, type="contact.created", queue="q")):
        reason = reject(body).reason
        assert len(reason) <= MAX_REASON
        assert reason.splitlines() == [reason]


# --- fuzzing ------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
FIELDS = sorted({*COMMON, "type", "schema_version", *(k for v in VALID.values() for k in v)})


def assert_well_formed(result: object) -> None:
    assert isinstance(result, EventRecord | Rejection)
    if isinstance(result, Rejection):
        assert result.reason
        assert len(result.reason) <= MAX_REASON
        assert result.reason.splitlines() == [result.reason]


@settings(max_examples=300)
@given(st.binary())
def test_fuzz_arbitrary_bytes(raw: bytes) -> None:
    assert_well_formed(validate(raw))


@settings(max_examples=300)
@given(json_values)
def test_fuzz_arbitrary_json(value: Any) -> None:
    # json.dumps may write NaN/Infinity and huge integers: invalid JSON or odd numbers to orjson.
    assert_well_formed(validate(json.dumps(value).encode()))


@settings(max_examples=500)
@given(
    st.sampled_from(sorted(VALID)),
    st.dictionaries(st.sampled_from(FIELDS), json_values | st.just(...), max_size=4),
)
def test_fuzz_valid_event_with_wrong_fields(event_type: str, changes: dict[str, Any]) -> None:
    assert_well_formed(validate(encode(event(event_type, **changes))))


@settings(max_examples=300)
@given(
    st.sampled_from(sorted(VALID)),
    # Near-miss timestamps (month 99, hour 24, offset +30:00, ...) and arbitrary text.
    st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{0,9})?"
                  r"([Zz]|[+-][0-9]{2}:[0-9]{2})?", fullmatch=True) | st.text(max_size=40),
)
def test_fuzz_occurred_at_text(event_type: str, occurred_at: str) -> None:
    assert_well_formed(validate(encode(event(event_type, occurred_at=occurred_at))))


def independent_epoch_ms(moment: datetime) -> int:
    """Oracle: calendar.timegm on the UTC tuple plus the fraction, half up, in integers."""
    utc = moment.astimezone(UTC)
    return calendar.timegm(utc.timetuple()) * 1000 + (utc.microsecond + 500) // 1000


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@settings(max_examples=300)
@given(
    st.integers(-70 * 365 * 86_400 * 10**6, 230 * 365 * 86_400 * 10**6),  # µs, 1900..2200
    st.integers(-(23 * 60 + 59), 23 * 60 + 59),  # offset minutes
    st.text("0123456789", max_size=6),
)
def test_fuzz_any_offset_timestamp(micros: int, offset: int, extra_digits: str) -> None:
    zone = timezone(timedelta(minutes=offset))
    moment = (EPOCH + timedelta(microseconds=micros)).astimezone(zone)
    # isoformat writes ±hh:mm and 6 fraction digits; digits past the microsecond must not change
    # the rounded millisecond (and they take the general parsing path).
    text = re.sub(r"(\.\d{6})", lambda m: m.group(1) + extra_digits,
                  moment.isoformat(timespec="microseconds"))
    assert accept(event(occurred_at=text)).ts == independent_epoch_ms(moment)


# --- JSON Schema --------------------------------------------------------------------------------


def load_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return schema


def test_committed_schema_is_what_the_models_generate() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == schema_text(), (
        "schemas/events.v1.schema.json is stale: run `python -m sqm.schemas.events --write`"
    )


def test_schema_declares_its_version() -> None:
    schema = load_schema()
    assert schema["x-schema-version"] == SCHEMA_VERSION == 1
    assert schema["$id"].endswith("events.v1.schema.json")
    jsonschema.Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("event_type", sorted(VALID))
def test_schema_accepts_valid_examples(event_type: str) -> None:
    validator = jsonschema.Draft202012Validator(load_schema())
    validator.validate(event(event_type))
    validator.validate(event(event_type, occurred_at="2026-03-01T01:00:00Z", extra={"a": 1}))


@pytest.mark.parametrize(
    "body",
    [
        event(tenant_id=...),
        event(type="contact.foo"),
        event("contact.created", priority="asap"),
        event("survey.submitted", csat="5"),
        event("survey.submitted", csat=6),
        event("survey.submitted", ratings={"patience": 0}),
        event(occurred_at="2026-03-01T09:00:00"),
        event(sender="agent", agent_id=...),
        event(public=None),
        event(schema_version=2),
        event(event_id=""),
    ],
)
def test_schema_rejects_invalid_examples(body: dict[str, Any]) -> None:
    assert isinstance(validate(encode(body)), Rejection)  # the schema agrees with validate()
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(body, load_schema(), cls=jsonschema.Draft202012Validator)
