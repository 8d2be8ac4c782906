"""The validation's fast path against the models it is derived from.

`validate_wire` validates events as TypedDicts built from the models of `schemas.events` and
checks the models' own rules after it; `validate_model` validates through the models. Both
must accept the same events with the same wire form, and refuse the same with the same reason.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, get_args

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sqm.schemas.events import EventModel
from sqm.streams.core.validate import _MODEL_CHECKS as MODEL_CHECKS
from sqm.streams.core.validate import Rejection, validate_model, validate_wire
from sqm.streams.simulate import SimConfig, history
from tests.unit.test_contract import COMMON, VALID, encode, json_values

EXAMPLES: dict[str, dict[str, Any]] = {
    **VALID,
    "contact.status_changed": {"type": "contact.status_changed", "status": "waiting"},
}
FIELDS = sorted({*COMMON, "type", "schema_version",
                 *(k for v in EXAMPLES.values() for k in v)})
# Values that are right for some field and wrong for others, the edges of each constraint.
VALUES: list[Any] = [
    None, "", "x", "a\x00b", "tab\there", "\x7f", 0, 1, 2, -1, 4, 5, 6, 10, 11, 1.0, 1.5,
    True, False, [], ["x"], {}, {"a": 5}, {"": 5}, {"a": 6}, {"a": 0}, {"a": True},
    {"a": "5"}, {"a\x01": 3}, "2026-03-01T09:00:00Z", "2026-03-01T09:00:00", "2026-02-30T09:00:00Z",
    "2026-03-01 09:00:00+08:00", "2026-03-01T09:00:00.1234567+08:00", "human", "bot", "agent",
    "customer", "chat", "email", "normal", "urgent", "contact.created", "message.sent",
    "survey.submitted", "no.such.type",
]


def same(body: dict[str, Any]) -> Any:
    """Both paths on `body`; their result (asserted equal)."""
    raw = encode(body)
    fast = validate_wire(raw)
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:  # NaN, or an integer past 64 bits: refused before either
        assert isinstance(fast, Rejection)
        return fast
    reference = validate_model(data, raw.decode())
    assert fast == reference, body
    return fast


def body(event_type: str, **changes: Any) -> dict[str, Any]:
    merged = {**COMMON, **EXAMPLES[event_type], **changes}
    return {k: v for k, v in merged.items() if v is not ...}


def test_every_rule_of_the_models_is_checked() -> None:
    """A TypedDict keeps the fields' annotations (their constraints and validators) but not a
    model's `model_validator`s or `field_validator`s: each must have its check here."""
    for model in get_args(EventModel):
        decorators = model.__pydantic_decorators__
        assert not decorators.field_validators, model
        event_type = get_args(model.model_fields["type"].annotation)[0]
        assert bool(decorators.model_validators) == (event_type in MODEL_CHECKS), model
    assert set(EXAMPLES) == {get_args(m.model_fields["type"].annotation)[0]
                             for m in get_args(EventModel)}


@pytest.mark.parametrize("event_type", sorted(EXAMPLES))
def test_valid_examples_and_defaults(event_type: str) -> None:
    assert isinstance(same(body(event_type)), list)
    # Every optional field left out: the models' defaults.
    required = {k: v for k, v in body(event_type).items()
                if k not in ("priority", "order_id", "topic", "public", "from_queue", "nps",
                             "ratings")}
    assert isinstance(same(required), list)


@pytest.mark.parametrize("event_type", sorted(EXAMPLES))
def test_every_field_set_to_every_edge_value(event_type: str) -> None:
    accepted = refused = 0
    for field in FIELDS:
        for value in [..., *VALUES]:
            result = same(body(event_type, **{field: value}))
            accepted += isinstance(result, list)
            refused += isinstance(result, Rejection)
    assert accepted and refused  # both paths were exercised


@pytest.mark.parametrize(("sender", "agent_id", "accepted"), [
    ("customer", ..., True), ("customer", None, True), ("customer", "a-1", True),
    ("agent", ..., False), ("agent", None, False), ("agent", "a-1", True),
    ("bot", ..., False), ("bot", None, False), ("bot", "b-1", True),
])
def test_agent_messages_need_an_agent_id(sender: str, agent_id: Any, accepted: bool) -> None:
    result = same(body("message.sent", sender=sender, agent_id=agent_id))
    assert isinstance(result, list) is accepted
    if not accepted:
        assert isinstance(result, Rejection)
        assert result.reason == f"message.sent: agent_id is required when sender is '{sender}'"


@settings(max_examples=400)
@given(st.sampled_from(sorted(EXAMPLES)),
       st.dictionaries(st.sampled_from(FIELDS), json_values | st.just(...), max_size=4))
def test_fuzz_fields(event_type: str, changes: dict[str, Any]) -> None:
    same(body(event_type, **changes))


def test_simulated_traffic() -> None:
    """Every event of a messy simulated day: duplicates, offsets, surveys, transfers."""
    events = [e for e in history(400, datetime(2026, 3, 2, tzinfo=UTC), 0.05,
                                 SimConfig(seed=11), messy=True) if isinstance(e, dict)]
    assert len(events) > 2000
    assert all(isinstance(same(e), list) for e in events)
