"""Threshold rules, scripted minute by minute with values worked out by hand (docs/alerting.md)."""

from __future__ import annotations

import json
import random

from sqm.streams.core.alerting import AlertMonitor, MeanSource, WaitingContact, parse_config
from sqm.streams.core.alerting.changes import AlertChange, alert_id
from tests.events import ev, ms

T0 = ms("2026-03-02T01:00:00+00:00")
MIN = 60_000
SEC = 1000

EACH_QUEUE = {"tenant": "*", "channel": "*", "queue": "*"}
SL_RULE = {
    "id": "sl-low", "metric": "service_level", "scope": EACH_QUEUE, "window": "5m",
    "comparison": "<", "threshold": 0.8, "resolve_threshold": 0.85, "for": "2m",
    "severity": "critical", "min_sample": 10,
}
BILLING = ("t1", "chat", "billing", "", "")

# billing: 10 answered a minute; in SLA 10 for minutes 0–4, 4 for minutes 5–9, 10 after.
BILLING_IN_SLA = [10] * 5 + [4] * 5 + [10] * 8
# returns: calm, 8 answered a minute, all in SLA.


def counts(answered: int = 0, in_sla: int = 0, abandoned: int = 0, short: int = 0,
           offered: int = 0) -> list[int]:
    """In rollup order: offered, answered, in_sla, wait_ms, abandoned, short, created, repeat."""
    return [offered, answered, in_sla, answered * 10_000, abandoned, short, 0, 0]


def row(minute: int, queue: str, c: list[int], shard: int = 0, version: int = 1) -> tuple:
    return (T0 + minute * MIN, "t1", "chat", queue, "normal", shard, version, *c)


def minute_rows(m: int) -> list[tuple]:
    """Minute m split over two shards (their partial totals add up to the minute's counts)."""
    b = BILLING_IN_SLA[m]
    return [
        row(m, "billing", counts(answered=6, in_sla=min(b, 6)), shard=0, version=m + 1),
        row(m, "billing", counts(answered=4, in_sla=b - min(b, 6)), shard=1, version=m + 1),
        row(m, "returns", counts(answered=8, in_sla=8), shard=0, version=m + 1),
    ]


def monitor(*rules: dict) -> AlertMonitor:
    return AlertMonitor(parse_config({"rules": list(rules) or [SL_RULE], "anomalies": []}))


def run_minutes(mon: AlertMonitor, minutes: range, ticks: tuple[int, ...] = (45,),
                rows=minute_rows) -> list[AlertChange]:
    """Rows of minute m arrive at m:30; evaluate at m:ss for each ss in ticks."""
    out: list[AlertChange] = []
    for m in minutes:
        for r in rows(m):
            mon.apply_row(r)
        for ss in ticks:
            out += mon.evaluate(T0 + m * MIN + ss * SEC)
    return out


def test_breach_fires_once_after_for_and_resolves_once_with_the_same_id():
    # Service level over the 5 whole minutes before each boundary k (minutes k−5 … k−1); each
    # bad minute has 6 fewer answers in SLA than a good one:
    #   k=5: 50/50 = 1.00   k=6: 44/50 = 0.88 (minute 5 is bad; not below 0.8: no breach)
    #   k=7: 38/50 = 0.76 → pending since T0+7m        k=8: 32/50 = 0.64 (pending 1 min)
    #   k=9: 26/50 = 0.52, pending 2 min = `for` → FIRING, started_at T0+7m
    #   k=10: 20/50 = 0.40 (minutes 5–9, all bad), k=11: 0.52, k=12: 0.64, k=13: 0.76 → still
    #   firing, nothing emitted; k=14: 44/50 = 0.88 ≥ 0.85 → RESOLVED at T0+14m
    # returns: 40/40 = 1.00 at every boundary → nothing.
    changes = run_minutes(monitor(), range(18), ticks=(5, 25, 45))
    assert [(c.state, c.version) for c in changes] == [("firing", 1), ("resolved", 3)]
    fire, resolve = changes
    expected_id = alert_id("sl-low", *BILLING, T0 + 7 * MIN)
    assert fire.alert_id == resolve.alert_id == expected_id
    assert (fire.tenant_id, fire.channel, fire.queue, fire.priority, fire.agent_id) == BILLING
    assert fire.started_at == resolve.started_at == T0 + 7 * MIN
    assert fire.updated_at == T0 + 9 * MIN and fire.ended_at is None
    assert fire.value == 0.52 and fire.threshold == 0.8
    assert fire.kind == "breach" and fire.severity == "critical" and fire.contact_id is None
    assert fire.message == (
        "service level 52.0 % < 80.0 % over 5 min (tenant t1, chat, queue billing)")
    assert resolve.ended_at == resolve.updated_at == T0 + 14 * MIN and resolve.value == 0.88
    assert resolve.message == (
        "service level back to 88.0 % >= 85.0 % over 5 min (tenant t1, chat, queue billing)"
    )


