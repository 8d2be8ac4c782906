"""What the customer stage sends the alert stage: only contacts whose wait or waiting interval
changed in the batch (a contact the alert stage already closed must not repeat its changes)."""

from __future__ import annotations

from typing import Any

import orjson

from sqm.streams.core.alerting.at_risk import WaitingContact
from sqm.streams.core.alerting.monitor import AlertMonitor
from sqm.streams.core.shard import Shard, ShardConfig, ShardResult
from sqm.streams.core.state import DictStore
from sqm.streams.core.wire import alert_inputs
from tests.events import ev

T0 = 1_772_413_200_000  # 2026-03-02T01:00:00Z
SEC = 1000


def run(shard: Shard, *batches: list[Any]) -> list[ShardResult]:
    out = []
    for offset, events in enumerate(batches):
        out.append(shard.process([(offset, events)]))
        shard.commit()
    return out


def message(res: ShardResult, before: Any = "from result") -> dict[str, Any]:
    b = res.before if before == "from result" else before
    [message] = alert_inputs(0, 0, res.windows, res.contacts, 1, b)[0]
    return orjson.loads(message)


def test_only_changed_intervals_and_waits_are_sent() -> None:
    shard = Shard(0, DictStore(), ShardConfig())
    created, queued, answered, resolved, dup = run(
        shard,
        [ev("contact.created", T0, "c1", queue="q", event_id="a")],
        [ev("contact.queued", T0 + 1 * SEC, "c1", queue="q", event_id="b")],
        [ev("message.sent", T0 + 50 * SEC, "c1", sender="agent", agent_id="ag", event_id="c")],
        [ev("contact.resolved", T0 + 90 * SEC, "c1", resolved_by="human", event_id="d")],
        [ev("contact.resolved", T0 + 90 * SEC, "c1", resolved_by="human", event_id="d")],
    )
    # Created: a clock start (created_at) but not offered to a queue: a wait, no interval.
    first = message(created)
    assert created.before == {("t1", "c1"): None}
    assert [w[1] for w in first["waits"]] == ["c1"] and first["waiting"] == []
    # Queued: the contact now waits; its wait (still none, same queue) has not changed.
    m = message(queued)
    assert m["waits"] == []
    assert m["waiting"][0][5:] == [T0 + 1 * SEC, 30, None, None, T0 + 31 * SEC]
    # Answered after 49 s: both change.
    m = message(answered)
    assert m["waits"][0][6:] == [T0 + 50 * SEC, 49 * SEC]
    assert m["waiting"][0][7:9] == [T0 + 50 * SEC, "answered"]
    # Resolved: the contact row changes, its wait and interval do not: nothing to send...
    m = message(resolved)
    assert resolved.contacts and m["waits"] == [] and m["waiting"] == []
    # ... unlike before (no `before`), when it was sent again.
    legacy = message(resolved, before=None)
    assert len(legacy["waits"]) == 1 and len(legacy["waiting"]) == 1
    # A duplicate re-writes the row and sends nothing.
    assert dup.duplicates == 1 and dup.before == {}
    m = message(dup)
    assert m["waits"] == [] and m["waiting"] == []


def test_before_is_the_view_at_the_batch_start() -> None:
    shard = Shard(0, DictStore(), ShardConfig())
    run(shard, [ev("contact.created", T0, "c1", queue="q"),
                ev("contact.queued", T0 + SEC, "c1", queue="q")])
    [res] = run(shard, [ev("message.sent", T0 + 10 * SEC, "c1", sender="agent", agent_id="a"),
                        ev("contact.resolved", T0 + 20 * SEC, "c1", resolved_by="human")])
    old = res.before[("t1", "c1")]
    assert old is not None and old.answered_at is None and old.resolved_at is None


def closed_contact_changes(with_before: bool) -> list[tuple[str, str]]:
    shard = Shard(0, DictStore(), ShardConfig())
    monitor = AlertMonitor()
    changes = []
    batches = [
        [ev("contact.created", T0, "c1", queue="q"), ev("contact.queued", T0, "c1", queue="q")],
        [ev("message.sent", T0 + 45 * SEC, "c1", sender="agent", agent_id="a")],
        [ev("contact.resolved", T0 + 300 * SEC, "c1", resolved_by="human")],
    ]
    for res in run(shard, *batches):
        m = message(res, "from result" if with_before else None)
        for row in m["waiting"]:
            t, c, ch, q, pr, start, target, stop_at, reason, due = row
            monitor.waiting.record(WaitingContact(t, c, ch, q, pr, start, target, due),
                                   None if stop_at is None else (stop_at, reason))
        changes += monitor.waiting.evaluate(T0 + 600 * SEC)
    return [(c.kind, c.state) for c in changes]


def test_a_closed_contact_updated_later_raises_nothing_twice() -> None:
    """The alert stage evaluates a contact answered late (at-risk fired, then resolved by the
    breach) and drops it; the resolve that follows must not repeat that."""
    pair = [("at_risk", "firing"), ("at_risk", "resolved")]
    assert closed_contact_changes(with_before=True) == pair
    # Sending every contact again (as before `ShardResult.before`) repeated them.
    assert closed_contact_changes(with_before=False) == pair + pair


def test_large_inputs_are_split_under_the_message_limit():
    """4,000 contacts of one tenant waiting at once made a ~950 KiB message; the parts stay
    under ALERT_INPUT_BYTES, each with the shard's clock, and applied one by one they leave the
    alert stage exactly as the whole message would have."""
    from sqm.streams.core.alerting.partition import PartitionAlerts
    from sqm.streams.core.wire import ALERT_INPUT_BYTES, _chunked

    events = [ev("contact.queued", T0 + i * 7, f"big-{i}", customer=f"u{i}", queue="q",
                 tenant="shop-with-a-long-name")
              for i in range(4000)]
    shard = Shard(0, DictStore(), ShardConfig())
    res = shard.process([(0, events)])
    [parts] = alert_inputs(0, T0 + 60_000, res.windows, res.contacts, 1).values()
    assert len(parts) > 1 and all(len(p) <= ALERT_INPUT_BYTES for p in parts)
    assert all(orjson.loads(p)["wm"] == T0 + 60_000 for p in parts)
    whole = orjson.loads(parts[0])
    for p in parts[1:]:
        for kind in ("windows", "waiting", "waits"):
            whole[kind] += orjson.loads(p)[kind]
    assert len(whole["waiting"]) == 4000
    one, many = PartitionAlerts(AlertMonitor()), PartitionAlerts(AlertMonitor())
    one.apply(orjson.dumps(whole))
    for p in parts:
        many.apply(p)
    assert one.monitor.to_state() == many.monitor.to_state()
    # Handed over in process (the direct runner), where no message limit applies: one message.
    [[unsplit]] = alert_inputs(0, T0 + 60_000, res.windows, res.contacts, 1, split=False).values()
    assert orjson.loads(unsplit) == whole
    assert _chunked({"shard": 0, "windows": [], "waiting": [], "waits": []}) == [
        orjson.dumps({"shard": 0, "windows": [], "waiting": [], "waits": []})]
