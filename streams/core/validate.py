"""Raw Kafka message bytes → `EventRecord`, or a `Rejection` with one readable reason line.

This is the hot path of the ingest stage, so it parses once with orjson, validates into plain
dicts (below), and only does the costly error formatting on rejection. `validate` never raises:
whatever the bytes, it returns one of the two types.

The contract is the models of `schemas.events`. Building a model instance per event cost more
than half of the validation (~3 of ~5 µs), so events are validated against the same fields as
TypedDicts, derived from the models (same annotations, strictness and required fields); the
models' own rules that a TypedDict cannot carry (`_MODEL_CHECKS`) are checked after it. An
event that fails goes through the models, whose error words the rejection, so the accepted
events and the reasons are the models' (tests/unit/test_validate_fast.py compares the two).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, NotRequired, Union, get_args

import orjson
from pydantic import ConfigDict, Field, TypeAdapter, ValidationError, with_config
from pydantic_core import ErrorDetails
from typing_extensions import TypedDict

from sqm.schemas.events import (
    EVENT_ADAPTER,
    SCHEMA_VERSION,
    EventBase,
    EventModel,
    MessageSent,
    epoch_ms,
)
from sqm.streams.core.records import WIRE_FIELDS, EventRecord, trim_wire

MAX_REASON = 300
# The adapter's own validator: its Python wrapper cost a tenth of the validation.
_validate = EVENT_ADAPTER.validator.validate_python
_SHOWN = 40  # longest value quoted in a reason
_COMMON_FIELDS = frozenset(EventBase.model_fields)


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why an event was refused: `reason` is one line for an ops person, naming the field."""

    reason: str
    event_id: str | None = None
    tenant_id: str | None = None


def validate(raw: bytes) -> EventRecord | Rejection:
    result = validate_wire(raw)
    return result if isinstance(result, Rejection) else EventRecord.from_wire_list(result)


def validate_wire(raw: bytes) -> list[Any] | Rejection:
    """`validate`, giving the event in its positional wire form (`EventRecord.to_wire_list`),
    the form the ingest stage forwards, without building the record in between."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return Rejection("not UTF-8 text")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return Rejection(_one_line(f"invalid JSON: {exc}"))
    if not isinstance(data, dict):
        return Rejection("event is not a JSON object")
    repeated = _repeated_key(text, data)
    if repeated is not None:
        # orjson keeps the last value silently: which one the producer meant is unknowable.
        return Rejection(f"the key {_show(repeated)} appears twice in one object",
                         event_id=_readable(data.get("event_id")),
                         tenant_id=_readable(data.get("tenant_id")))
    try:
        d = _validate_fast(data)
        check = _MODEL_CHECKS.get(d["type"])
        if check is None or check(d):
            return trim_wire(_BUILDERS[d["type"]](d, epoch_ms(d["occurred_at"]), text))
    except ValidationError:
        pass
    return validate_model(data, text)


def validate_model(data: dict[str, Any], text: str) -> list[Any] | Rejection:
    """`validate_wire` of parsed `data` through the models themselves: the models' reason for
    a rejection (and the reference the fast path is tested against)."""
    try:
        event = _validate(data)
    except ValidationError as exc:
        return Rejection(
            _one_line(_reason(data, exc)),
            event_id=_readable(data.get("event_id")),
            tenant_id=_readable(data.get("tenant_id")),
        )
    d = event.__dict__
    return trim_wire(_BUILDERS[d["type"]](d, epoch_ms(d["occurred_at"]), text))


def _fields_dict(model: type[EventBase]) -> type:
    """The model's fields as a TypedDict: its annotations with their constraints and
    validators, required as in the model, the model's strictness and extra keys ignored."""
    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        annotation = info.rebuild_annotation()
        fields[name] = annotation if info.is_required() else NotRequired[annotation]
    typed = TypedDict(model.__name__, fields)  # type: ignore[misc]
    return with_config(ConfigDict(strict=True, extra="ignore"))(typed)  # type: ignore[no-any-return]


