"""The report's plotly charts, built from the report data only (never from ClickHouse), so a
chart can show nothing the data block does not hold. Each builder returns None when the period
has nothing to draw; times are UTC."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

Data = dict[str, Any]
CHANNEL_COLOURS = {"chat": "#1f77b4", "phone": "#2ca02c", "email": "#9467bd",
                   "social": "#e377c2", "app": "#ff7f0e"}
SEVERITY_COLOURS = {"critical": "#d62728", "warning": "#ff9f1c"}
# The legend sits above the plot area, never over it.
_LAYOUT: dict[str, Any] = {"template": "plotly_white",
                           "margin": {"l": 60, "r": 20, "t": 50, "b": 40},
                           "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0},
                           "hovermode": "x unified"}


def _days(data: Data) -> dict[str, Any]:
    """The axis of daily buckets: the period's 24 hours from its start (calendar days when it
    starts at midnight); each tick says when its bucket starts."""
    return {"title": "24 hours from (UTC)", "dtick": 86_400_000,
            "tick0": plotly_time(data["meta"]["period"]["start"]),
            "tickformat": "%a %d %b<br>%H:%M"}


def colour(channel: str) -> str:
    return CHANNEL_COLOURS.get(channel, "#7f7f7f")


def plotly_time(text: str) -> str:
    """RFC 3339 UTC as plotly's naive date string (plotly ignores offsets; the axes say UTC)."""
    return text.replace("T", " ").removesuffix("Z")