def test_the_same_changes_however_often_the_clock_ticks():
    every_20s = run_minutes(monitor(), range(18), ticks=(0, 20, 40))
    # All rows first, then two evaluations only (the first catches up an hour of minutes).
    coarse = monitor()
    for m in range(18):
        for r in minute_rows(m):
            coarse.apply_row(r)
    once = coarse.evaluate(T0 + 5 * MIN) + coarse.evaluate(T0 + 17 * MIN + 59 * SEC)
    assert once == every_20s and len(once) == 2


def test_replayed_rows_duplicates_stale_versions_and_any_order_give_identical_changes():
    clean = run_minutes(monitor(), range(18))

    def messy_rows(m: int) -> list[tuple]:
        good = minute_rows(m)
        junk = [(*r[:6], r[6] - 1, *counts(answered=99)) for r in good]  # older versions
        rows = good + good + junk  # re-delivered, and overtaken rows arriving after them
        random.Random(m).shuffle(rows)
        # A correction: a wrong row at a lower version first, the right one later.
        wrong = (*good[0][:6], 0, *counts(answered=10, in_sla=0))
        return [wrong, *rows]

    assert run_minutes(monitor(), range(18), rows=messy_rows) == clean
    # Replaying the whole history again into the same monitor adds nothing new.
    again = monitor()
    first = run_minutes(again, range(18))
    for m in range(18):
        for r in minute_rows(m):
            assert again.apply_row(r) is False
    assert again.evaluate(T0 + 17 * MIN + 59 * SEC) == [] and first == clean


def one_minute_rule(resolve: float, for_: str = "0s") -> dict:
    return {**SL_RULE, "window": "1m", "for": for_, "resolve_threshold": resolve}


def sl_rows(per_minute: list[int]):
    """One queue, 100 answered a minute, per_minute[m] of them in SLA: SL = per_minute[m] %."""
    return lambda m: [row(m, "billing", counts(answered=100, in_sla=per_minute[m]))]


def test_pending_that_recovers_before_for_never_fires():
    # 1-minute window, for 2m: 70 % at k=3 and k=4 (pending 1 min), 100 % at k=5 → back to ok.
    sl = [100, 100, 70, 70, 100, 100, 70, 100]
    assert run_minutes(monitor(one_minute_rule(0.85, "2m")), range(8), rows=sl_rows(sl)) == []
    # Three breaching boundaries in a row (k=3, 4, 5) do fire, at k=5.
    sl = [100, 100, 70, 70, 70, 100, 100, 100]
    out = run_minutes(monitor(one_minute_rule(0.85, "2m")), range(8), rows=sl_rows(sl))
    assert [(c.state, c.started_at, c.updated_at) for c in out] == [
        ("firing", T0 + 3 * MIN, T0 + 5 * MIN),
        ("resolved", T0 + 3 * MIN, T0 + 6 * MIN),
    ]