def _type_of(model: type[EventBase]) -> str:
    return get_args(model.model_fields["type"].annotation)[0]  # type: ignore[no-any-return]


_MODELS: tuple[type[EventBase], ...] = get_args(EventModel)
_FAST_EVENT: Any = Annotated[
    Union[tuple(_fields_dict(m) for m in _MODELS)],  # type: ignore[valid-type]  # noqa: UP007
    Field(discriminator="type"),
]
_validate_fast = TypeAdapter(_FAST_EVENT).validator.validate_python
# Per event type, the models' `model_validator`s as checks of the validated dict (False: the
# model would refuse it). Every model validator must be here (tests/unit/test_validate_fast.py).
_MODEL_CHECKS: dict[str, Callable[[dict[str, Any]], bool]] = {
    _type_of(MessageSent): lambda d: d["sender"] == "customer" or d.get("agent_id") is not None,
}


def _builder(model: type[EventBase]) -> Callable[[dict[str, Any], int, str], list[Any]]:
    """`(validated dict, ts, raw) -> its full wire list`, compiled once per event type. The
    dict is the fast path's (optional fields absent when not given: the model's default) or a
    model's `__dict__` (every field).

    Model field names equal EventRecord field names, apart from occurred_at → ts; the fields a
    type lacks are None, its extra keys are never read. Generated code (as dataclasses does):
    one list display per type cost a third of merging each event into an all-None template."""
    own = model.model_fields
    namespace: dict[str, Any] = {}
    items = []
    for name in WIRE_FIELDS:
        info = own.get(name)
        if name == "ts":
            items.append("ts")
        elif name == "raw":
            items.append("raw")
        elif name == "ratings":  # a fresh dict per event: records own their ratings
            items.append("d.get('ratings') or {}" if info is not None else "{}")
        elif info is None:
            items.append("None")
        elif info.is_required():
            items.append(f"d[{name!r}]")
        else:
            namespace[f"default_{name}"] = info.default
            items.append(f"d.get({name!r}, default_{name})")
    code = f"def build(d, ts, raw):\n    return [{', '.join(items)}]\n"
    exec(code, namespace)  # the source is built from field names above
    build: Callable[[dict[str, Any], int, str], list[Any]] = namespace["build"]
    return build


_BUILDERS = {_type_of(model): _builder(model) for model in _MODELS}


# --- rejection reasons (cold path) --------------------------------------------------------------


def _reason(data: dict[str, Any], exc: ValidationError) -> str:
    # A different contract version explains every other error, so it wins.
    version = data.get("schema_version", SCHEMA_VERSION)
    if type(version) is int and version != SCHEMA_VERSION:
        return f"unsupported schema_version {version} (this service reads version {SCHEMA_VERSION})"
    errors = exc.errors(include_url=False)
    reason = _describe(data, errors[0])
    if len(errors) > 1:
        more = len(errors) - 1
        reason += f" (and {more} more problem{'s' if more > 1 else ''})"
    return reason


def _describe(data: dict[str, Any], error: ErrorDetails) -> str:
    kind = error["type"]
    if kind == "union_tag_not_found":
        return "missing field 'type'"
    if kind == "union_tag_invalid":
        event_type = data.get("type")
        if isinstance(event_type, str):
            return f"unknown event type {_show(event_type)}"
        return f"type must be a string (got {_show(event_type)})"

    # Below the discriminated union, loc = (event type, field, nested keys...).
    event_type, *path = error["loc"]
    if not path:  # a model-level rule, e.g. agent_id required for agent messages
        return f"{event_type}: {error['msg']}"
    field = str(path[0])
    prefix = "" if field in _COMMON_FIELDS else f"{event_type}: "
    return prefix + _field_problem(_path_name(path), kind, error)


