"""The reading commands for people: `scorecard`, `whatif`, `staffing`, `report`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from sqm.streams.commands.base import (
    Command,
    ConfigOpt,
    Entity,
    FormatOpt,
    OutputFormat,
    StoreOpt,
    cli,
    err,
    guarded,
    out,
    settings_for,
)
from sqm.streams.config import ConfigError
from sqm.streams.whatif.cli import whatif
from sqm.streams.words import plural

if TYPE_CHECKING:
    pass


@cli.command(cls=Command)
@guarded
def scorecard(
    by: Annotated[Entity, typer.Option(help="What to score; a queue is a team.")] = Entity.agent,
    goal: Annotated[str, typer.Option(
        metavar="<goal>", help="satisfaction, efficiency, or a goal of the policy file.",
    )] = "satisfaction",
    period: Annotated[str, typer.Option(
        metavar="<length>", help="Length of the period: 24h, 7d, 30d ...")] = "7d",
    end: Annotated[str, typer.Option(
        metavar="<time>",
        help="End of the period: now, latest (newest event stored) or an RFC 3339 time.",
    )] = "now",
    store: StoreOpt = None,
    config: ConfigOpt = None,
    fmt: FormatOpt = OutputFormat.table,
    policy: Annotated[Path | None, typer.Option(
        metavar="<file>", help="Policy file whose `scorecard:` section sets targets, minimums "
        "and goals.", show_default="SQM_POLICY_FILE, else the defaults")] = None,
    save: Annotated[bool, typer.Option(
        help="Also store the scores in sqm.scorecard_scores (replacing this period's).")] = False,
) -> None:
    """Score agents, teams or channels on a goal, with every indicator behind each score."""
    from sqm.streams.core.policy_file import PolicyError, load_policy, scorecard_config
    from sqm.streams.query import render
    from sqm.streams.scorecard_report import (
        parse_period,
        period_bounds,
        rows_of,
        terminal_table,
        why_empty,
    )
    from sqm.streams.scorecard_report import scorecard as compute
    from sqm.streams.store import open_existing_store

    settings = settings_for(config, store)
    parse_period(period)  # a mistake is one line before the store is opened
    try:
        # --policy, else the workers' policy file (SQM_POLICY_FILE), else the defaults.
        rules = load_policy(policy) if policy else settings.policy()
    except PolicyError as exc:
        raise ConfigError(str(exc)) from None
    indicators, goals = scorecard_config(rules)
    if goal not in goals:
        raise ConfigError(f"--goal: {goal!r} is not one of {', '.join(goals)}")
    client = open_existing_store(settings)
    try:
        start, stop = period_bounds(client, period, end)
        scores = compute(client, by.value, goal, start, stop,
                         settings.repeat_window_ms(rules), goals, indicators)
        empty = None if scores else why_empty(client, by.value, start, stop)
        if save:
            from datetime import UTC, datetime

            from sqm.sinks.writer import ClickHouseWriter, RetryPolicy
            from sqm.streams.scorecard_report import score_rows

            rows = score_rows(scores, by.value, start, stop, rules.version, datetime.now(UTC))
            # A person is waiting: a short outage budget, not the pipeline's minutes.
            writer = ClickHouseWriter(client, retry=RetryPolicy(outage_s=10))
            writer.write({"scorecard_scores": rows})
    finally:
        client.close()
    if fmt is OutputFormat.table:
        out.print(f"goal {goal}: contacts created {start:%Y-%m-%d %H:%M} to {stop:%Y-%m-%d %H:%M}"
                  " UTC. Cells: value n=contacts → score (small: too few contacts, not scored);"
                  " score (share of the goal's weight scored).", style="dim")
        if scores:
            table, left_out = terminal_table(scores, by.value, out.width)
            out.print(table)
            note = plural(len(scores), by.value)
            if left_out:
                note += (f"; not shown at {out.width} columns: {', '.join(left_out)} (a wider "
                         "terminal shows them, --format csv or json has every indicator)")
            out.print(note, style="dim", highlight=False)
    else:
        render(*rows_of(scores, by.value), fmt.value, out)
    if empty:
        err.print(Text(empty, style="yellow"), soft_wrap=True)
    if save:
        err.print(f"saved {plural(len(scores), 'score')} to sqm.scorecard_scores", highlight=False)


cli.command(cls=Command)(guarded(whatif))  # options in streams/whatif/cli.py


@cli.command(cls=Command)
@guarded
def staffing(
    period: Annotated[str, typer.Option(
        metavar="<length>", help="Length of the period: 6h, 1d ...")] = "6h",
    end: Annotated[str, typer.Option(
        metavar="<time>",
        help="End of the period: now, latest (newest event stored) or an RFC 3339 time.",
    )] = "now",
    tenant: Annotated[str, typer.Option(
        metavar="<tenant>", help="Only this tenant.", show_default="all")] = "",
    goal: Annotated[float, typer.Option(
        help="Share to answer within the first-response target, between 0 and 1.")] = 0.8,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """Agents needed against agents handling, per 15 minutes and queue (Erlang C / A).

    Per interval, tenant, channel and queue; Erlang A where abandons give a patience
    (docs/staffing.md)."""
    from sqm.streams.query import render
    from sqm.streams.scorecard_report import parse_period, period_bounds
    from sqm.streams.staffing_report import COLUMNS, table_of
    from sqm.streams.staffing_report import staffing as compute
    from sqm.streams.store import open_existing_store

    if not 0.0 < goal < 1.0:
        raise ConfigError(f"--goal: {goal} is not strictly between 0 and 1")
    settings = settings_for(config, store)
    parse_period(period)  # a mistake is one line before the store is opened
    client = open_existing_store(settings)
    try:
        start, stop = period_bounds(client, period, end)
        rows = compute(client, start, stop, goal, tenant)
    finally:
        client.close()
    if fmt is OutputFormat.table:
        out.print(f"{goal:.0%} within the first-response target, intervals starting "
                  f"{start:%Y-%m-%d %H:%M} to {stop:%Y-%m-%d %H:%M} UTC. gap = actual − needed "
                  "by (A) Erlang A with the period's patience, else (C) Erlang C.",
                  style="dim", highlight=False)
        render(*table_of(rows), fmt.value, out)
    else:
        render(COLUMNS, [[r[c] for c in COLUMNS] for r in rows], fmt.value, out)


@cli.command(cls=Command)
@guarded
def report(
    store: StoreOpt = None,
    tenant: Annotated[str | None, typer.Option(
        metavar="<tenant>", help="Only this tenant.", show_default="all")] = None,
    period: Annotated[str, typer.Option(help="Length of the period: 24h, 7d, 30d ...")] = "7d",
    end: Annotated[str, typer.Option(
        help="End of the period: latest (newest event stored), now or an RFC 3339 time; "
             "rounded up to a whole hour.")] = "latest",
    out_file: Annotated[Path, typer.Option("--out", help="HTML file to write.")] = Path(
        "report.html"),
    config: ConfigOpt = None,
    policy: Annotated[Path | None, typer.Option(
        metavar="<file>", help="Policy file whose `scorecard:` section sets targets and goals.",
        show_default="SQM_POLICY_FILE, else contract v1's")] = None,
) -> None:
    """Write one self-contained HTML report of a period for managers (docs/report.md)."""
    from sqm.streams.report.command import run

    scope, size = run(settings_for(config, store), policy=policy, period=period, end=end,
                      tenant=tenant, out=out_file)
    out.print(f"wrote {out_file} ({size / 1e6:.1f} MB): {scope.tenant or 'all tenants'}, "
              f"{scope.start:%Y-%m-%d %H:%M} to {scope.end:%Y-%m-%d %H:%M} UTC", highlight=False,
              soft_wrap=True)