def _hours(data: Data) -> list[str]:
    """Every hour of the period, so a line breaks where a channel had nothing."""
    period = data["meta"]["period"]
    t = datetime.fromisoformat(period["start"]).replace(minute=0, second=0, microsecond=0)
    end = datetime.fromisoformat(period["end"])
    out = []
    while t < end:
        out.append(t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"))
        t += timedelta(hours=1)
    return out


def _channels(rows: list[Data]) -> list[str]:
    return sorted({r["channel"] for r in rows})


def _series(rows: list[Data], key: str, field: str, channel: str, grid: list[str]
            ) -> list[Any]:
    values = {plotly_time(r[key]): r[field] for r in rows if r["channel"] == channel}
    return [values.get(x) for x in grid]


def entity_order(r: Data) -> tuple[Any, ...]:
    """Tenant, then the entity in natural order (agent-2 before agent-10)."""
    parts = re.split(r"(\d+)", r["entity"])
    return (r["tenant_id"], *((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts))


def service_level_hourly(data: Data) -> go.Figure | None:
    """A heat map: one row per channel and one for all channels, one column per hour."""
    rows = data["sla_hourly"]
    if not rows:
        return None
    grid, channels = _hours(data), _channels(rows)
    total = [{**r, "channel": "all channels"} for r in data["sla_hourly_total"]]
    names = ["all channels", *channels]
    source = {"all channels": total, **{ch: rows for ch in channels}}
    z, met, missed = [], [], []
    for name in names:
        z.append(_series(source[name], "hour", "service_level", name, grid))
        met.append(_series(source[name], "hour", "sl_met", name, grid))
        missed.append(_series(source[name], "hour", "sl_missed", name, grid))
    custom = [[[m, x] for m, x in zip(a, b, strict=True)] for a, b in zip(met, missed,
                                                                           strict=True)]
    fig = go.Figure(go.Heatmap(
        x=grid, y=names, z=z, customdata=custom, zmin=0, zmax=1, xgap=1, ygap=2,
        colorscale=[[0, "#d62728"], [0.5, "#ffdd57"], [0.8, "#a6d96a"], [1, "#1a9641"]],
        colorbar={"tickformat": ".0%", "title": {"text": "SL"}, "len": 0.9},
        hovertemplate="%{y}, %{x}: %{z:.1%} (%{customdata[0]} met, %{customdata[1]} missed)"
                      "<extra></extra>"))
    fig.update_layout(**{**_LAYOUT, "hovermode": "closest"}, height=110 + 34 * len(names),
                      yaxis={"autorange": "reversed"}, xaxis={"title": "hour (UTC)"},
                      plot_bgcolor="#eceff3")
    return fig


def _unit(seconds: float) -> tuple[str, float]:
    if seconds >= 2 * 3600:
        return "h", 3600.0
    if seconds >= 180:
        return "min", 60.0
    return "s", 1.0


def waits_hourly(data: Data) -> go.Figure | None:
    rows = data["waits_hourly"]
    if not rows:
        return None
    grid, channels = _hours(data), _channels(rows)
    fig = make_subplots(rows=len(channels), cols=1, shared_xaxes=True, vertical_spacing=0.04,
                        subplot_titles=channels)
    for i, ch in enumerate(channels, start=1):
        top = max(r["wait_s_p90"] for r in rows if r["channel"] == ch)
        unit, div = _unit(top)
        for field, dash in (("wait_s_p50", "solid"), ("wait_s_p90", "dot")):
            raw = _series(rows, "hour", field, ch, grid)
            # The raw seconds ride along as customdata: what the data block holds.
            fig.add_scatter(x=grid, y=[None if v is None else v / div for v in raw],
                            customdata=raw, name=f"{ch} {field[-3:]}", mode="lines+markers",
                            marker={"size": 3},
                            line={"color": colour(ch), "dash": dash}, row=i, col=1,
                            showlegend=False,
                            hovertemplate=f"{field[-3:]} %{{y:.3g}} {unit}<extra>{ch}</extra>")
        fig.update_yaxes(title_text=unit, rangemode="tozero", row=i, col=1)
    for field, dash in (("p50", "solid"), ("p90", "dot")):  # the legend: line style only
        fig.add_scatter(x=[None], y=[None], name=field, mode="lines",
                        line={"color": "#4a5868", "dash": dash}, row=1, col=1)
    fig.update_layout(**{**_LAYOUT, "hovermode": "closest"}, height=150 + 150 * len(channels))
    fig.update_xaxes(title_text="hour (UTC)", row=len(channels), col=1)
    return fig


def _daily_lines(data: Data, field: str, title: str) -> go.Figure | None:
    rows = data["daily"]
    if not rows:
        return None
    fig = go.Figure()
    for ch in _channels(rows):
        mine = [r for r in rows if r["channel"] == ch]
        fig.add_scatter(x=[plotly_time(r["day"]) for r in mine], y=[r[field] for r in mine],
                        name=ch,
                        mode="lines+markers", line={"color": colour(ch)},
                        hovertemplate="%{y:.1%}")
    fig.update_layout(**_LAYOUT, height=320, yaxis={"tickformat": ".0%", "title": title,
                                                    "rangemode": "tozero"},
                      xaxis=_days(data))
    return fig


def abandonment_daily(data: Data) -> go.Figure | None:
    return _daily_lines(data, "abandon_rate", "abandonment")


def repeat_daily(data: Data) -> go.Figure | None:
    return _daily_lines(data, "repeat_rate", "repeat-contact rate")


def fcr_by_channel(data: Data) -> go.Figure | None:
    rows = data["fcr"]
    if not rows:
        return None
    fig = go.Figure()
    for tenant in sorted({r["tenant_id"] for r in rows}):
        mine = [r for r in rows if r["tenant_id"] == tenant]
        fig.add_bar(x=[r["channel"] for r in mine], y=[r["fcr_rate"] for r in mine],
                    name=tenant, hovertemplate="%{y:.1%}")
    fig.update_layout(**_LAYOUT, height=320, barmode="group",
                      yaxis={"tickformat": ".0%", "range": [0, 1], "title": "FCR"})
    return fig


def csat_distribution(data: Data) -> go.Figure | None:
    rows = data["csat_distribution"]
    if not rows:
        return None
    channels = _channels(rows)
    totals = {ch: sum(r["responses"] for r in rows if r["channel"] == ch) for ch in channels}
    palette = {1: "#d62728", 2: "#ff7f0e", 3: "#bcbd22", 4: "#8fd175", 5: "#2ca02c"}
    fig = go.Figure()
    for score in range(1, 6):
        counts = {r["channel"]: r["responses"] for r in rows if r["csat"] == score}
        fig.add_bar(y=channels, x=[counts.get(ch, 0) / totals[ch] for ch in channels],
                    customdata=[counts.get(ch, 0) for ch in channels], name=f"CSAT {score}",
                    orientation="h", marker={"color": palette[score]},
                    hovertemplate="%{x:.1%} (%{customdata})")
    fig.update_layout(**{**_LAYOUT, "hovermode": "y unified",
                         "legend": {**_LAYOUT["legend"], "traceorder": "normal"}},
                      height=120 + 45 * len(channels), barmode="stack",
                      xaxis={"tickformat": ".0%", "range": [0, 1]})
    return fig


def ratings_by_channel(data: Data) -> go.Figure | None:
    rows = data["ratings"]["by_channel"]
    if not rows:
        return None
    fig = go.Figure()
    for dim in sorted({r["dimension"] for r in rows}):
        mine = [r for r in rows if r["dimension"] == dim]
        fig.add_bar(x=[r["channel"] for r in mine], y=[r["mean"] for r in mine], name=dim,
                    hovertemplate="%{y:.2f}")
    fig.update_layout(**_LAYOUT, height=320, barmode="group",
                      yaxis={"range": [1, 5], "title": "mean rating (1–5)"})
    return fig


def bot_daily(data: Data) -> go.Figure | None:
    rows = data["bot"]["daily"]
    if not rows:
        return None
    fig = go.Figure()
    days = [plotly_time(r["day"]) for r in rows]
    fig.add_bar(x=days, y=[r["bot_contained"] for r in rows],
                name="contained by the bot", marker={"color": "#17becf"})
    fig.add_bar(x=days, y=[r["escalated"] for r in rows],
                name="escalated to a human", marker={"color": "#ff7f0e"})
    fig.update_layout(**_LAYOUT, height=320, barmode="group",
                      yaxis={"title": "contacts created"}, xaxis=_days(data))
    return fig


def scores(kind: str) -> Callable[[Data], go.Figure | None]:
    def build(data: Data) -> go.Figure | None:
        rows = sorted(data["scorecard"][kind], key=entity_order)
        if not rows:
            return None
        labels = [f"{r['tenant_id']} · {r['entity'] or '(none)'}" for r in rows]
        fig = go.Figure()
        for goal in data["meta"]["goals"]:
            fig.add_bar(y=labels, x=[r["scores"][goal]["score"] for r in rows], name=goal,
                        orientation="h", hovertemplate="%{x:.2f}")
        fig.update_layout(**{**_LAYOUT, "hovermode": "y unified"}, barmode="group",
                          height=120 + 14 * len(data["meta"]["goals"]) * len(rows),
                          xaxis={"range": [0, 1], "title": "score"},
                          yaxis={"autorange": "reversed"})
        return fig

    return build


def alert_row(a: Data, several_tenants: bool) -> str:
    """The timeline row of an alert: its rule and scope; at-risk warnings one row per queue."""
    if a["kind"] == "at_risk":
        where = [a["tenant_id"]] if several_tenants else []
        return " · ".join(["at risk", *where, a["channel"] or "any channel"])
    scope = [a[k] for k in ("tenant_id", "channel", "queue", "priority", "agent_id") if a[k]]
    return " · ".join([a["rule_id"], *(scope or ["everywhere"])])


def alerts_timeline(data: Data) -> go.Figure | None:
    alerts = data["alerts"]
    if not alerts:
        return None
    end = plotly_time(data["meta"]["period"]["end"])
    several = len({a["tenant_id"] for a in alerts}) > 1
    groups: dict[tuple[str, str], list[Data]] = {}
    for a in alerts:
        groups.setdefault((a["kind"], a["severity"]), []).append(a)
    fig = go.Figure()
    for (kind, severity), mine in sorted(groups.items()):
        x: list[str | None] = []
        y: list[str | None] = []
        for a in mine:
            row = alert_row(a, several)
            stop = plotly_time(a["ended_at"]) if a["ended_at"] else end  # still firing
            x += [plotly_time(a["started_at"]), stop, None]
            y += [row, row, None]
        point = kind == "at_risk"  # minutes long: a week-wide line would not show
        fig.add_scatter(x=x, y=y, name=f"{kind.replace('_', '-')} ({severity})",
                        mode="markers" if point else "lines+markers",
                        marker={"color": SEVERITY_COLOURS.get(severity, "#7f7f7f"),
                                "size": 6 if point else 9, "opacity": 0.6 if point else 1},
                        line={"width": 10}, hovertemplate="%{x}<extra>%{y}</extra>")
    # Breaches and anomalies on top, then the at-risk rows.
    rows = sorted({(a["kind"] == "at_risk", alert_row(a, several)) for a in alerts})
    period = data["meta"]["period"]
    fig.update_layout(**{**_LAYOUT, "hovermode": "closest"}, height=140 + 24 * len(rows),
                      xaxis={"title": "UTC", "range": [plotly_time(period["start"]), end]},
                      yaxis={"categoryorder": "array", "autorange": "reversed",
                             "categoryarray": [r for _, r in rows]})
    return fig