def test_hysteresis_stops_flapping_around_the_threshold():
    # Per-minute service level (%), for 0: fires at 70; 82, 79, 84, 78, 83 stay in the firing
    # alert (below 85); 86 resolves; 82 is in the dead band (no breach from ok); 79 is a new
    # breach: a NEW alert with a new id. (Boundary k reads minute k − 1.)
    sl = [100, 70, 82, 79, 84, 78, 83, 86, 82, 79, 100, 100]
    out = run_minutes(monitor(one_minute_rule(0.85)), range(12), rows=sl_rows(sl))
    assert [(c.state, c.updated_at) for c in out] == [
        ("firing", T0 + 2 * MIN), ("resolved", T0 + 8 * MIN),
        ("firing", T0 + 10 * MIN), ("resolved", T0 + 11 * MIN),
    ]
    assert out[0].alert_id == out[1].alert_id != out[2].alert_id == out[3].alert_id
    # Without a dead band the same minutes flap: fire at 70, resolve at 82, fire at 79, ...
    flappy = run_minutes(monitor(one_minute_rule(0.8)), range(12), rows=sl_rows(sl))
    assert [c.state for c in flappy] == ["firing", "resolved"] * 4


def test_min_sample_not_met_leaves_the_state_unchanged():
    # 9 contacts a minute (< min_sample 10): never evaluated, however bad.
    rule = {**one_minute_rule(0.85), "min_sample": 10}
    low = lambda m: [row(m, "billing", counts(answered=9, in_sla=0))]  # noqa: E731
    assert run_minutes(monitor(rule), range(5), rows=low) == []
    # Firing, then the queue goes quiet (no rows): still firing, no resolve without data.
    sl = [100, 50, 50]
    mon = monitor(rule)
    out = run_minutes(mon, range(3), rows=sl_rows(sl))
    out += run_minutes(mon, range(3, 10), rows=lambda m: [])
    assert [c.state for c in out] == ["firing"]


def test_acknowledge_then_resolve():
    mon = monitor()
    fire = run_minutes(mon, range(11))[0]
    ack = mon.acknowledge(fire.alert_id, T0 + 11 * MIN + 7 * SEC)
    assert ack is not None and (ack.state, ack.version) == ("acknowledged", 2)
    assert ack.alert_id == fire.alert_id and ack.started_at == fire.started_at
    assert ack.message == fire.message + " (acknowledged)" and ack.ended_at is None
    assert mon.acknowledge(fire.alert_id, T0 + 12 * MIN) is None  # already acknowledged
    assert mon.acknowledge("no-such-alert", T0 + 12 * MIN) is None
    rest = run_minutes(mon, range(11, 18))
    assert [(c.alert_id, c.state, c.version) for c in rest] == [(fire.alert_id, "resolved", 3)]


def test_state_round_trips_mid_scenario_with_identical_output():
    straight = monitor()
    before = run_minutes(straight, range(9))  # pending since k=7, not yet firing
    restored = AlertMonitor.from_state(json.loads(json.dumps(straight.to_state())),
                                       straight.config)
    assert restored.to_state() == straight.to_state()
    assert before == []
    # The same state in parts (what the alert stage's changelog holds), JSON and back.
    parts = {k: json.loads(json.dumps(v)) for k, v in straight.parts().items()}
    from_parts = AlertMonitor.from_parts(parts, straight.config)
    assert from_parts.to_state() == straight.to_state()
    after = run_minutes(restored, range(9, 18))
    assert after == run_minutes(straight, range(9, 18)) and len(after) == 2
    assert run_minutes(from_parts, range(9, 18)) == after


def test_a_rule_removed_from_the_policy_resolves_its_alerts_after_a_restart():
    mon = monitor()
    fire = run_minutes(mon, range(11))[0]
    other = {**SL_RULE, "id": "other"}
    restored = AlertMonitor.from_state(mon.to_state(), parse_config({"rules": [other]}))
    out = restored.evaluate(T0 + 11 * MIN + 50 * SEC)
    assert [(c.alert_id, c.state) for c in out if c.rule_id == "sl-low"] == [
        (fire.alert_id, "resolved")]
    assert out[0].message.endswith("(rule removed from the policy)")


def waiting(cid: str, queue: str = "billing", start: int = T0) -> WaitingContact:
    return WaitingContact("t1", cid, "chat", queue, "normal", start, 30)


