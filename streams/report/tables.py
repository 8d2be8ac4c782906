"""The report's tables, one builder per section, from the report data only."""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson

from sqm.streams.report.cells import count, dur, esc, num, pct, table, text, two
from sqm.streams.report.figures import entity_order

Data = dict[str, Any]
# Shares, shown as percentages; the other unitless indicators are means on a 1–5 scale.
RATES = {"response_in_sla", "answered_rate", "fcr_rate", "repeat_rate", "csat_share"}


def service(data: Data) -> str:
    head = ["channel", "offered", "answered", "service level", "avg answer time",
            "p50 answer time", "p90 answer time", "abandoned", "short abandons", "abandonment"]

    def cells(r: Data) -> str:
        return (num(r["offered"], count) + num(r["answered"], count)
                + num(r["service_level"], pct) + num(r["wait_s_avg"], dur)
                + num(r["wait_s_p50"], dur) + num(r["wait_s_p90"], dur)
                + num(r["abandoned"], count) + num(r["short_abandoned"], count)
                + num(r["abandon_rate"], pct))

    body = [text(r["channel"]) + cells(r) for r in data["by_channel"]]
    return table(head, body, table_id="t-service",
                 foot=["<th>all channels</th>" + cells(data["summary"])])


def repeats(data: Data) -> str:
    head = ["tenant", "channel", "contacts created", "repeat rate", "FCR",
            "FCR provisional"]
    body = [text(r["tenant_id"]) + text(r["channel"]) + num(r["contacts"], count)
            + num(r["repeat_rate"], pct) + num(r["fcr_rate"], pct)
            + num(r["fcr_provisional"], count) for r in data["fcr"]]
    return table(head, body, table_id="t-fcr")


def surveys(data: Data) -> str:
    dims = [r["dimension"] for r in data["ratings"]["total"]]
    head = ["channel", "responses", "CSAT mean", "CSAT 4–5", *dims, "NPS", "NPS responses"]
    ratings = {(r["channel"], r["dimension"]): r for r in data["ratings"]["by_channel"]}
    nps = {r["channel"]: r for r in data["nps"]["by_channel"]}

    def cells(r: Data, rated: dict[str, Data], n: Data | None) -> str:
        out = (num(r["csat_count"], count) + num(r["csat_mean"], two)
               + num(r["csat_share"], pct))
        for d in dims:
            got = rated.get(d)
            out += num(got["mean"] if got else None, two,
                       title=f"{got['rated']} rated" if got else None)
        return out + num(n["nps_score"] if n else None, lambda v: f"{v:+.0f}") \
            + num(n["nps_responses"] if n else None, count)

    body = [text(r["channel"]) + cells(
        r, {d: ratings[(r["channel"], d)] for d in dims if (r["channel"], d) in ratings},
        nps.get(r["channel"])) for r in data["by_channel"]]
    total = cells(data["summary"], {r["dimension"]: r for r in data["ratings"]["total"]},
                  data["nps"]["total"])
    return table(head, body, table_id="t-surveys", foot=["<th>all channels</th>" + total])


def bot(data: Data) -> str:
    head = ["channel", "contacts created", "resolved by the bot", "contained",
            "containment", "contained share", "escalated to a human", "escalation rate"]

    def cells(r: Data) -> str:
        return (num(r["contacts"], count) + num(r["bot_resolved"], count)
                + num(r["bot_contained"], count) + num(r["containment"], pct)
                + num(r["contained_share"], pct) + num(r["escalated"], count)
                + num(r["escalation_rate"], pct))

    body = [text(r["channel"]) + cells(r) for r in data["bot"]["by_channel"]]
    return table(head, body, table_id="t-bot",
                 foot=["<th>all channels</th>" + cells(data["bot"]["total"])])


