"""What each query must return on the seeded store (tests/dashboards/seed.py), by hand.

`COLUMNS`: names and ClickHouse types of every query's result (time columns must be
non-nullable DateTime/DateTime64 for the plugin's time-series conversion). `CASES`: result rows
for given variable selections, with the arithmetic in the comments or `why`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tests.dashboards.macros import ALL, Value
from tests.dashboards.seed import FROM, at

__all__ = ["CASES", "COLUMNS", "EVERYTHING", "Case"]

EVERYTHING: dict[str, Value] = {"tenant": [ALL], "channel": [ALL], "queue": [ALL], "bucket": "hour"}
H0, H1 = at(0, 0), at(1, 0)
TEXT, LC = "String", "LowCardinality(String)"
RATIO, COUNT, TIME = "Nullable(Float64)", "UInt64", "DateTime"
MS = "DateTime64(3, 'UTC')"

_VARIABLE_COLUMNS = {"tenant": [("tenant_id", TEXT)], "channel": [("channel", LC)],
                     "queue": [("queue", TEXT)]}
COLUMNS: dict[str, list[tuple[str, str]]] = {
    "sqm-ops/panel/1/A": [("service_level", RATIO)],
    "sqm-ops/panel/2/A": [("abandon_rate", RATIO)],
    "sqm-ops/panel/3/A": [("open_contacts", COUNT)],
    "sqm-ops/panel/4/A": [("firing", COUNT)],
    "sqm-ops/panel/5/A": [("time", TIME), ("channel", LC), ("service_level", RATIO)],
    "sqm-ops/panel/6/A": [("time", TIME), ("queue", TEXT), ("service_level", RATIO)],
    "sqm-ops/panel/7/A": [("time", TIME), ("p50", "Float64"), ("p90", "Float64")],
    "sqm-ops/panel/8/A": [("time", TIME), ("channel", LC), ("abandon_rate", RATIO)],
    "sqm-ops/panel/9/A": [("tenant_id", TEXT), ("channel", LC), ("queue", TEXT),
                          ("open_contacts", COUNT), ("oldest_queued_at", MS)],
    "sqm-ops/panel/10/A": [
        ("started_at", MS), ("severity", LC), ("kind", LC), ("metric", LC), ("value", "Float64"),
        ("threshold", "Float64"), ("tenant_id", TEXT), ("channel", TEXT), ("queue", TEXT),
        ("priority", TEXT), ("agent_id", TEXT), ("contact_id", "Nullable(String)"),
        ("message", TEXT), ("alert_id", TEXT),
    ],
    # Grafana maps annotation fields by these names; timeEnd NULL = a point (still open).
    "sqm-ops/annotation/SQM alerts": [("time", MS), ("timeEnd", f"Nullable({MS})"),
                                      ("title", TEXT), ("text", TEXT), ("tags", TEXT)],
    "sqm-analyst/panel/1/A": [("time", TIME), ("tenant_id", TEXT), ("offered", COUNT),
                              ("answered", COUNT)],
    "sqm-analyst/panel/2/A": [("time", TIME), ("tenant_id", TEXT), ("service_level", RATIO)],
    "sqm-analyst/panel/3/A": [("time", TIME), ("tenant_id", TEXT), ("repeat_rate", RATIO)],
    "sqm-analyst/panel/4/A": [("time", TIME), ("tenant_id", TEXT), ("bot_containment", RATIO)],
    "sqm-analyst/panel/5/A": [("time", TIME), ("tenant_id", TEXT), ("satisfied", RATIO)],
    "sqm-analyst/panel/6/A": [("tenant_id", TEXT), ("channel", LC), ("responses", COUNT),
                              ("satisfied_pct", "Float64"), ("csat_mean", RATIO)],
    "sqm-analyst/panel/7/A": [("stage", LC), ("reason", TEXT), ("rejected", COUNT),
                              ("last_seen", MS)],
    "sqm-scorecard/panel/1/A": [("agents", COUNT)],
    "sqm-scorecard/panel/2/A": [("answered", COUNT)],
    "sqm-scorecard/panel/3/A": [("agent_id", TEXT), ("answered", COUNT),
                                ("mean_wait_s", "Float64"), ("in_sla_pct", "Float64"),
                                ("csat_responses", COUNT), ("csat_mean", RATIO),
                                ("resolved", COUNT), ("reopened", COUNT),
                                ("resolution_p50_s", "Float64"),
                                ("professionalism_mean", "Nullable(Float64)"),
                                ("patience_mean", "Nullable(Float64)")],
    "alert/sqm-service-level-low/A": [("time", TIME), ("tenant_id", TEXT), ("channel", LC),
                                      ("service_level", RATIO)],
    "alert/sqm-abandon-rate-high/A": [("time", TIME), ("tenant_id", TEXT), ("channel", LC),
                                      ("abandon_rate", RATIO)],
    "alert/sqm-critical-alerts-firing/A": [("tenant_id", TEXT), ("critical_firing", COUNT)],
    "sqm-ops/panel/11/A": [("time", TIME), ("queue", TEXT),
                           ("needed", "Nullable(UInt64)"), ("handling", COUNT)],
    "alert/sqm-understaffed/A": [("tenant_id", TEXT), ("channel", LC), ("queue", TEXT),
                                 ("gap", "Int64")],
    # Pipeline health
    "sqm-ops/panel/13/A": [("tenant_id", TEXT), ("newest_write", MS), ("age_s", "Int64")],
    "sqm-ops/panel/14/A": [("age_s", "Int64")],
    "sqm-ops/panel/15/A": [("time", TIME), ("reason", TEXT), ("rejected", COUNT)],
    "sqm-ops/panel/16/A": [("dropped_corrections", COUNT)],
    "alert/sqm-tenant-stale/A": [("tenant_id", TEXT), ("age_s", "Int64")],
    "alert/sqm-events-stale/A": [("age_s", "Int64")],
} | {
    f"{board}/variable/{name}": columns
    for board in ("sqm-ops", "sqm-analyst", "sqm-scorecard")
    for name, columns in _VARIABLE_COLUMNS.items()
}



@dataclass(frozen=True)
class Case:
    key: str
    rows: list[tuple[Any, ...]]
    variables: Mapping[str, Value] = field(default_factory=lambda: EVERYTHING)
    why: str = ""
    now: datetime | None = None  # alert queries: evaluation time (default test_queries' 00:35)

    def __str__(self) -> str:
        scope = {k: v for k, v in self.variables.items() if v not in ([ALL], "hour")}
        return f"{self.key} {scope}" if scope else self.key


def only(**selected: Value) -> dict[str, Value]:
    return {**EVERYTHING, **selected}


SL_BY_HOUR = [(H0, "chat", 2 / 3), (H0, "email", 0.75), (H0, "phone", 0.5), (H1, "chat", 1.0),
              (H1, "phone", None)]  # 01h phone: only a short abandon, handled = 0 -> NULL
FIRING_ROWS = [
    (at(0, 30), "critical", "breach", "service_level", 0.5, 0.8, "t1", "chat", "", "", "",
     None, "al1 firing", "al1"),
    (at(1, 30), "warning", "anomaly", "service_level", 0.5, 0.8, "", "", "", "", "", None,
     "al3 firing", "al3"),
    (at(-1, 0), "warning", "breach", "service_level", 0.5, 0.8, "t2", "chat", "", "", "", None,
     "al6 firing", "al6"),
]
VARIABLES = [
    case
    for board in ("sqm-ops", "sqm-analyst", "sqm-scorecard")
    for case in (
        Case(f"{board}/variable/tenant", [("t1",), ("t2",)]),
        Case(f"{board}/variable/channel", [("chat",), ("email",), ("phone",)]),
        Case(f"{board}/variable/channel", [("email",)], only(tenant=["t2"])),
        Case(f"{board}/variable/queue", [("billing",), ("general",), ("support",)]),
        Case(f"{board}/variable/queue", [("billing",)], only(tenant=["t1"], channel=["chat"])),
    )
]
CASES = [
    # in SLA 2+1+3+1 = 7 of handled 3+2+4+1+0 = 10
    Case("sqm-ops/panel/1/A", [(0.7,)]),
    Case("sqm-ops/panel/1/A", [(2 / 3,)], only(tenant=["t1"]), "t1: 4 of 6"),
    Case("sqm-ops/panel/1/A", [(0.75,)], only(tenant="t2"), "single value, not a list"),
    Case("sqm-ops/panel/1/A", [(2 / 3,)], only(channel=["chat", "phone"]), "multi-value IN"),
    Case("sqm-ops/panel/1/A", [(None,)], only(tenant=["nobody"]), "no traffic: NULL, not 0/0"),
    Case("sqm-ops/panel/2/A", [(0.1,)], why="abandons 2-1 + 1-1 = 1 of 10"),
    Case("sqm-ops/panel/3/A", [(2,)], why="c4, c9; c1's open first version is replaced"),
    Case("sqm-ops/panel/4/A", [(3,)]),
    Case("sqm-ops/panel/4/A", [(2,)], only(tenant=["t1"]), "al1 + al3 (no tenant = any)"),
    Case("sqm-ops/panel/4/A", [(1,)], only(channel=["phone"]), "al3 only; al2 is resolved"),
    Case("sqm-ops/panel/5/A", SL_BY_HOUR),
    Case("sqm-ops/panel/6/A", [(H0, "billing", 2 / 3), (H0, "general", 0.75),
                               (H0, "support", 0.5), (H1, "billing", 1.0), (H1, "support", None)]),
    # 00h waits 10, 20, 60, 1800: p50 at 1.5 -> 40, p90 at 2.7 -> 60 + 0.7 * 1740 = 1278
    Case("sqm-ops/panel/7/A", [(H0, 40.0, 1278.0), (H1, 30.0, 30.0)]),
    Case("sqm-ops/panel/7/A", [(H0, 20.0, 52.0), (H1, 30.0, 30.0)], only(tenant=["t1"]),
         "10, 20, 60: p90 at 1.8 -> 20 + 0.8 * 40"),
    Case("sqm-ops/panel/8/A", [(H0, "chat", 1 / 3), (H0, "email", 0.0), (H0, "phone", 0.0),
                               (H1, "chat", 0.0), (H1, "phone", None)]),
    Case("sqm-ops/panel/9/A", [("t1", "chat", "billing", 2, at(0, 30))]),
    Case("sqm-ops/panel/9/A", [], only(tenant=["o'brien"]), "a quote in a value is escaped"),
    Case("sqm-ops/panel/10/A", FIRING_ROWS, why="critical first, then newest first"),
    Case("sqm-ops/panel/10/A", FIRING_ROWS[1:], only(tenant=["t2"], channel=["chat"])),
    Case("sqm-ops/annotation/SQM alerts", [
        (at(-1, 0), None, "warning breach: service_level", "al6 firing", "warning,breach"),
        (at(0, 30), None, "critical breach: service_level", "al1 firing", "critical,breach"),
        (at(0, 40), at(1, 0), "warning at_risk: service_level", "al2 resolved",
         "warning,at_risk"),
        (at(0, 50), None, "critical breach: service_level", "al4 acknowledged",
         "critical,breach"),
        (at(1, 30), None, "warning anomaly: service_level", "al3 firing", "warning,anomaly"),
    ], why="overlapping the range: al6 started before it; al5 ended before it"),
    Case("sqm-analyst/panel/1/A", [(H0, "t1", 12, 4), (H0, "t2", 4, 4), (H1, "t1", 2, 1)]),
    Case("sqm-analyst/panel/1/A", [(FROM, "t1", 14, 5), (FROM, "t2", 4, 4)], only(bucket="day")),
    Case("sqm-analyst/panel/2/A", [(H0, "t1", 0.6), (H0, "t2", 0.75), (H1, "t1", 1.0)],
         why="00h t1: 2+1 of 3+2"),
    Case("sqm-analyst/panel/3/A", [(H0, "t1", 1 / 3), (H0, "t2", 0.5), (H1, "t1", 0.5)],
         why="repeats/created: 2/6, 2/4, 1/2"),
    Case("sqm-analyst/panel/4/A", [(H0, "t1", 1 / 3), (H0, "t2", 0.0), (H1, "t1", None)],
         why="c6 of resolved c1, c3, c6; none resolved at 01h"),
    Case("sqm-analyst/panel/5/A", [(H0, "t1", 2 / 3), (H0, "t2", 0.0), (H1, "t1", None)],
         why="CSAT 5, 3, 4 -> 2 of 3 satisfied; no survey at 01h"),
    Case("sqm-analyst/panel/6/A", [("t1", "chat", 2, 50.0, 4.0), ("t1", "phone", 1, 100.0, 4.0),
                                   ("t2", "email", 1, 0.0, 2.0)]),
    Case("sqm-analyst/panel/7/A", [("ingest", "invalid json", 2, at(0, 20)),
                                   ("late", "behind watermark", 1, at(1, 0))]),
    Case("sqm-analyst/panel/7/A", [("ingest", "invalid json", 1, at(0, 20))], only(tenant=["t1"])),
    Case("sqm-scorecard/panel/1/A", [(3,)]),
    Case("sqm-scorecard/panel/2/A", [(5,)]),
    # a1: c1 resolved in 900 s (patience 5) and c2 open; a2: c3 resolved in 1200 s, reopened
    # once, rated patience 3 and professionalism 4, and c7 open; b1: c8 resolved in 2700 s.
    Case("sqm-scorecard/panel/3/A", [
        ("a1", 2, 40.0, 50.0, 2, 4.0, 1, 0, 900.0, None, 5.0),
        ("a2", 2, 20.0, 50.0, 1, 4.0, 1, 1, 1200.0, 4.0, 3.0),
        ("b1", 1, 1800.0, 100.0, 1, 2.0, 1, 0, 2700.0, None, None)]),
    Case("sqm-scorecard/panel/3/A", [("a2", 2, 20.0, 50.0, 1, 4.0, 1, 1, 1200.0, 4.0, 3.0)],
         only(channel=["phone"])),
    # Alerts: 00:05-00:35 in 5-minute buckets per tenant and channel
    Case("alert/sqm-service-level-low/A", [(at(0, 10), "t1", "chat", 2 / 3),
                                           (at(0, 15), "t2", "email", 0.75),
                                           (at(0, 20), "t1", "chat", None),
                                           (at(0, 30), "t1", "phone", 0.5)]),
    Case("alert/sqm-abandon-rate-high/A", [(at(0, 10), "t1", "chat", 1 / 3),
                                           (at(0, 15), "t2", "email", 0.0),
                                           (at(0, 20), "t1", "chat", None),
                                           (at(0, 30), "t1", "phone", 0.0)]),
    # Staffing (seed.py): complete 15-minute intervals up to 01:45, summed per queue. Unknown
    # (NULL) where arrivals had no handle time: 00:15 t2 email, 00:30 and 01:30 phone, 01:00
    # chat; contacts queued or answered with nothing offered make rows with 0 needed.
    Case("sqm-ops/panel/11/A", [
        (at(0, 0), "billing", 4, 1), (at(0, 0), "support", 0, 0),
        (at(0, 15), "billing", 7, 1), (at(0, 15), "general", None, 0),
        (at(0, 15), "support", 0, 1),
        (at(0, 30), "billing", 0, 0), (at(0, 30), "support", None, 0),
        (at(0, 45), "", 0, 0), (at(0, 45), "general", 0, 0),
        (at(1, 0), "billing", None, 0), (at(1, 0), "support", 0, 0),
        (at(1, 30), "billing", 0, 0), (at(1, 30), "support", None, 0),
    ]),
    Case("sqm-ops/panel/11/A", [
        (at(0, 0), "billing", 4, 1), (at(0, 15), "billing", 7, 1), (at(0, 30), "billing", 0, 0),
        (at(1, 0), "billing", None, 0), (at(1, 30), "billing", 0, 0),
    ], only(tenant=["t1"], channel=["chat"])),
    # At 00:35 the two complete intervals are 00:00 and 00:15: billing -3 and -6 (the better,
    # -3); support 0 and +1; t2 email has no gap (no handle time) in either: no row.
    Case("alert/sqm-understaffed/A", [("t1", "chat", "billing", -3),
                                      ("t1", "phone", "support", 1)]),
    Case("alert/sqm-critical-alerts-firing/A", [("", 0), ("t1", 1), ("t2", 0)],
         why="al4 is acknowledged, al3 and al6 are warnings; '' is always there"),
    # Pipeline health. Seeded writes (sla_1m.updated_at = window start): t1 newest 01:40, t2
    # newest 00:15; the board's $__toTime is 02:00: 20 min = 1200 s, 1 h 45 = 6300 s.
    Case("sqm-ops/panel/13/A", [("t1", at(1, 40), 1200), ("t2", at(0, 15), 6300)]),
    Case("sqm-ops/panel/13/A", [("t2", at(0, 15), 6300)], only(tenant=["t2"])),
    # Newest event e* at 00:21 (all t1): 1 h 39 = 5940 s. t2 has none: max() of nothing is the
    # epoch, so the age is 2024-05-01 02:00 UTC in seconds = 19844 days * 86400 + 7200.
    Case("sqm-ops/panel/14/A", [(5940,)]),
    Case("sqm-ops/panel/14/A", [(19844 * 86400 + 7200,)], only(tenant=["t2"]),
         "no events: reads as stale, not as no data"),
    Case("sqm-ops/panel/15/A", [(at(0, 10), "ingest: invalid json", 1),
                                (at(0, 20), "ingest: invalid json", 1),
                                (at(1, 0), "late: behind watermark", 1)],
         why="dl4 is before the range"),
    Case("sqm-ops/panel/15/A", [(at(0, 20), "ingest: invalid json", 1)], only(tenant=["t1"]),
         "dl1 has no tenant"),
    Case("sqm-ops/panel/16/A", [(2,)], why="the twice-written one once; one before the range"),
    Case("sqm-ops/panel/16/A", [(1,)], only(channel=["email"])),
    # Alerts at 01:50: t1 10 min (600 s), t2 1 h 35 (5700 s); events 1 h 29 (5340 s).
    Case("alert/sqm-tenant-stale/A", [("t1", 600), ("t2", 5700)], now=at(1, 50)),
    Case("alert/sqm-events-stale/A", [(5340,)], now=at(1, 50)),
    Case("alert/sqm-events-stale/A", [(540,)], now=at(0, 30), why="00:30 - 00:21"),
    Case("alert/sqm-events-stale/A", [(60,)], now=at(0, 18),
         why="00:18 - 00:17 (e4); e5 at 00:20 and the 00:21 ones are after now, left out"),
    *VARIABLES,
]