def _field_problem(name: str, kind: str, error: ErrorDetails) -> str:
    got = f"(got {_show(error['input'])})"
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return f"missing field '{name}'"
    if kind == "string_too_short":
        return f"{name} must not be empty"
    if kind == "string_pattern_mismatch":  # the only pattern: ids without control characters
        return f"{name} must not contain control characters (NUL, tab, newline ...) {got}"
    if kind == "string_type":
        return f"{name} must be a string {got}"
    if kind in ("int_type", "version_type"):
        return f"{name} must be an integer {got}"
    if kind == "bool_type":
        return f"{name} must be true or false {got}"
    if kind == "dict_type":
        return f"{name} must be an object {got}"
    if kind == "literal_error":
        # ctx["expected"] reads "'low', 'normal' or 'high'"; ops want "low, normal, high".
        choices = str(ctx.get("expected", "")).replace("' or '", "', '").replace("'", "")
        return f"{name} must be one of {choices} {got}"
    if kind == "greater_than_equal":
        return f"{name} must be at least {ctx.get('ge')} {got}"
    if kind == "less_than_equal":
        return f"{name} must be at most {ctx.get('le')} {got}"
    if kind.startswith("rfc3339_"):  # messages from schemas.events.parse_occurred_at
        return f"{name} {error['msg']} {got}"
    return f"{name}: {error['msg']} {got}"


def _path_name(path: list[int | str]) -> str:
    """('ratings', 'patience') → ratings['patience']; a bad dict key ends in '[key]'."""
    if len(path) > 2 and path[-1] == "[key]":
        return f"{_path_name(path[:-2])} key {_show(path[-2])}"
    return str(path[0]) + "".join(f"[{_show(part)}]" for part in path[1:])


def _show(value: object) -> str:
    """A short, single-line rendering of an offending value (JSON style except for strings)."""
    if isinstance(value, str):
        return repr(value if len(value) <= _SHOWN else value[:_SHOWN] + "…")
    try:
        shown = orjson.dumps(value).decode()
    except TypeError:  # not JSON-able; cannot happen for orjson-parsed input, but never raise
        shown = repr(value)
    return shown if len(shown) <= _SHOWN else shown[:_SHOWN] + "…"


def _readable(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _one_line(reason: str) -> str:
    reason = " ".join(reason.splitlines())  # any line break, not only \n
    return reason if len(reason) <= MAX_REASON else reason[: MAX_REASON - 1] + "…"


# --- duplicate keys ---------------------------------------------------------------------------


def _repeated_key(text: str, data: dict[str, Any]) -> str | None:
    """A key that appears twice in one JSON object of `text`, if any. Cheap for the usual event:
    without backslashes no string can hold a quote, so `":` ends a key and nothing else; as
    many of them as the parsed data has keys (and no key spaced from its colon) means no key
    was repeated. Otherwise the text is parsed again, keeping every pair."""
    # One "{" is the object's own: no nested object to count keys in.
    nested = text.find("{", text.find("{") + 1) >= 0
    if ("\\" not in text and text.count('":') == (_keys(data) if nested else len(data))
            and _no_spaced_colon(text)):
        return None
    found: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for key, _ in items:
            if key in seen and not found:
                found.append(key)
            seen.add(key)
        return dict(items)

    json.loads(text, object_pairs_hook=pairs)
    return found[0] if found else None


def _no_spaced_colon(text: str) -> bool:
    # Compact JSON has no whitespace at all: four one-character scans (memchr) are a sixth of
    # the cost of the four two-character ones.
    if " " not in text and "\t" not in text and "\n" not in text and "\r" not in text:
        return True
    return " :" not in text and "\t:" not in text and "\n:" not in text and "\r:" not in text


def _keys(value: Any) -> int:
    """The keys of every object in a parsed JSON value."""
    if type(value) is dict:
        n = len(value)
        for v in value.values():
            if type(v) is dict or type(v) is list:
                n += _keys(v)
        return n
    if type(value) is list:
        return sum(_keys(v) for v in value if type(v) is dict or type(v) is list)
    return 0
