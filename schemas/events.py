"""Event contract v1: one JSON object per Kafka message on `sqm.events` (key = contact_id).

These pydantic models are the single source of the contract: `streams/core/validate.py` checks
events with them and `schemas/events.v1.schema.json` is generated from them
(`python -m sqm.schemas.events --write`, or
`python -m sqm.schemas.events > schemas/events.v1.schema.json`).

Strictness (consistent for every model):
- Types are strict: numbers must be JSON integers (`"csat": "5"`, `5.0` and `true` are rejected),
  booleans must be JSON `true`/`false`, strings must be strings. Nothing is coerced.
- Identifiers (ids, queues, topic, rating names) must be non-empty strings.
- `occurred_at` must be an RFC 3339 date-time with `T` and an explicit offset (`Z` or `±hh:mm`);
  the model keeps it as an aware datetime with that offset, `epoch_ms` gives its UTC instant.
  Fractions finer than a microsecond are truncated, which does not change the millisecond it
  rounds to (see `epoch_ms`). Leap seconds (`:60`) are rejected.
- Optional fields without a default (`order_id`, `topic`, `from_queue`, `nps`, `ratings`) may be
  absent or `null`, both meaning "not given". Fields with a default (`schema_version`, `priority`,
  `public`) must hold a valid value when present: `"public": null` is rejected, not defaulted.
- Unknown extra fields are allowed and ignored (the raw text keeps them).
"""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    TypeAdapter,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

SCHEMA_VERSION: Final = 1
SCHEMA_PATH = Path(__file__).with_name(f"events.v{SCHEMA_VERSION}.schema.json")
SCHEMA_ID = f"https://sqm.local/schemas/events.v{SCHEMA_VERSION}.schema.json"

# --- occurred_at ---------------------------------------------------------------------------------

# RFC 3339 `date-time` (section 5.6), ASCII digits only. The offset group is optional here only so
# that a missing offset gets its own, clearer error.
_DATE_TIME = (
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
)
_OFFSET = r"([Zz])|([+-])([0-9]{2}):([0-9]{2})"
_RFC3339 = re.compile(f"{_DATE_TIME}(?:{_OFFSET})?", re.ASCII)
# The shape producers actually send, with every field range the regex can check, so that
# datetime.fromisoformat (C, far cheaper than the general path) has only the calendar left to
# check. Fractions stop at 6 digits because fromisoformat's handling of more varies by version.
_FAST_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,6})?"
    r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])",
    re.ASCII,
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)


def parse_occurred_at(value: Any) -> datetime:
    """An RFC 3339 timestamp with offset → aware datetime keeping that offset, µs precision.

    The UTC instant is taken by `epoch_ms`; keeping the offset loses nothing and cannot overflow
    at the ends of datetime's range (0001-01-01T00:00:00+01:00 has no UTC datetime).
    """
    if isinstance(value, str) and _FAST_RFC3339.fullmatch(value):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass  # e.g. 02-30: let the general path word the error
    return _parse_general(value)


def _parse_general(value: Any) -> datetime:
    if not isinstance(value, str):
        raise PydanticCustomError("rfc3339_type", "must be an RFC 3339 timestamp string")
    m = _RFC3339.fullmatch(value)
    if m is None:
        raise PydanticCustomError("rfc3339_parsing", "is not an RFC 3339 timestamp")
    year, month, day, hour, minute, second, frac, zulu, sign, off_h, off_m = m.groups()
    if zulu is None and sign is None:
        raise PydanticCustomError("rfc3339_no_offset", "has no time-zone offset")
    tz = UTC
    if sign is not None:
        if int(off_h) > 23 or int(off_m) > 59:
            raise PydanticCustomError("rfc3339_offset", "has an invalid time-zone offset")
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        tz = timezone(-offset if sign == "-" else offset)
    # Truncate (floor) to microseconds: the ms rounding in epoch_ms stays exact, see there.
    micros = int((frac or "0")[:6].ljust(6, "0"))
    try:
        return datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micros, tz
        )
    except ValueError:  # 02-30, hour 24, leap second 60, year 0000
        raise PydanticCustomError("rfc3339_range", "is not a valid date and time") from None


def epoch_ms(moment: datetime) -> int:
    """Aware datetime → integer epoch milliseconds, rounding half up (towards the future).

    Integer arithmetic only. Rounding the microsecond-truncated value is exact: a fraction of a
    millisecond is ≥ 500 µs exactly when its truncation to whole microseconds is.
    """
    micros = (moment - _EPOCH) // _ONE_US
    return (micros + 500) // 1000


OccurredAt = Annotated[
    datetime,
    PlainValidator(parse_occurred_at),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            # The offset is mandatory (RFC 3339 requires it; this makes it explicit).
            "pattern": f"^{_DATE_TIME}(?:{_OFFSET})$",
            "description": "RFC 3339 date-time with offset, e.g. 2026-03-01T09:00:00+08:00",
        }
    ),
]

# --- field types ---------------------------------------------------------------------------------


