"""The ingest path on anything: random bytes, random JSON, and valid events mutated field by
field. Nothing raises, every value is either forwarded or rejected (read = forwarded +
rejected), and every rejection's reason is one readable line."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sqm.streams.core.ingest_batch import route_batch
from sqm.streams.core.wire import decode_chunk

NOW_MS = 1_780_000_000_000  # 2026-05-28
VALID = {"event_id": "e1", "type": "message.sent", "occurred_at": "2026-03-02T01:00:00Z",
         "tenant_id": "t1", "contact_id": "c1", "customer_id": "u1", "channel": "chat",
         "sender": "agent", "agent_id": "a1", "schema_version": 1}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                  max_size=4),
    max_leaves=12,
)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    event = dict(VALID)
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from([*VALID, "ratings", "csat", "queue", "x"]))
        if draw(st.booleans()):
            event.pop(key, None)
        else:
            event[key] = draw(json_values)
    raw = json.dumps(event).encode()  # the stdlib writes what orjson refuses (huge integers)
    if draw(st.booleans()):  # cut it, or splice bytes in
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.binary(max_size=8)) + raw[at:] if draw(st.booleans()) \
            else raw[:at]
    return raw


values = st.lists(st.binary(max_size=64) | mutated()
                  | json_values.map(lambda v: json.dumps(v).encode()),
                  max_size=30)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values)
def test_any_input_is_forwarded_or_rejected_with_a_reason(batch: list[bytes]) -> None:
    routed = route_batch(batch, [i % 3 for i in range(len(batch))], 4, NOW_MS + 86_400_000,
                         86_400, 3660)
    forwarded = sum(len(decode_chunk(value)[1]) for _, _, value in routed.chunks)
    assert forwarded == routed.forwarded
    assert forwarded + len(routed.rejections) == len(batch)
    assert len({i for i, _ in routed.rejections}) == len(routed.rejections)
    for _, rejection in routed.rejections:
        reason = rejection.reason
        assert reason and "\n" not in reason and len(reason) < 600, reason
        assert "Traceback" not in reason and "pydantic" not in reason.lower(), reason


def test_the_unmutated_event_is_forwarded() -> None:
    """The fuzzer's starting point is valid, so its mutations probe the edge of the contract."""
    routed = route_batch([json.dumps(VALID).encode()], [0], 4, NOW_MS, 86_400, 3660)
    assert routed.forwarded == 1 and not routed.rejections
