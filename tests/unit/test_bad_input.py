"""Input that used to vanish or pass silently: a byte-order mark ate the first event of a file,
a repeated JSON key kept whichever value came last, and ids could hold NUL or newlines."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from sqm.streams.core.records import EventRecord
from sqm.streams.core.validate import Rejection, validate
from sqm.streams.replay_summary import numbered_lines, read_lines

EVENT = (b'{"event_id":"e1","type":"contact.created","occurred_at":"2026-03-02T01:00:00Z",'
         b'"tenant_id":"t1","contact_id":"c1","customer_id":"u1","channel":"chat","queue":"q"')


def test_a_byte_order_mark_is_not_part_of_the_first_event(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    second = EVENT.replace(b"e1", b"e2") + b"}"
    path.write_bytes(b"\xef\xbb\xbf" + EVENT + b"}\n\n" + second + b"\n")
    assert list(numbered_lines(path)) == [(1, EVENT + b"}"), (3, second)]
    assert [validate(v).event_id for v in read_lines(path)] == ["e1", "e2"]  # type: ignore[union-attr]


@pytest.mark.parametrize(("extra", "key"), [
    (b',"tenant_id":"t2"}', "tenant_id"),  # the second one silently won before
    (b',"ratings":{"patience":5,"patience":1}}', "patience"),  # inside a nested object
    (b', "tenant_id" : "t2"}', "tenant_id"),  # spaced out: found by the full parse
    (b',"tenant_id"\t:"t2"}', "tenant_id"),  # no space, a tab: found by the full parse
    (b',"tenant_id"\r\n:"t2"}', "tenant_id"),
    (b',"note":"a \\"quoted\\" word","note":"x"}', "note"),  # escapes: found by the full parse
])
def test_a_repeated_key_is_rejected_with_its_name(extra: bytes, key: str) -> None:
    result = validate(EVENT + extra)
    assert isinstance(result, Rejection)
    assert result.reason == f"the key '{key}' appears twice in one object"
    assert result.event_id == "e1"


@pytest.mark.parametrize("extra", [
    b"}", b', "note" : "spaced"}', b',"note":"a \\"quoted\\": word"}',
    b',"ratings":{"patience":5,"professionalism":4}}',
])
def test_distinct_keys_pass_however_written(extra: bytes) -> None:
    assert isinstance(validate(EVENT + extra), EventRecord)


@pytest.mark.parametrize(("field", "value", "shown"), [
    ("contact_id", "c\x00", "'c\\x00'"),
    ("tenant_id", "t\n1", "'t\\n1'"),
    ("customer_id", "u\t1", "'u\\t1'"),
    ("event_id", "e\x7f", "'e\\x7f'"),
])
def test_ids_with_control_characters_are_rejected(field: str, value: str, shown: str) -> None:
    data = orjson.loads(EVENT + b"}")
    data[field] = value
    result = validate(orjson.dumps(data))
    assert isinstance(result, Rejection)
    assert result.reason == (f"{field} must not contain control characters (NUL, tab, newline "
                             f"...) (got {shown})")
