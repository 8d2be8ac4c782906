"""Agent scorecard (uid `sqm-scorecard`): who answered what, how fast, how well.

Per agent (the first human to answer a contact), from `sqm.contacts FINAL` by answer time: the
answered count, mean wait, in-SLA share, CSAT, resolutions, reopens, median resolution time and
the service-attitude ratings. The weighted scores with targets and goals are `sqm scorecard`
(docs/scorecard.md).
"""

from __future__ import annotations

from sqm.dashboards.frame import new_dashboard
from sqm.dashboards.panels import grid, stat_panel, table_panel
from sqm.dashboards.query import ClickHouseQuery
from sqm.dashboards.sdk import db
from sqm.dashboards.sql import CONTACT_SCOPE

__all__ = ["UID", "build"]

UID = "sqm-scorecard"

_ANSWERED = f"""FROM sqm.contacts FINAL
WHERE $__timeFilter(answered_at)
  AND first_agent_id IS NOT NULL
  AND {CONTACT_SCOPE}"""

AGENT_COUNT = ClickHouseQuery(f"SELECT uniqExact(first_agent_id) AS agents\n{_ANSWERED}")
ANSWERED_COUNT = ClickHouseQuery(f"SELECT count() AS answered\n{_ANSWERED}")

AGENTS = ClickHouseQuery(
    f"""SELECT
    assumeNotNull(first_agent_id) AS agent_id,
    count() AS answered,
    round(avg(toFloat64(assumeNotNull(wait_s))), 1) AS mean_wait_s,
    round(100 * countIf(assumeNotNull(answered_in_sla)) / count(), 1) AS in_sla_pct,
    count(csat) AS csat_responses,
    round(avg(csat), 2) AS csat_mean,
    countIf(resolved_at IS NOT NULL) AS resolved,
    countIf(reopen_count > 0) AS reopened,
    quantileExactInclusiveIf(0.5)(toFloat64(assumeNotNull(resolution_s)),
                                  resolution_s IS NOT NULL) AS resolution_p50_s,
    if(countIf(mapContains(ratings, 'professionalism')) = 0, NULL,
       round(avgIf(ratings['professionalism'], mapContains(ratings, 'professionalism')), 2))
        AS professionalism_mean,
    if(countIf(mapContains(ratings, 'patience')) = 0, NULL,
       round(avgIf(ratings['patience'], mapContains(ratings, 'patience')), 2)) AS patience_mean
{_ANSWERED}
GROUP BY agent_id
ORDER BY answered DESC, agent_id"""
)


def build() -> db.Dashboard:
    board = new_dashboard(
        UID,
        "SQM · Agent scorecard",
        "Per agent: contacts answered first, mean wait, in-SLA share and CSAT.",
        time_from="now-7d",
    )
    panels = [
        stat_panel(
            1,
            "Agents",
            "Agents who answered a contact first in the range.",
            AGENT_COUNT,
            grid(0, 0, 6, 4),
            unit="short",
        ),
        stat_panel(
            2,
            "Contacts answered",
            "Contacts whose first human answer is in the range.",
            ANSWERED_COUNT,
            grid(6, 0, 6, 4),
            unit="short",
        ),
        table_panel(
            3,
            "Agents",
            "Mean wait to the first answer; in-SLA share of those answers; CSAT of the latest "
            "survey (mean over surveyed contacts); contacts resolved and reopened; median final "
            "resolution time; mean professionalism and patience ratings where rated.",
            AGENTS,
            grid(0, 4, 24, 14),
        ),
    ]
    for panel in panels:
        board.with_panel(panel)
    return board
