"""Surveys, service-attitude ratings, the bot and the alerts of the period, from
`sqm.contacts FINAL` and `sqm.alerts FINAL` (definitions: docs/metrics.md, docs/report.md)."""

from __future__ import annotations

from typing import Any

from sqm.streams.report.sql import END, START, TENANT, Scope, day_of, grouping, in_period, rows

# Surveys count by the time of the latest survey, as the CSAT counters of `sqm.sla_1m` do.
_SURVEYED = f"""FROM sqm.contacts FINAL
WHERE {TENANT} AND surveyed_at IS NOT NULL AND {in_period('surveyed_at')}"""

CSAT_DISTRIBUTION_SQL = f"""SELECT channel, csat, count() AS responses
{_SURVEYED} AND csat IS NOT NULL
GROUP BY channel, csat ORDER BY channel, csat"""

# NPS = 100 × (promoters − detractors) / responses (docs/metrics.md).
_NPS = """countIf(nps IS NOT NULL) AS nps_responses, countIf(nps >= 9) AS promoters,
    countIf(nps <= 6) AS detractors,
    100 * (promoters - detractors) / nullIf(nps_responses, 0) AS nps_score"""


def nps_sql(by_channel: bool) -> str:
    key = "channel, " if by_channel else ""
    group = "GROUP BY channel ORDER BY channel" if by_channel else ""
    return f"SELECT {key}{_NPS} {_SURVEYED} {group}"


# Every dimension present in `ratings` (professionalism, patience, ...), where rated.
def ratings_sql(by_channel: bool) -> str:
    key = "channel, " if by_channel else ""
    return f"""SELECT {key}dimension, count() AS rated, avg(toFloat64(ratings[dimension])) AS mean
FROM sqm.contacts FINAL
ARRAY JOIN mapKeys(ratings) AS dimension
WHERE {TENANT} AND surveyed_at IS NOT NULL AND {in_period('surveyed_at')}
GROUP BY {key}dimension ORDER BY {key}dimension"""

# Bot containment and escalations over the contacts created in the period. Containment is
# docs/metrics.md's: contained / resolved by a bot; the shares are of all contacts created.
_BOT = """count() AS contacts, countIf(resolved_by = 'bot') AS bot_resolved,
    countIf(bot_contained) AS bot_contained,
    bot_contained / nullIf(bot_resolved, 0) AS containment,
    bot_contained / nullIf(contacts, 0) AS contained_share,
    countIf(transferred_to_human) AS escalated,
    escalated / nullIf(contacts, 0) AS escalation_rate"""


def bot_sql(keys: list[str]) -> str:
    select, group = grouping(keys)
    return f"""SELECT {select}{_BOT}
FROM sqm.contacts FINAL WHERE {TENANT} AND {in_period('created_at')} {group}"""


# Alerts that were open at any time in the period; a tenant's report also shows the alerts
# scoped to no tenant (tenant_id '').
ALERTS_SQL = f"""SELECT alert_id, rule_id, kind, severity, state, metric, tenant_id, channel,
    queue, priority, agent_id, contact_id, value, threshold, started_at, ended_at, message
FROM sqm.alerts FINAL
WHERE ({{tenant:String}} = '' OR tenant_id IN ({{tenant:String}}, ''))
  AND started_at < {END} AND (ended_at IS NULL OR ended_at > {START})
ORDER BY started_at, alert_id"""


def surveys(client: Any, scope: Scope) -> dict[str, Any]:
    [nps] = rows(client, nps_sql(False), scope)
    return {"csat_distribution": rows(client, CSAT_DISTRIBUTION_SQL, scope),
            "nps": {"total": nps, "by_channel": rows(client, nps_sql(True), scope)}}


def ratings(client: Any, scope: Scope) -> dict[str, list[dict[str, Any]]]:
    return {"total": rows(client, ratings_sql(False), scope),
            "by_channel": rows(client, ratings_sql(True), scope)}


def bot(client: Any, scope: Scope) -> dict[str, Any]:
    [total] = rows(client, bot_sql([]), scope)
    return {"bot": {"total": total, "by_channel": rows(client, bot_sql(["channel"]), scope),
                    "daily": rows(client, bot_sql([day_of("created_at")]), scope)}}


def alerts(client: Any, scope: Scope) -> list[dict[str, Any]]:
    return rows(client, ALERTS_SQL, scope)
