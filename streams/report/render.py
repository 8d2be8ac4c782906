"""The report as one self-contained HTML page: plotly.js inlined once, every chart drawn from
the report data, and that data embedded as JSON (`#sqm-report-data`) for checking."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from sqm.streams.report import figures, tables
from sqm.streams.report.cells import count, dur, esc, kpi, pct, two

Data = dict[str, Any]
Section = tuple[str, str, str, list[tuple[str, Callable[[Data], go.Figure | None]]],
                Callable[[Data], str]]

# id, title, what it shows and where it comes from, its charts, its table.
SECTIONS: list[Section] = [
    ("service", "Service level and answer times",
     "Service level = met / (met + missed) under the SLA policy, by the hour of the answer (or "
     "abandon). Answer time = queue to first human answer (real time); p50 and p90 are exact, "
     "by the hour of the answer.",
     [("service-level-hourly", figures.service_level_hourly),
      ("waits-hourly", figures.waits_hourly)], tables.service),
    ("abandonment", "Abandonment",
     "Abandonment = (abandoned − short abandons) / (answered + abandoned − short abandons), "
     "by the day of the answer or abandon; short abandons (under 5 s) are left out.",
     [("abandonment-daily", figures.abandonment_daily)], lambda d: ""),
    ("repeats", "Repeat contacts and first-contact resolution",
     "Repeat rate = contacts whose customer had another contact in the repeat window before, "
     "of the contacts created. FCR (the scorecard's) = resolved, never reopened, and no next "
     "contact within the repeat window after; provisional while that window has not passed.",
     [("repeat-daily", figures.repeat_daily), ("fcr-by-channel", figures.fcr_by_channel)],
     tables.repeats),
    ("surveys", "CSAT and service attitude",
     "The latest survey of each contact, by the time it was submitted: CSAT (1–5), the share "
     "of 4–5, the service-attitude ratings (1–5) and NPS.",
     [("csat-distribution", figures.csat_distribution),
      ("ratings-by-channel", figures.ratings_by_channel)], tables.surveys),
    ("bot", "Bot containment and escalations",
     "Contacts created in the period. Contained: resolved by the bot with no human message "
     "and no transfer to a human; containment = contained / resolved by the bot. Escalated: "
     "transferred to a human.",
     [("bot-daily", figures.bot_daily)], tables.bot),
    ("scorecard-teams", "Scorecard per team (queue)",
     "The evaluation scorecard (the same as `sqm scorecard --by queue`) over the contacts "
     "created in the period: each goal's weighted score, and each indicator as value, "
     "n = contacts behind it → its score (small: too few contacts, not scored).",
     [("scores-queue", figures.scores("queue"))], lambda d: tables.scorecard(d, "queue")),
    ("scorecard-agents", "Scorecard per agent",
     "As above per first answering agent (`sqm scorecard --by agent`); the answered rate is "
     "not per agent.",
     [("scores-agent", figures.scores("agent"))], lambda d: tables.scorecard(d, "agent")),
    ("alerts", "Alerts",
     "Every alert open at some time in the period (sqm.alerts FINAL): breaches and anomalies "
     "as bars from start to end, at-risk warnings as points.",
     [("alerts-timeline", figures.alerts_timeline)], tables.alerts),
]

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2733;
margin:0;background:#f5f7fa}
main{max-width:1240px;margin:0 auto;padding:24px}
header h1{margin:0 0 4px;font-size:26px}
header p{margin:2px 0;color:#4a5868}
section{background:#fff;border-radius:8px;padding:16px 20px;margin:18px 0;
box-shadow:0 1px 3px rgba(0,0,0,.08)}
section h2{margin:0 0 6px;font-size:19px}
p.intro{margin:0 0 10px;color:#4a5868;max-width:960px}
.kpis{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:12px;margin:18px 0}
.kpi{background:#fff;border-radius:8px;padding:12px 14px;box-shadow:0 1px 3px rgba(0,0,0,.08)}
.kpi .label{color:#4a5868;font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.kpi .value{font-size:24px;font-weight:600;margin-top:2px}
.kpi .note{color:#6b7a8c;font-size:12px}
.scroll{overflow-x:auto}
table{border-collapse:collapse;margin:8px 0;font-size:13px}
th,td{padding:4px 8px;border-bottom:1px solid #e3e8ee;text-align:left;vertical-align:top}
thead th{background:#eef2f6;position:sticky;top:0}
tfoot th,tfoot td{font-weight:600;border-top:2px solid #c9d2dc}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.ind .sub,th .sub{display:block;color:#6b7a8c;font-size:11px;font-weight:400}
td.entity{white-space:nowrap}
td.small,td.none{color:#8a96a3;font-style:italic}
.plot{margin:8px 0}
p.empty{color:#6b7a8c;font-style:italic}
footer{color:#6b7a8c;font-size:12px;margin:24px 0}
"""