def test_backlog_rule_fires_on_the_waiting_contacts_and_resolves_when_the_queue_empties():
    rule = {"id": "backlog", "metric": "backlog", "scope": EACH_QUEUE, "comparison": ">",
            "threshold": 2, "resolve_threshold": 1}
    mon = monitor(rule)
    for cid in ("c1", "c2", "c3"):
        mon.upsert_waiting(waiting(cid))
    mon.upsert_waiting(waiting("d1", queue="returns"))
    fire = [c for c in mon.evaluate(T0 + 1 * SEC) if c.kind == "breach"]
    assert [(c.state, c.queue, c.value, c.message) for c in fire] == [
        ("firing", "billing", 3.0, "backlog 3 > 2 (tenant t1, chat, queue billing)")]
    for cid in ("c1", "c2", "c3"):
        mon.stop_waiting("t1", cid, T0 + 10 * SEC)
    # No contact left in billing: the key is no longer reported and counts as 0.
    out = [c for c in mon.evaluate(T0 + 11 * SEC) if c.kind == "breach"]
    assert [(c.state, c.value, c.ended_at) for c in out] == [("resolved", 0.0, T0 + 11 * SEC)]


def test_supplied_csat_per_agent():
    rule = {"id": "csat-agent", "metric": "csat", "scope": {"tenant": "*", "agent": "*"},
            "window": "1d", "comparison": "<", "threshold": 3.5, "resolve_threshold": 3.8,
            "min_sample": 3}
    mon = monitor(rule)
    # a1: (5 + 4 + 1 + 2) / 4 = 3.0 < 3.5 → fires; a2: 9 / 2 responses < min_sample → skipped.
    source = MeanSource({
        ("t1", "chat", "q", "normal", "a1"): (9.0, 2.0),
        ("t1", "email", "q", "normal", "a1"): (3.0, 2.0),
        ("t1", "chat", "q", "normal", "a2"): (9.0, 2.0),
    })
    out = mon.evaluate(T0, supplied={"csat": source})
    assert [(c.agent_id, c.value, c.tenant_id, c.channel) for c in out] == [("a1", 3.0, "t1", "")]
    assert out[0].message == "CSAT 3.00 < 3.50 over 1 d (tenant t1, agent a1)"


def test_live_clock_ahead_of_the_window_rows():
    # Live: the timer runs on the wall clock, the rows lag it. Windows are evaluated only up to
    # `windows_ms` (the shards' watermark), while at-risk contacts follow the wall clock.
    mon, lagging = monitor(), monitor()
    expected = run_minutes(mon, range(18))
    out: list[AlertChange] = []
    for m in range(18):
        for r in minute_rows(m):
            lagging.apply_row(r)
        # Wall clock 3 minutes ahead; rows are complete up to m:45 as in the reference run.
        out += lagging.evaluate(T0 + (m + 3) * MIN, windows_ms=T0 + m * MIN + 45 * SEC)
    assert out == expected
    lagging.upsert_waiting(waiting("c1", start=T0 + 20 * MIN))
    risk = lagging.evaluate(T0 + 20 * MIN + 24 * SEC, windows_ms=T0 + 17 * MIN)
    assert [(c.kind, c.contact_id) for c in risk] == [("at_risk", "c1")]


def test_changes_carry_exactly_the_columns_of_sqm_alerts():
    import dataclasses
    import re
    from pathlib import Path

    sql = (Path(__file__).parents[2] / "schemas/clickhouse/0002_alerts.sql").read_text()
    body = sql[sql.index("(\n") + 2:sql.index("ENGINE")]
    columns = [m.group(1) for m in re.finditer(r"^\s+(\w+)\s+[A-Z]", body, re.M)]
    assert [f.name for f in dataclasses.fields(AlertChange)] == columns
    fire = run_minutes(monitor(), range(10))[0]
    row = fire.to_row()
    assert list(row) == columns and row["started_at"].tzinfo is not None
    assert json.loads(json.dumps(fire.to_dict())) == fire.to_dict()
    assert AlertChange.from_dict(fire.to_dict()) == fire
    # The column form the alert stage writes: the same values, times as epoch ms.
    from sqm.streams.core.alerting.changes import change_columns

    changes = run_minutes(monitor(), range(10))
    changes.append(dataclasses.replace(changes[0], state="resolved", ended_at=T0, version=3))
    cols = change_columns(changes)
    assert list(cols) == columns
    assert [dict(zip(cols, values, strict=True)) for values in zip(*cols.values(), strict=True)
            ] == [c.to_dict() for c in changes]
    assert change_columns([]) == dict.fromkeys(columns, ())