def _indicator(name: str, ind: Data | None) -> str:
    if ind is None:
        return '<td class="num na">–</td>'
    v = ind["value"]
    shown = "–" if v is None else (dur(v) if ind["unit"] == "s" else
                                   pct(v) if name in RATES else two(v))
    tail = two(ind["score"]) if ind["score"] is not None else ind["status"]
    raw = esc(orjson.dumps(v).decode())
    return (f'<td class="num ind {esc(ind["status"])}" data-v="{raw}" data-n="{ind["n"]}">'
            f'{esc(shown)}<span class="sub">n={ind["n"]:,} → {esc(tail)}</span></td>')


LABELS = {"first_response_s": "first response", "response_in_sla": "in SLA",
          "answered_rate": "answered", "fcr_rate": "FCR", "resolution_s": "resolution time",
          "repeat_rate": "repeat rate", "csat_share": "CSAT 4–5", "csat_mean": "CSAT mean"}


def scorecard(data: Data, kind: str) -> str:
    rows = sorted(data["scorecard"][kind], key=entity_order)
    goals = data["meta"]["goals"]
    if not rows:
        return '<p class="empty">No contact created in the period.</p>'
    # The indicators behind the scores: those some goal weights, with their weights.
    weights = {g: rows[0]["scores"][g]["weights"] for g in goals}
    names = [n for n in rows[0]["indicators"] if any(n in w for w in weights.values())]
    head = ["tenant", "team (queue)" if kind == "queue" else "agent",
            *(f"{g} score" for g in goals)]
    head += [LABELS.get(n, n) + "\n" + ", ".join(f"{g} ×{weights[g][n]:g}" for g in goals
                                                  if n in weights[g]) for n in names]
    body = []
    for r in rows:
        cells = text(r["tenant_id"]) + f'<td class="entity">{esc(r["entity"] or "(none)")}</td>'
        for g in goals:
            s = r["scores"][g]
            cells += num(s["score"], two, title=f"coverage {s['coverage']:.0%}")
        cells += "".join(_indicator(n, r["indicators"].get(n)) for n in names)
        body.append(cells)
    return table(head, body, table_id=f"t-score-{kind}")


def _scope(a: Data) -> str:
    return " · ".join(a[k] for k in ("tenant_id", "channel", "queue", "priority", "agent_id")
                      if a[k]) or "everywhere"


def alerts(data: Data) -> str:
    shown = [a for a in data["alerts"] if a["kind"] != "at_risk"]
    head = ["started (UTC)", "ended (UTC)", "rule", "kind", "severity", "state", "scope",
            "value", "threshold", "message"]
    body = [text(a["started_at"][:16].replace("T", " "))
            + text((a["ended_at"] or "still open")[:16].replace("T", " "))
            + text(a["rule_id"]) + text(a["kind"]) + text(a["severity"]) + text(a["state"])
            + text(_scope(a)) + num(a["value"], lambda v: f"{v:.4g}")
            + num(a["threshold"], lambda v: f"{v:.4g}") + text(a["message"]) for a in shown]
    out = table(head, body, table_id="t-alerts") if shown else \
        '<p class="empty">No breach or anomaly alert was open in the period.</p>'
    return out + _at_risk(data)


def _at_risk(data: Data) -> str:
    """At-risk warnings counted per tenant and channel (rows) and queue (columns)."""
    counts = Counter((a["tenant_id"], a["channel"], a["queue"])
                     for a in data["alerts"] if a["kind"] == "at_risk")
    if not counts:
        return ""
    queues = sorted({q for _, _, q in counts})
    body = []
    for t, c in sorted({(t, c) for t, c, _ in counts}):
        row = [counts.get((t, c, q), 0) for q in queues]
        body.append(text(t) + text(c) + "".join(num(n, count) for n in row)
                    + num(sum(row), count))
    return ("<h3>At-risk warnings: contacts waiting past 80 % of their target</h3>"
            + table(["tenant", "channel", *(q or "(no queue)" for q in queues), "all queues"],
                    body, table_id="t-at-risk"))
