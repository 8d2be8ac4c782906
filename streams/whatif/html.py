"""`sqm whatif --out FILE.html`: one self-contained page (plotly's JavaScript embedded, so it
opens offline): what was compared, a bar chart of the service level per queue under both
policies, the side-by-side table and every changed contact."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from sqm.streams.config import ConfigError
from sqm.streams.whatif.command import Result
from sqm.streams.whatif.compare import ALL
from sqm.streams.whatif.render import changes_table, heading, summary_table

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
p.note { color: #555; margin: .2em 0; font-size: .92em; }
table { border-collapse: collapse; margin: 1em 0; font-size: .9em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: left; }
th { background: #f3f3f3; }
tr.total td { font-weight: 600; background: #fafafa; }
"""


def write_html(r: Result, path: Path) -> None:
    cur, new = r.sides
    names, rows = summary_table(r)
    c_names, c_rows = changes_table(r.changed)
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>sqm whatif: {escape(cur.version)} vs {escape(new.version)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>What if: policy {escape(new.version)} instead of {escape(cur.version)}</h1>",
        *(f"<p class='note'>{escape(line)}</p>" for line in heading(r)),
        _figure(r),
        "<h2>Per tenant, channel and queue</h2>",
        _table(names, rows, totals=[row[1] == ALL for row in rows]),
        f"<h2>Contacts whose outcome changes ({len(c_rows):,})</h2>",
        _table(c_names, c_rows) if c_rows else "<p>None.</p>",
        "</body></html>",
    ]
    try:
        path.write_text("\n".join(parts), encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--out: cannot write {path}: {exc.strerror or exc}") from None


def _figure(r: Result) -> str:
    import plotly.graph_objects as go

    groups = [g for g in r.rows if g.key[1] != ALL]
    labels = [" / ".join(g.key) for g in groups]
    fig = go.Figure()
    for name, side in (("current", 0), ("proposed", 1)):
        levels = [(g.current, g.proposed)[side].service_level for g in groups]
        fig.add_bar(name=f"{name}: {r.sides[side].version}", x=labels,
                    y=[None if v is None else v * 100 for v in levels],
                    hovertemplate="%{x}<br>%{y:.1f}%<extra>" + name + "</extra>")
    fig.update_layout(barmode="group", title="Service level per queue, current vs proposed",
                      yaxis={"title": "service level (%)", "range": [0, 100]},
                      xaxis={"title": "tenant / channel / queue"}, height=480,
                      legend={"orientation": "h", "y": 1.02, "yanchor": "bottom",
                              "x": 1, "xanchor": "right"})
    html: str = fig.to_html(full_html=False, include_plotlyjs=True)
    return html


def _table(names: list[str], rows: list[list[Any]], totals: list[bool] | None = None) -> str:
    head = "".join(f"<th>{escape(n)}</th>" for n in names)
    body = []
    for i, row in enumerate(rows):
        cls = " class='total'" if totals and totals[i] else ""
        cells = "".join(f"<td>{escape('-' if v is None else str(v))}</td>" for v in row)
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