def render(data: Data) -> str:
    meta = data["meta"]
    body = [_header(meta), _kpis(data)]
    for sid, title, intro, figs, table in SECTIONS:
        parts = [f'<section id="{sid}"><h2>{esc(title)}</h2><p class="intro">{esc(intro)}</p>']
        for name, build in figs:
            fig = build(data)
            parts.append(_plot(name, fig) if fig is not None else
                         f'<p class="empty" data-plot="{name}">Nothing to plot in the period.</p>')
        parts.append(table(data))
        body.append("".join(parts) + "</section>")
    body.append('<footer>Every number above is in the JSON block <code>#sqm-report-data</code> '
                "of this file, as read from ClickHouse; docs/report.md says which query gives "
                "each one. Times are UTC.</footer>")
    # "<" only occurs inside JSON strings: as \u003c no text can end or nest the script.
    blob = orjson.dumps(data).decode().replace("<", "\\u003c")
    title = f"Service quality report — {meta['tenant'] or 'all tenants'}"
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)}</title><style>{CSS}</style>"
            f'<script type="text/javascript">{get_plotlyjs()}</script></head><body><main>'
            + "".join(body)
            + f'<script type="application/json" id="sqm-report-data">{blob}</script>'
            + "</main></body></html>")


def _plot(name: str, fig: go.Figure) -> str:
    div = pio.to_html(fig, full_html=False, include_plotlyjs=False, div_id=f"plot-{name}",
                      config={"displaylogo": False, "responsive": True},
                      default_height=f"{fig.layout.height or 400}px")
    return f'<div class="plot" data-plot="{name}">{div}</div>'


def _header(meta: Data) -> str:
    p = meta["period"]
    versions = ", ".join(f"{v['policy_version']} ({v['contacts']:,} contacts)"
                         for v in meta["policy_versions"]) or "none (no contact created)"
    return (f"<header><h1>Service quality report — {esc(meta['tenant'] or 'all tenants')}</h1>"
            f'<p>Period <b id="period-start">{esc(_t(p["start"]))}</b> to '
            f'<b id="period-end">{esc(_t(p["end"]))}</b> UTC (end excluded)</p>'
            f'<p>SLA policy version: <b id="policy-version">{esc(versions)}</b></p>'
            f"<p>Generated {esc(_t(meta['generated_at']))} UTC by <code>sqm report</code></p>"
            "</header>")


def _t(text: str) -> str:
    return text[:16].replace("T", " ")


def _kpis(data: Data) -> str:
    s, b = data["summary"], data["bot"]["total"]
    opened = [a for a in data["alerts"] if a["kind"] != "at_risk"]
    risk = len(data["alerts"]) - len(opened)
    cards = [
        kpi("Service level", s["service_level"], pct, "summary.service_level",
            f"{s['sl_met']:,} met, {s['sl_missed']:,} missed"),
        kpi("Answer time p50", s["wait_s_p50"], dur, "summary.wait_s_p50",
            f"{s['answered']:,} answered"),
        kpi("Answer time p90", s["wait_s_p90"], dur, "summary.wait_s_p90"),
        kpi("Abandonment", s["abandon_rate"], pct, "summary.abandon_rate",
            f"{s['abandoned'] - s['short_abandoned']:,} abandoned (not short)"),
        kpi("Repeat contacts", s["repeat_rate"], pct, "summary.repeat_rate",
            f"of {s['created']:,} created"),
        kpi("CSAT", s["csat_mean"], two, "summary.csat_mean",
            f"{s['csat_count']:,} responses"),
        kpi("CSAT 4–5", s["csat_share"], pct, "summary.csat_share"),
        kpi("Bot contained", b["contained_share"], pct, "bot.total.contained_share",
            f"{b['bot_contained']:,} of {b['contacts']:,} contacts"),
        kpi("Escalated to a human", b["escalation_rate"], pct, "bot.total.escalation_rate",
            f"{b['escalated']:,} contacts"),
        kpi("Alerts", len(opened), count, "alerts.breach_anomaly",
            f"+ {risk:,} at-risk warnings"),
    ]
    return f'<div class="kpis">{"".join(cards)}</div>'
