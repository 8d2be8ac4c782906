"""The report's data: plain dicts and lists read from ClickHouse for one period (docs/report.md).

Counters come from `sqm.sla_1m_total` (each counted by the minute it happened by, as on the
Grafana boards) and every rate is computed in SQL from the summed counters, never averaged;
distributions and per-contact facts come from `sqm.contacts FINAL`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqm.streams.core.scorecard import Goal, Indicator
from sqm.streams.report.query_quality import alerts, bot, ratings, surveys
from sqm.streams.report.query_scorecard import fcr_by_channel, scorecards
from sqm.streams.report.sql import TENANT, Scope, day_of, grouping, in_period, iso, rows

# Summed counters, then the rates of docs/metrics.md ("Derived rates") from those sums.
_COUNTERS = """sum(offered) AS offered, sum(answered) AS answered,
    sum(answered_in_sla) AS answered_in_sla, sum(sl_met) AS sl_met, sum(sl_missed) AS sl_missed,
    sum(abandoned) AS abandoned, sum(short_abandoned) AS short_abandoned,
    toFloat64(sum(wait_s_sum)) AS wait_s_sum, sum(created) AS created,
    sum(repeat_contacts) AS repeat_contacts, sum(csat_count) AS csat_count,
    sum(csat_sum) AS csat_sum, sum(csat_good) AS csat_good"""
_RATES = """sl_met / nullIf(sl_met + sl_missed, 0) AS service_level,
    (abandoned - short_abandoned) / nullIf(answered + abandoned - short_abandoned, 0)
        AS abandon_rate,
    wait_s_sum / nullIf(answered, 0) AS wait_s_avg,
    repeat_contacts / nullIf(created, 0) AS repeat_rate,
    csat_sum / nullIf(csat_count, 0) AS csat_mean,
    csat_good / nullIf(csat_count, 0) AS csat_share"""

# Exact p50/p90 of the real-time wait, as `sqm.wait_quantiles` computes them, but per channel
# over all queues and priorities (quantiles of the view's finer groups cannot be combined).
_WAITS = """quantileExactInclusive(0.5)(toFloat64(wait_s)) AS wait_s_p50,
    quantileExactInclusive(0.9)(toFloat64(wait_s)) AS wait_s_p90"""
_ANSWERED = f"""FROM sqm.contacts FINAL
WHERE {TENANT} AND answered_at IS NOT NULL AND wait_s IS NOT NULL AND {in_period('answered_at')}"""


def sla_sql(keys: list[str]) -> str:
    """The counters and rates over the period, grouped by `keys` (expressions AS names)."""
    select, group = grouping(keys)
    inner = f"""SELECT {select}{_COUNTERS}
FROM sqm.sla_1m_total
WHERE {TENANT} AND {in_period('window_start')}
{group}"""
    return f"SELECT *, {_RATES} FROM ({inner})"


def waits_sql(keys: list[str]) -> str:
    select, group = grouping(keys)
    return f"SELECT {select}count() AS answered, {_WAITS} {_ANSWERED} {group}"


POLICY_SQL = f"""SELECT policy_version, count() AS contacts
FROM sqm.contacts FINAL
WHERE {TENANT} AND {in_period('created_at')}
GROUP BY policy_version ORDER BY contacts DESC, policy_version"""

# What the store holds, for the one line that says a period is empty.
HELD_SQL = f"""SELECT min(window_start) AS first, max(window_start) AS last, count() AS windows
FROM sqm.sla_1m_total WHERE {TENANT}"""
WINDOWS_SQL = f"SELECT count() AS windows FROM sqm.sla_1m_total WHERE {TENANT} AND " \
              f"{in_period('window_start')}"


class EmptyPeriod(ValueError):
    """No windows and no contacts in the period: the message is the one line to show."""


def collect(client: Any, scope: Scope, *, repeat_window_ms: int, goals: dict[str, Goal],
            indicators: dict[str, Indicator], generated_at: datetime) -> dict[str, Any]:
    """Every number of the report, as JSON-ready data (raises EmptyPeriod)."""
    policies = rows(client, POLICY_SQL, scope)
    [windows] = rows(client, WINDOWS_SQL, scope)
    if not policies and not windows["windows"]:
        raise EmptyPeriod(_empty_line(client, scope))
    hour, day = "toStartOfHour(window_start) AS hour", day_of("window_start")
    [total] = rows(client, sla_sql([]), scope)
    [total_waits] = rows(client, waits_sql([]), scope)
    return {
        "meta": {
            "period": {"start": iso(scope.start), "end": iso(scope.end)},
            "tenant": scope.tenant, "timezone": "UTC", "generated_at": iso(generated_at),
            "policy_versions": policies, "goals": list(goals),
            "repeat_window_ms": repeat_window_ms,
        },
        "summary": {**total, **{k: total_waits[k] for k in ("wait_s_p50", "wait_s_p90")}},
        "by_channel": _join(rows(client, sla_sql(["channel"]), scope),
                            rows(client, waits_sql(["channel"]), scope), "channel"),
        "sla_hourly": rows(client, sla_sql([hour, "channel"]), scope),
        "sla_hourly_total": rows(client, sla_sql([hour]), scope),
        "waits_hourly": rows(client, waits_sql(["toStartOfHour(answered_at) AS hour", "channel"]),
                             scope),
        "daily": rows(client, sla_sql([day, "channel"]), scope),
        "fcr": fcr_by_channel(client, scope, repeat_window_ms),
        **surveys(client, scope),
        "ratings": ratings(client, scope),
        **bot(client, scope),
        "scorecard": scorecards(client, scope, repeat_window_ms, goals, indicators),
        "alerts": alerts(client, scope),
    }


def _join(sla: list[dict[str, Any]], waits: list[dict[str, Any]], key: str
          ) -> list[dict[str, Any]]:
    """Per channel: the SLA counters with the wait percentiles of the same channel."""
    by_key = {w[key]: w for w in waits}
    return [{**s, "wait_s_p50": by_key.get(s[key], {}).get("wait_s_p50"),
             "wait_s_p90": by_key.get(s[key], {}).get("wait_s_p90")} for s in sla]


def _empty_line(client: Any, scope: Scope) -> str:
    who = f"tenant {scope.tenant}" if scope.tenant else "the store"
    span = f"{scope.start:%Y-%m-%d %H:%M} to {scope.end:%Y-%m-%d %H:%M} UTC"
    [held] = rows(client, HELD_SQL, scope)
    if not held["windows"]:
        return (f"no data for {who} from {span}: the store holds no SLA windows"
                + (f" for tenant {scope.tenant}" if scope.tenant else ""))
    return (f"no data for {who} from {span}: its SLA windows run from "
            f"{held['first'][:16].replace('T', ' ')} to {held['last'][:16].replace('T', ' ')} "
            "UTC (choose another --end or --period)")
