"""The `sqm` command line. Errors a person sees are one line, never a traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from streams.config import ConfigError, Settings, load_settings
from streams.whatif.cli import whatif

if TYPE_CHECKING:
    from streams.replay import ReplaySummary

cli = typer.Typer(
    help="Service Quality Monitor: real-time SLA and quality metrics for customer service.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
)
err = Console(stderr=True)
out = Console()

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="YAML settings file (also SQM_CONFIG).")
]
StoreOpt = Annotated[
    Path | None,
    typer.Option("--store", help="chDB data directory (sets SQM_CLICKHOUSE_URL=chdb://DIR)."),
]

PolicyOpt = Annotated[
    Path | None,
    typer.Option("--policy", help="SLA policy YAML (docs/policies.md; also SQM_POLICY_FILE)."),
]


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def settings_for(config: Path | None, store: Path | None = None, *, policy: Path | None = None,
                 **overrides: object) -> Settings:
    """Validated settings; with `policy` (or SQM_POLICY_FILE) the policy file is validated now
    too, so a mistake is one line before anything starts."""
    from streams.logs import setup_logging

    if store is not None:
        overrides["clickhouse_url"] = f"chdb://{store.expanduser().resolve()}"
    if policy is not None:
        overrides["policy_file"] = policy
    try:
        settings = load_settings(config, **overrides)
        if settings.policy_file is not None:
            settings.shard_config()
    except ConfigError as exc:
        raise fail(str(exc)) from None
    setup_logging(settings.log_level, settings.log_format)
    return settings


def _run_guarded(fn: typer.models.CommandFunctionType) -> typer.models.CommandFunctionType:
    """Turn expected failures (broker, store, config) into one line and exit code 1."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: object, **kwargs: object) -> object:
        from clickhouse_connect.driver.exceptions import ClickHouseError

        from sinks.clickhouse import StoreError
        from sinks.migrations import MigrationError
        from sinks.writer import SinkError
        from streams.broker import BrokerError
        from streams.replay import ReplayError

        try:
            return fn(*args, **kwargs)
        except ClickHouseError as exc:
            # The server's message is long and multi-line; its first sentence says what is wrong.
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise fail(f"ClickHouse: {first[:300]}") from None
        except (BrokerError, StoreError, MigrationError, SinkError, ReplayError,
                ConfigError) as exc:
            raise fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None

    return wrapper  # type: ignore[return-value]


