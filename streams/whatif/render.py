"""`sqm whatif`'s output: a table for people, CSV and JSON with every number.

Table: what was compared (period, both policies and where they came from, whether the current
side reproduces the stored rows), then one row per tenant, channel and queue, then the changed
contacts (the first `TABLE_CHANGES`; CSV, JSON and `--out` have them all).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from rich.console import Console

from sqm.streams.query import render
from sqm.streams.whatif.command import Result
from sqm.streams.whatif.compare import Changed, GroupRow, Totals

TABLE_CHANGES = 50
SHOW = ("all", "summary", "changes")


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def heading(r: Result) -> list[str]:
    """What was compared, in a few lines (the table's header and the HTML's)."""
    cur, new = r.sides
    lines = [
        f"what if: the {r.contacts:,} contacts with events from {iso(r.period.start_ms)} to "
        f"{iso(r.period.end_ms)} (and {r.recomputed - r.contacts:,} more that may be waiting at "
        f"its start), recomputed from their {r.events:,} stored events under two policies",
        f"current:  policy {cur.version!r}, {cur.source}; the version of the stored rows",
        f"proposed: policy {new.version!r}, {new.source}",
        check_line(r),
        "service level (met / (met + missed)) and misses by the minute of the answer or "
        "abandon, as sqm.sla_1m; at risk: contacts still waiting at "
        f"{cur.rules.at_risk.fraction:.0%} of their target, by that time; score: goal "
        f"{r.goal!r} over the contacts created in the period, as sqm scorecard",
    ]
    if r.invalid:
        lines.append(f"{r.invalid:,} stored events no longer validate and were left out")
    return lines


def check_line(r: Result) -> str:
    if not r.mismatched:
        return (f"check:    the current policy gives back the stored outcome, target and repeat "
                f"flag of all {r.contacts:,} contacts")
    return (f"check:    {r.mismatched:,} of {r.contacts:,} stored rows differ from the current "
            f"policy's recomputation (a policy file edited without a new version?), e.g. "
            f"{'; '.join(r.mismatches)}")


def summary_table(r: Result) -> tuple[list[str], list[list[Any]]]:
    names = ["tenant", "channel", "queue", "service level", "Δ", "missed", "at risk",
             f"score ({r.goal}, coverage)", "changed"]
    rows = []
    for g in r.rows:
        c, p = g.current, g.proposed
        rows.append([*g.key, f"{_pct(c.service_level)} → {_pct(p.service_level)}",
                     _delta(c, p), f"{c.missed:,} → {p.missed:,}",
                     f"{c.at_risk:,} → {p.at_risk:,}", f"{_score(c)} → {_score(p)}",
                     f"{g.changed:,}"])
    return names, rows


def summary_records(rows: list[GroupRow]) -> tuple[list[str], list[list[Any]]]:
    names = ["tenant_id", "channel", "queue"]
    for field in ("service_level", "met", "missed", "at_risk", "score", "coverage"):
        names += [f"{field}_current", f"{field}_proposed"]
    names.append("changed_contacts")
    out = []
    for g in rows:
        row: list[Any] = list(g.key)
        for c, p in ((g.current.service_level, g.proposed.service_level),
                     (g.current.met, g.proposed.met), (g.current.missed, g.proposed.missed),
                     (g.current.at_risk, g.proposed.at_risk), (g.current.score, g.proposed.score),
                     (g.current.coverage, g.proposed.coverage)):
            row += [_round(c), _round(p)]
        out.append([*row, g.changed])
    return names, out


def changes_records(changed: list[Changed]) -> tuple[list[str], list[list[Any]]]:
    names = ["tenant_id", "contact_id", "channel", "queue", "priority", "counted_at",
             "target_s_current", "target_s_proposed", "first_response_s_current",
             "first_response_s_proposed", "outcome_current", "outcome_proposed",
             "at_risk_current", "at_risk_proposed", "changes"]
    rows = []
    for c in changed:
        a, b = c.current, c.proposed
        rows.append([a.tenant_id, a.contact_id, a.channel, a.queue, a.priority,
                     iso(c.counted_at), a.sla_target_s, b.sla_target_s,
                     _seconds(a.first_response_ms), _seconds(b.first_response_ms),
                     a.sla_outcome, b.sla_outcome, c.at_risk[0], c.at_risk[1],
                     "; ".join(c.what)])
    return names, rows


def changes_table(changed: list[Changed]) -> tuple[list[str], list[list[Any]]]:
    names = ["tenant", "contact", "channel", "queue", "counted at (UTC)", "first response",
             "target", "what changed"]
    rows = []
    for c in changed:
        a, b = c.current, c.proposed
        first = _s(a.first_response_ms)
        if b.first_response_ms != a.first_response_ms:
            first += f" → {_s(b.first_response_ms)}"
        target = f"{a.sla_target_s} s"
        if b.sla_target_s != a.sla_target_s:
            target += f" → {b.sla_target_s} s"
        at = iso(c.counted_at)
        rows.append([a.tenant_id, a.contact_id, a.channel, a.queue,
                     at[:19].replace("T", " ") if at else "-", first, target,
                     "; ".join(c.what)])
    return names, rows


def as_json(r: Result) -> bytes:
    cur, new = r.sides
    s_names, s_rows = summary_records(r.rows)
    c_names, c_rows = changes_records(r.changed)
    doc = {
        "period": {"start": iso(r.period.start_ms), "end": iso(r.period.end_ms)},
        "current": {"version": cur.version, "source": cur.source},
        "proposed": {"version": new.version, "source": new.source},
        "goal": r.goal, "contacts": r.contacts, "recomputed": r.recomputed, "events": r.events,
        "invalid_events": r.invalid,
        "check": {"reproduced": not r.mismatched, "mismatched": r.mismatched,
                  "examples": r.mismatches},
        "summary": [dict(zip(s_names, row, strict=True)) for row in s_rows],
        "changes": [dict(zip(c_names, row, strict=True)) for row in c_rows],
    }
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2)


def show(r: Result, fmt: str, what: str, console: Console) -> None:
    if fmt == "json":
        console.file.write(as_json(r).decode() + "\n")  # as is: rich would re-wrap it
        return
    if fmt == "table":
        for line in heading(r):
            console.print(line, style="dim", highlight=False, markup=False)
    if what in ("all", "summary"):
        render(*(summary_table(r) if fmt == "table" else summary_records(r.rows)), fmt, console)
    if what == "all" and fmt == "csv":
        console.print()  # the two CSV tables are separated by one empty line
    if what in ("all", "changes"):
        if fmt == "table":
            names, rows = changes_table(r.changed)
            render(names, rows[:TABLE_CHANGES], fmt, console)
            if len(rows) > TABLE_CHANGES:
                console.print(f"… and {len(rows) - TABLE_CHANGES:,} more changed contacts "
                              "(--format csv or json, or --out FILE.html, lists them all)",
                              style="dim", highlight=False)
        else:
            render(*changes_records(r.changed), fmt, console)


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.1%}"


def _delta(c: Totals, p: Totals) -> str:
    if c.service_level is None or p.service_level is None:
        return "-"
    return f"{(p.service_level - c.service_level) * 100:+.1f} pp"


def _score(t: Totals) -> str:
    """As `sqm scorecard` shows it: the score and the share of the goal's weight scored."""
    return "-" if t.score is None else f"{t.score:.2f} ({t.coverage:.0%})"


def _s(ms: int | None) -> str:
    return "-" if ms is None else f"{ms / 1000:g} s"


def _seconds(ms: int | None) -> float | None:
    return None if ms is None else ms / 1000


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 4)