def test_an_acknowledgement_message_reaches_the_partition_holding_the_alert():
    # What `sqm alerts ack` sends, applied as the alert stage applies `sqm.alert-inputs`: the
    # partition holding the firing alert acknowledges it (once); any other partition ignores it.
    from sqm.streams.core.alerting.partition import PartitionAlerts
    from sqm.streams.core.wire import ack_message

    holder, other = PartitionAlerts(monitor()), PartitionAlerts(monitor())
    fire = run_minutes(holder.monitor, range(11))[0]
    msg = ack_message(fire.alert_id, T0 + 11 * MIN)
    [ack] = holder.apply(msg)
    assert (ack.alert_id, ack.state, ack.version) == (fire.alert_id, "acknowledged", 2)
    assert holder.apply(msg) == []  # a re-delivered acknowledgement changes nothing
    assert other.apply(msg) == []
    # The acknowledgement is in the partition's state, so it survives a restart.
    restored = PartitionAlerts.decode(holder.encode(), holder.monitor.config)
    assert restored.apply(msg) == []


def test_wait_p90_from_the_customer_stage_messages():
    # Chat queue billing: 20 contacts answered after 10 s … 200 s (10 s steps) in minutes 0-4.
    # p90 (inclusive) of 10..200 = rank 0.9 × 19 = 17.1 → 180 + 0.1 × 10 = 181 s > 60: the rule
    # (min_sample 20, for 0) fires at the first evaluation. Then a late abandon before its
    # answer takes one contact's wait away: 19 waits, under min_sample, the state holds.
    from sqm.streams.core.alerting.partition import PartitionAlerts
    from sqm.streams.core.wire import alert_inputs
    from tests.harness import run

    rule = {"id": "p90", "metric": "wait_p90_s", "scope": EACH_QUEUE, "window": "15m",
            "comparison": ">", "threshold": 60, "resolve_threshold": 45, "min_sample": 20}
    part = PartitionAlerts(monitor(rule))
    events = []
    for i in range(20):
        queued = T0 + i * 15 * SEC
        events += [ev("contact.queued", queued, f"c{i}", queue="billing", customer=f"u{i}"),
                   ev("message.sent", queued + (i + 1) * 10 * SEC, f"c{i}", customer=f"u{i}",
                      sender="agent", agent_id="a1")]
    views = [(v, 1) for _, v in run(events).contacts.values()]
    [[message]] = alert_inputs(0, T0 + 10 * MIN, [], views, 1).values()
    part.apply(message)
    [fire] = [c for c in part.monitor.evaluate(T0 + 10 * MIN) if c.rule_id == "p90"]
    assert (fire.rule_id, fire.state, fire.queue, fire.value) == ("p90", "firing", "billing",
                                                                   181.0)
    late = [*events, ev("contact.abandoned", T0 + 5 * SEC, "c0", customer="u0")]
    views = [(v, 1) for _, v in run(late).contacts.values() if v.contact_id == "c0"]
    part.apply(alert_inputs(0, T0 + 11 * MIN, [], views, 1)[0][0])
    assert len(part.monitor.waits) == 19
    assert [c for c in part.monitor.evaluate(T0 + 11 * MIN) if c.rule_id == "p90"] == []
    # The waits live in the partition's state.
    restored = PartitionAlerts.decode(part.encode(), part.monitor.config)
    assert len(restored.monitor.waits) == 19