@cli.command()
@_run_guarded
def replay(
    events: Annotated[Path, typer.Argument(help="JSON Lines file, one event per line.")],
    store: StoreOpt = None,
    reset: Annotated[bool, typer.Option(help="Empty the store first if it holds data.")] = False,
    config: ConfigOpt = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    policy: PolicyOpt = None,
    engine: Annotated[str, typer.Option(
        help="direct: the pipeline's stages in this process, straight from the file (fast); "
             "faust: through the embedded broker and the Faust agents, as a live worker.",
    )] = "direct",
) -> None:
    """Replay a file of events through the pipeline into a ClickHouse store."""

    if engine not in ("direct", "faust"):
        raise fail(f"--engine: {engine!r} is not one of direct, faust")
    if not events.is_file():
        raise fail(f"no such file: {events}")
    # History replays on the event clock: the same alerts at the same event times as live.
    settings = settings_for(config, store, policy=policy, alert_clock="event")
    summary: list[ReplaySummary] = []

    def refuse_non_empty(client: object, _bootstrap: str) -> None:
        n = int(client.command("SELECT count() FROM sqm.events"))  # type: ignore[attr-defined]
        if n and not reset:
            raise fail(
                f"the store already holds {n:,} events from an earlier run; "
                "use another --store or pass --reset to empty it"
            )

    if engine == "direct":
        code = _replay_direct(settings, events, reset, progress, refuse_non_empty, summary)
    else:
        from streams.replay import replay as run_replay
        from streams.runtime import run_pipeline

        async def main(pipeline: object) -> int:
            summary.append(await run_replay(pipeline, events, show_progress=progress))  # type: ignore[arg-type]
            return 0

        code = run_pipeline(settings, main, reset_store=reset, before_start=refuse_non_empty)
    if summary:
        out.print(summary[0].line(), highlight=False, soft_wrap=True)
        store_dir = settings.store_dir()
        if store_dir is not None:
            out.print(f"store: {store_dir}  (query: sqm sql --store {store_dir} \"SELECT ...\")",
                      highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _replay_direct(settings: Settings, events: Path, reset: bool, progress: bool,
                   before: Callable[[object, str], None], summary: list[ReplaySummary]) -> int:
    import asyncio

    from streams.app_config import load_alert_config
    from streams.direct import replay_direct
    from streams.store import open_store

    client = open_store(settings, reset=reset)
    try:
        before(client, "")
        summary.append(asyncio.run(replay_direct(
            settings, client, load_alert_config(settings), events, show_progress=progress)))
    finally:
        client.close()
    return 0


@cli.command()
@_run_guarded
def sql(
    query: Annotated[str, typer.Argument(help="SQL, e.g. \"SELECT * FROM sqm.contacts FINAL\".")],
    store: StoreOpt = None,
    config: ConfigOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
) -> None:
    """Run a query against the store and print the result."""
    from streams.query import print_query

    settings = settings_for(config, store)
    print_query(settings, query, fmt, out)


@cli.command()
@_run_guarded
def scorecard(
    by: Annotated[str, typer.Option(help="agent, queue (a team) or channel.")] = "agent",
    goal: Annotated[str, typer.Option(
        help="satisfaction, efficiency, or a goal of the policy file.")] = "satisfaction",
    period: Annotated[str, typer.Option(help="Length of the period: 24h, 7d, 30d ...")] = "7d",
    end: Annotated[str, typer.Option(
        help="End of the period: now, latest (newest event stored) or an RFC 3339 time.")] = "now",
    store: StoreOpt = None,
    config: ConfigOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
    policy: Annotated[Path | None, typer.Option(
        help="Policy file whose `scorecard:` section sets targets, minimums and goals.")] = None,
    save: Annotated[bool, typer.Option(
        help="Also store the scores in sqm.scorecard_scores (replacing this period's).")] = False,
) -> None:
    """Score agents, teams or channels on a goal, with every indicator behind each score."""
    from sinks.clickhouse import connect
    from sinks.migrations import pending
    from streams.config import ConfigError
    from streams.core.policy_file import PolicyError, load_policy, scorecard_config
    from streams.query import render
    from streams.scorecard_report import ENTITIES, period_bounds, rows_of, table_of
    from streams.scorecard_report import scorecard as compute
    from streams.store import store_url

    if by not in ENTITIES:
        raise ConfigError(f"--by: {by!r} is not one of {', '.join(ENTITIES)}")
    settings = settings_for(config, store)
    try:
        # --policy, else the workers' policy file (SQM_POLICY_FILE), else the defaults.
        rules = load_policy(policy) if policy else settings.policy()
    except PolicyError as exc:
        raise ConfigError(str(exc)) from None
    indicators, goals = scorecard_config(rules)
    if goal not in goals:
        raise ConfigError(f"--goal: {goal!r} is not one of {', '.join(goals)}")
    client = connect(store_url(settings))
    try:
        if missing := pending(client):
            raise ConfigError(f"the store lacks schema migrations {', '.join(missing)}: run "
                              "`sqm migrate` with the same --store/--config first")
        start, stop = period_bounds(client, period, end)
        scores = compute(client, by, goal, start, stop,
                         settings.repeat_window_ms(rules), goals, indicators)
        if save:
            from datetime import UTC, datetime

            from sinks.writer import ClickHouseWriter
            from streams.scorecard_report import score_rows

            rows = score_rows(scores, by, start, stop, rules.version, datetime.now(UTC))
            ClickHouseWriter(client).write({"scorecard_scores": rows})
    finally:
        client.close()
    if fmt == "table":
        out.print(f"goal {goal}: contacts created {start:%Y-%m-%d %H:%M} to {stop:%Y-%m-%d %H:%M}"
                  " UTC. Cells: value n=contacts → score (small: too few contacts, not scored);"
                  " score (share of the goal's weight scored).", style="dim")
        render(*table_of(scores, by), fmt, out)
    else:
        render(*rows_of(scores, by), fmt, out)
    if save:
        err.print(f"saved {len(scores)} scores to sqm.scorecard_scores", highlight=False)


cli.command()(_run_guarded(whatif))  # options in streams/whatif/cli.py


@cli.command()
@_run_guarded
def staffing(
    period: Annotated[str, typer.Option(help="Length of the period: 6h, 1d ...")] = "6h",
    end: Annotated[str, typer.Option(
        help="End of the period: now, latest (newest event stored) or an RFC 3339 time.")] = "now",
    tenant: Annotated[str, typer.Option(help="Only this tenant (default: all).")] = "",
    goal: Annotated[float, typer.Option(
        help="Share to answer within the first-response target, between 0 and 1.")] = 0.8,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
) -> None:
    """Agents needed (Erlang C; Erlang A where abandons give a patience) against agents
    handling, per 15-minute interval, tenant, channel and queue (docs/staffing.md)."""
    from sinks.clickhouse import connect
    from sinks.migrations import pending
    from streams.config import ConfigError
    from streams.query import render
    from streams.scorecard_report import period_bounds
    from streams.staffing_report import COLUMNS, table_of
    from streams.staffing_report import staffing as compute
    from streams.store import store_url

    if not 0.0 < goal < 1.0:
        raise ConfigError(f"--goal: {goal} is not strictly between 0 and 1")
    settings = settings_for(config, store)
    client = connect(store_url(settings))
    try:
        if missing := pending(client):
            raise ConfigError(f"the store lacks schema migrations {', '.join(missing)}: run "
                              "`sqm migrate` with the same --store/--config first")
        start, stop = period_bounds(client, period, end)
        rows = compute(client, start, stop, goal, tenant)
    finally:
        client.close()
    if fmt == "table":
        out.print(f"{goal:.0%} within the first-response target, intervals starting "
                  f"{start:%Y-%m-%d %H:%M} to {stop:%Y-%m-%d %H:%M} UTC. gap = actual − needed "
                  "by (A) Erlang A with the period's patience, else (C) Erlang C.",
                  style="dim", highlight=False)
        render(*table_of(rows), fmt, out)
    else:
        render(COLUMNS, [[r[c] for c in COLUMNS] for r in rows], fmt, out)


@cli.command()
@_run_guarded
def migrate(config: ConfigOpt = None, store: StoreOpt = None) -> None:
    """Apply the ClickHouse schema migrations (idempotent)."""
    from sinks.clickhouse import connect
    from sinks.migrations import migrate as apply
    from streams.store import store_url

    settings = settings_for(config, store)
    if (d := settings.store_dir()) is not None:
        d.mkdir(parents=True, exist_ok=True)
    client = connect(store_url(settings))
    try:
        applied = apply(client)
    finally:
        client.close()
    out.print(f"applied: {', '.join(applied)}" if applied else "schema is up to date")


@cli.command()
@_run_guarded
def worker(config: ConfigOpt = None, store: StoreOpt = None, policy: PolicyOpt = None) -> None:
    """Run a pipeline worker until stopped (production: set SQM_KAFKA_BOOTSTRAP)."""
    from streams.runtime import run_pipeline

    settings = settings_for(config, store, policy=policy)
    raise typer.Exit(run_pipeline(settings))


@cli.command()
@_run_guarded
def demo(
    store: StoreOpt = None,
    rate: Annotated[float, typer.Option(help="New contacts per second.")] = 20.0,
    seconds: Annotated[
        float | None, typer.Option(help="Stop after this long (default: Ctrl-C).")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Simulate omnichannel traffic and show live SLA numbers per channel (Ctrl-C to stop)."""
    from streams.demo import run_demo

    settings = settings_for(config, store or Path("sqm-data/demo"))
    raise typer.Exit(run_demo(settings, rate=rate, seconds=seconds, console=out))


@cli.command()
def simulate(
    out_file: Annotated[Path, typer.Argument(help="JSONL file to write.")],
    contacts: Annotated[int, typer.Option(help="How many contacts (in all).")] = 1000,
    per_second: Annotated[float | None, typer.Option(
        help="New contacts per second of event time, at a constant rate (default 5).")] = None,
    days: Annotated[int | None, typer.Option(
        help="Spread the contacts over this many days of event time instead, by a daily and "
             "weekly profile in each tenant's time zone, with returning customers "
             "(docs/simulate.md).")] = None,
    start: Annotated[
        str, typer.Option(help="Event time of the first contact (RFC 3339).")
    ] = "2026-03-02T09:00:00+08:00",
    messy: Annotated[
        bool, typer.Option(help="Add duplicates, disorder, +08:00 offsets and invalid lines.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
) -> None:
    """Write simulated omnichannel traffic to a JSONL file (for replay and benchmarks)."""
    from collections.abc import Iterator
    from datetime import datetime
    from typing import Any

    import orjson

    from streams.simulate import SimConfig, history
    from streams.simulate_days import history_days, validate

    try:
        t0 = datetime.fromisoformat(start)
    except ValueError:
        raise fail(f"--start: not an RFC 3339 time: {start}") from None
    if t0.tzinfo is None:
        raise fail("--start needs a time-zone offset, e.g. +08:00 or Z")
    cfg = SimConfig(seed=seed)
    events: Iterator[dict[str, Any] | str]
    if days is not None:
        if per_second is not None:
            raise fail("--per-second and --days exclude each other: the profile sets the rate")
        try:
            validate(contacts, days, t0)
        except ValueError as exc:
            raise fail(str(exc)) from None
        events = history_days(contacts, t0, days, cfg, messy=messy)
    else:
        rate = 5.0 if per_second is None else per_second
        if rate <= 0:
            raise fail(f"--per-second must be above 0, got {rate:g}")
        events = history(contacts, t0, rate, cfg, messy=messy)
    n = 0
    with out_file.open("wb") as f:
        for event in events:
            f.write(event.encode() if isinstance(event, str) else orjson.dumps(event))
            f.write(b"\n")
            n += 1
    span = f" over {days} days" if days is not None else ""
    out.print(f"wrote {n:,} events for {contacts:,} contacts{span} to {out_file}")


alerts_app = typer.Typer(no_args_is_help=True, add_completion=False)


@alerts_app.command("ack")
@_run_guarded
def alerts_ack(
    alert_id: Annotated[str, typer.Argument(help="The alert's id (sqm.alerts.alert_id).")],
    config: ConfigOpt = None,
) -> None:
    """Acknowledge a firing alert: it stays open, marked acknowledged, until it resolves."""
    from streams.alert_ack import send_ack

    settings = settings_for(config, None)
    n = send_ack(settings, alert_id)
    out.print(f"acknowledgement of {alert_id} sent to the {n} alert partitions; the worker "
              "holding it records it in sqm.alerts (state acknowledged)")


def _mount_subcommands() -> None:
    from dashboards.cli import app as dashboards_app

    cli.add_typer(dashboards_app, name="dashboards", help="Build and push the Grafana dashboards.")
    cli.add_typer(alerts_app, name="alerts", help="Act on alerts: acknowledge one.")


_mount_subcommands()


def main() -> None:
    try:
        cli()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
