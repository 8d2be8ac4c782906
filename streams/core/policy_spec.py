"""The SLA policy file's format: strict pydantic models of the YAML (docs/policies.md).

`streams.core.policy_file` resolves a validated file into the answers the pipeline asks for.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic import model_validator as _model_validator

from sqm.schemas.events import Channel, Priority
from sqm.streams.core import calendar as cal
from sqm.streams.core.scorecard import DEFAULT_INDICATORS

ClockKind = Literal["business", "calendar"]
Start = Literal["created", "queued", "bot_handoff"]
Abandons = Literal["miss", "exclude", "met_within_threshold"]
Comparison = Literal["le", "lt"]
Outcome = Literal["met", "missed", "excluded"]


class PolicyError(ValueError):
    """Invalid policy file; str() is one line for a person."""


# --- field types -------------------------------------------------------------------------------

_DURATION = re.compile(r"(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?", re.ASCII)


def duration_seconds(v: Any) -> Any:
    if isinstance(v, str):
        m = _DURATION.fullmatch(v)
        if not m or not any(m.groups()):
            raise ValueError(f"bad duration {v!r} (want seconds, or e.g. '90s', '15m', '1h30m')")
        return sum(int(n) * u for n, u in zip(m.groups(), (86400, 3600, 60, 1), strict=True) if n)
    return v  # anything else meets strict int validation (which refuses bools and floats)


def _date(v: Any) -> Any:
    if isinstance(v, datetime):
        raise ValueError(f"want a date without a time, got {v.isoformat()}")
    if isinstance(v, str):
        try:
            return date.fromisoformat(v)
        except ValueError:
            raise ValueError(f"bad date {v!r} (want YYYY-MM-DD)") from None
    return v


def _interval(v: Any) -> Any:
    if isinstance(v, str):
        return cal.parse_interval(v)
    # YAML 1.1 reads an unquoted 18:00 as the number 1080.
    raise ValueError(f"want an 'HH:MM-HH:MM' string, got {v!r} (quote times in YAML)")


def _version(v: Any) -> Any:
    if not isinstance(v, str):
        raise ValueError(f'must be a string: quote it, e.g. version: "{v}"')
    if not v.strip():
        raise ValueError("must not be empty")
    return v


Name = Annotated[str, Field(min_length=1)]
Seconds = Annotated[int, BeforeValidator(duration_seconds), Field(gt=0)]
LocalDate = Annotated[date, BeforeValidator(_date)]
DayHours = Annotated[
    list[Annotated[tuple[int, int], BeforeValidator(_interval)]],
    BeforeValidator(lambda v: [v] if isinstance(v, str) else v),  # one interval needs no list
    AfterValidator(lambda v: list(cal.check_day(v))),
]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

# --- the file ------------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class CalendarSpec(_Strict):
    timezone: Annotated[str, AfterValidator(lambda v: cal.load_zone(v).key)]
    hours: dict[Weekday, DayHours]
    holidays: Annotated[list[LocalDate], AfterValidator(lambda v: sorted(set(v)))] = []
    extra_working_days: dict[LocalDate, DayHours] = {}

    @_model_validator(mode="after")
    def _valid(self) -> CalendarSpec:
        self.build()  # the calendar's own checks: some opening hours, no holiday also worked
        return self

    def build(self) -> cal.BusinessCalendar:
        weekly = [self.hours.get(day, []) for day in cal.WEEKDAYS]  # type: ignore[call-overload]
        return cal.BusinessCalendar(self.timezone, weekly, self.holidays, self.extra_working_days)


class TargetSpec(_Strict):
    """`4h` (calendar time) or `{target: 4h, clock: business}`."""

    target: Seconds
    clock: ClockKind = "calendar"

    @_model_validator(mode="before")
    @classmethod
    def _shorthand(cls, v: Any) -> Any:
        v = v if isinstance(v, dict) else {"target": v}
        if v.get("clock") == "business" and "d" in str(v.get("target")):
            raise ValueError("business targets take hours, not days: a business day's length "
                             "depends on the calendar")
        return v


class PriorityTargets(_Strict):
    first_response: TargetSpec | None = None
    next_response: TargetSpec | None = None
    resolution: TargetSpec | None = None


class ChannelTargets(PriorityTargets):
    priorities: dict[Priority, PriorityTargets] = {}


class ClockSpec(_Strict):
    start: Start | None = None
    stop_on_bot_reply: bool | None = None
    pause_states: list[Name] | None = None


class ServiceLevelSpec(_Strict):
    abandons: Abandons | None = None
    short_abandon_s: Annotated[int, Field(ge=0)] | None = None
    comparison: Comparison | None = None


class Scope(_Strict):
    """Everything unset (None) is inherited from the next less specific scope."""

    calendar: Name | None = None
    targets: dict[Channel, ChannelTargets] = {}
    clock: ClockSpec = ClockSpec()
    service_level: ServiceLevelSpec = ServiceLevelSpec()


class TenantScope(Scope):
    queues: dict[Name, Scope] = {}


class IndicatorSpec(_Strict):
    target: float = Field(gt=0)
    min_count: int | None = Field(default=None, ge=1)


def _known_indicators(names: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(names) - set(DEFAULT_INDICATORS))
    if unknown:
        raise ValueError(f"unknown indicator {unknown[0]!r} (known: "
                         f"{', '.join(DEFAULT_INDICATORS)})")
    return names


Weights = Annotated[dict[Name, Annotated[float, Field(gt=0)]], AfterValidator(_known_indicators),
                    Field(min_length=1)]


class ScorecardSpec(_Strict):
    """Overrides of the scorecard's defaults (docs/scorecard.md)."""

    indicators: Annotated[dict[Name, IndicatorSpec], AfterValidator(_known_indicators)] = {}
    goals: dict[Name, Weights] = {}


RepeatIdentity = Literal["customer", "order_id", "topic"]


class RepeatSpec(_Strict):
    """Repeat contacts (docs/metrics.md): the look-back window and what counts as the same
    issue: any contact of the customer (default), or one with the same `order_id` / `topic`."""

    window: Seconds | None = None  # None: the SQM_REPEAT_WINDOW_DAYS setting (7 days)
    identity: RepeatIdentity = "customer"


class PolicyFile(_Strict):
    version: Annotated[str, BeforeValidator(_version)]
    calendars: dict[Name, CalendarSpec] = {}
    default: Scope = Scope()
    tenants: dict[Name, TenantScope] = {}
    repeat: RepeatSpec = RepeatSpec()
    scorecard: ScorecardSpec = ScorecardSpec()