def _version_must_be_int(value: Any) -> Any:
    # Literal[1] alone accepts True and 1.0 (they compare equal to 1); the contract wants an int.
    if type(value) is not int:
        raise PydanticCustomError("version_type", "must be an integer")
    return value


# Ids are keys for joins and grouping: a NUL or control character in one is a producer bug that
# would make two spellings of "the same" id, or break a consumer's text handling.
Id = Annotated[str, Field(min_length=1, pattern=r"^[^\x00-\x1f\x7f]*$")]
Channel = Literal["chat", "phone", "email", "social", "app"]
Priority = Literal["low", "normal", "high", "urgent"]
Kind = Literal["human", "bot"]
Sender = Literal["customer", "agent", "bot"]
Score5 = Annotated[int, Field(ge=1, le=5)]
Nps = Annotated[int, Field(ge=0, le=10)]
SchemaVersion = Annotated[Literal[1], BeforeValidator(_version_must_be_int)]

# --- models --------------------------------------------------------------------------------------


class EventBase(BaseModel):
    """Fields common to every event type (see the module docstring for strictness rules)."""

    model_config = ConfigDict(strict=True, frozen=True, extra="ignore")

    event_id: Id
    occurred_at: OccurredAt
    tenant_id: Id
    contact_id: Id
    customer_id: Id
    channel: Channel
    schema_version: SchemaVersion = SCHEMA_VERSION


class ContactCreated(EventBase):
    """A customer opened a contact."""

    type: Literal["contact.created"]
    queue: Id
    priority: Priority = "normal"
    order_id: Id | None = None
    topic: Id | None = None


class ContactQueued(EventBase):
    """The contact now waits for a human in `queue`."""

    type: Literal["contact.queued"]
    queue: Id


class ContactAssigned(EventBase):
    """An agent (human or bot) took the contact."""

    type: Literal["contact.assigned"]
    agent_id: Id
    agent_kind: Kind


class MessageSent(EventBase):
    """A message in the contact; `public` false is an internal note the customer does not see."""

    model_config = ConfigDict(
        # The agent_id rule below, expressed for JSON Schema consumers too.
        json_schema_extra={
            "if": {"properties": {"sender": {"enum": ["agent", "bot"]}}, "required": ["sender"]},
            "then": {"required": ["agent_id"], "properties": {"agent_id": {"type": "string"}}},
        },
    )

    type: Literal["message.sent"]
    sender: Sender
    agent_id: Id | None = None
    public: bool = True

    @model_validator(mode="after")
    def _agent_sender_has_id(self) -> MessageSent:
        if self.sender != "customer" and self.agent_id is None:
            raise PydanticCustomError(
                "agent_id_required",
                "agent_id is required when sender is '{sender}'",
                {"sender": self.sender},
            )
        return self


class ContactTransferred(EventBase):
    """The contact moved to another queue, to a human or a bot."""

    type: Literal["contact.transferred"]
    from_queue: Id | None = None
    to_queue: Id
    to_kind: Kind


class ContactResolved(EventBase):
    """The contact was solved, by a human or a bot."""

    type: Literal["contact.resolved"]
    resolved_by: Kind


class ContactReopened(EventBase):
    """A resolved contact became active again."""

    type: Literal["contact.reopened"]


class ContactClosed(EventBase):
    """The contact was closed for good."""

    type: Literal["contact.closed"]


class ContactAbandoned(EventBase):
    """The customer left before being served."""

    type: Literal["contact.abandoned"]


class ContactStatusChanged(EventBase):
    """The contact entered a workflow status (e.g. `waiting_on_customer`, `open`); it holds
    until the next status change. A policy's `pause_states` stop its SLA clocks meanwhile."""

    type: Literal["contact.status_changed"]
    status: Id


class SurveySubmitted(EventBase):
    """Customer satisfaction survey; `ratings` maps a dimension name to a 1–5 score."""

    type: Literal["survey.submitted"]
    csat: Score5
    nps: Nps | None = None
    ratings: dict[Id, Score5] | None = None


EventModel = (
    ContactCreated | ContactQueued | ContactAssigned | MessageSent | ContactTransferred
    | ContactResolved | ContactReopened | ContactClosed | ContactAbandoned | SurveySubmitted
    | ContactStatusChanged
)
Event = Annotated[EventModel, Field(discriminator="type")]

# Built once: validating through it is the hot path of the ingest stage.
EVENT_ADAPTER: TypeAdapter[EventModel] = TypeAdapter(Event)

# --- JSON Schema ---------------------------------------------------------------------------------


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of contract v1, as generated from the models."""
    generated = EVENT_ADAPTER.json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": f"SQM interaction event, contract v{SCHEMA_VERSION}",
        "x-schema-version": SCHEMA_VERSION,
        **generated,
    }


def schema_text() -> str:
    """The exact text of the committed schema file."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def write_schema(path: Path = SCHEMA_PATH) -> None:
    path.write_text(schema_text(), encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write_schema()
    else:
        sys.stdout.write(schema_text())
