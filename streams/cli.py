"""The `sqm` command line. Errors a person sees are one line, never a traceback."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.text import Text
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from streams.config import ConfigError, Settings, load_settings
from streams.whatif.cli import whatif
from streams.words import plural

if TYPE_CHECKING:
    from streams.replay_summary import ReplaySummary

err = Console(stderr=True)
out = Console()


# typer's help and errors, tidied for a person. Contexts and formatters are typer's vendored
# Click types (private to typer), hence `Any` in these signatures.
def _hide_flag_types(command: Any, ctx: Any) -> None:
    """typer shows a flag's type (`--reset <bool>`, `--help <bool>`); a flag takes no value."""
    for param in command.get_params(ctx):
        if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
            param.metavar = ""


def _usage_error(exc: typer.TyperException) -> str:
    """A mistake on the command line as one line, `--format: 'xml' is not one of table, csv,
    json`, instead of typer's usage block and framed message."""
    param = getattr(exc, "param", None)
    message = getattr(exc, "message", "")
    if isinstance(exc, typer.BadParameter) and message and param is not None:
        name = (" / ".join(param.opts) if isinstance(param, TyperOption)
                else (param.metavar or param.name or "").upper())
        # typer passes pydantic's words on: "Value error, 'xml' is not one of 'table', 'csv'."
        message = message.removeprefix("Value error, ")
        text = f"{name}: {message[:1].lower()}{message[1:]}"
        hint = ""
    else:
        text = exc.format_message()
        text = text[:1].lower() + text[1:]
        ctx = getattr(exc, "ctx", None)
        hint = f"; see {ctx.command_path} --help" if ctx is not None else ""
    if choices := re.search(r" is not one of (.*)$", text):
        text = text[:choices.start(1)] + choices.group(1).replace("'", "")
    return " ".join(text.split()).rstrip(".") + hint


class _Command(TyperCommand):
    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        """`[OPTIONS] EVENTS`: typer writes a required argument as `{events}`."""
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                name = (param.metavar or param.name or "").upper()
                name = name if param.required else f"[{name}]"
                pieces.append(name + ("..." if param.nargs != 1 else ""))
        return pieces


class _Group(TyperGroup):
    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            _hide_flag_types(command, ctx)
        return command

    def format_help(self, ctx: Any, formatter: Any) -> None:
        _hide_flag_types(self, ctx)
        super().format_help(ctx, formatter)

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             windows_expand_args: bool = True, **extra: Any) -> Any:
        """As typer's, but a usage error is one line (exit code 2, as typer's)."""
        def run() -> Any:
            return super(_Group, self).main(args, prog_name, complete_var, False,
                                            windows_expand_args, **extra)

        if not standalone_mode:
            return run()
        try:
            code = run()
        except typer.Abort:
            err.print("[red]error:[/] aborted", highlight=False)
            sys.exit(1)
        except typer.TyperException as exc:
            # typer has printed the help already when a group is called without a command.
            if type(exc).__name__ != "NoArgsIsHelpError":
                err.print(Text("error: ", style="red") + Text(_usage_error(exc)),
                          highlight=False, soft_wrap=True)
            sys.exit(exc.exit_code)
        sys.exit(code if isinstance(code, int) else 0)


cli = typer.Typer(
    cls=_Group, help="Service Quality Monitor: real-time SLA and quality metrics for customer "
    "service.", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
)


class OutputFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


class Engine(StrEnum):
    direct = "direct"
    faust = "faust"


class Entity(StrEnum):
    agent = "agent"
    queue = "queue"
    channel = "channel"


# Where the store is when --store is not given (streams/config.py's default URL).
DEFAULT_STORE = Settings.model_fields["clickhouse_url"].default.removeprefix("chdb://")

ConfigOpt = Annotated[Path | None, typer.Option(
    "--config", "-c", metavar="<file>", help="YAML settings file.",
    show_default="SQM_CONFIG, else none")]
StoreOpt = Annotated[Path | None, typer.Option(
    "--store", metavar="<dir>", help="chDB data directory; overrides SQM_CLICKHOUSE_URL.",
    show_default=f"SQM_CLICKHOUSE_URL, else {DEFAULT_STORE}")]
PolicyOpt = Annotated[Path | None, typer.Option(
    "--policy", metavar="<file>", help="SLA policy YAML (docs/policies.md).",
    show_default="SQM_POLICY_FILE, else contract v1's targets")]
FormatOpt = Annotated[OutputFormat, typer.Option("--format", help="How to print the rows.")]


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _log_console() -> Console:
    """Where an interactive command's log records go: rich's own console, on which the progress
    bars are drawn, so records land above a bar. Moved to stderr, with the bars: stdout keeps
    only what a command prints as its result."""
    import rich

    rich.reconfigure(stderr=True)
    return rich.get_console()


def settings_for(config: Path | None, store: Path | None = None, *, policy: Path | None = None,
                 interactive: bool = True, log_console: Console | None = None,
                 **overrides: object) -> Settings:
    """Validated settings; with `policy` (or SQM_POLICY_FILE) the policy file is validated now
    too, so a mistake is one line before anything starts.

    Logs are JSON lines when SQM_LOG_FORMAT=json is set, and for the worker by default; a
    command a person runs (`interactive`) prints them in plain words through `log_console`
    (default: the console its progress bar is drawn on)."""
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
    json_asked = settings.log_format == "json" and "log_format" in settings.model_fields_set
    console = (log_console or _log_console()) if interactive and not json_asked else None
    setup_logging(settings.log_level, settings.log_format, console=console)
    return settings


def check_store(settings: Settings, *, create: bool) -> None:
    """A chDB store directory chDB cannot use is one line (StoreError) before it tries."""
    from streams.store import check_store_dir

    if (d := settings.store_dir()) is not None:
        check_store_dir(d, create=create)


def _run_guarded(fn: typer.models.CommandFunctionType) -> typer.models.CommandFunctionType:
    """Turn expected failures (broker, store, config) into one line and exit code 1."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: object, **kwargs: object) -> object:
        from clickhouse_connect.driver.exceptions import ClickHouseError

        from sinks.clickhouse import StoreError
        from sinks.migrations import MigrationError
        from sinks.writer import SinkError
        from streams.engine.faust.broker import BrokerError
        from streams.replay_summary import ReplayError

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


def _print_version(value: bool) -> None:
    if not value:
        return
    from importlib.metadata import PackageNotFoundError, version

    try:
        out.print(f"sqm {version('sqm')}", highlight=False)
    except PackageNotFoundError:  # a source tree run without `pip install`
        out.print("sqm (version unknown: the package is not installed)", highlight=False)
    raise typer.Exit()


@cli.callback()
def _root(
    version: Annotated[bool, typer.Option(
        "--version", callback=_print_version, is_eager=True, help="Print the version and exit.",
    )] = False,
) -> None:
    pass


@cli.command(cls=_Command)
@_run_guarded
def replay(
    events: Annotated[Path, typer.Argument(
        metavar="EVENTS", help="JSON Lines file, one event per line.")],
    store: Annotated[Path | None, typer.Option(
        "--store", metavar="<dir>", help="chDB data directory, created if missing; overrides "
        "SQM_CLICKHOUSE_URL.",
        show_default=f"SQM_CLICKHOUSE_URL, else {DEFAULT_STORE}")] = None,
    reset: Annotated[bool, typer.Option(help="Empty the store first if it holds data.")] = False,
    config: ConfigOpt = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    policy: PolicyOpt = None,
    engine: Annotated[Engine, typer.Option(
        help="direct: the pipeline's stages in this process, straight from the file (fast); "
             "faust: through the embedded broker and the Faust agents, as a live worker.",
    )] = Engine.direct,
) -> None:
    """Replay a file of events through the pipeline into a ClickHouse store."""

    if not events.is_file():
        raise fail(f"no such file: {events}")
    # History replays on the event clock: the same alerts at the same event times as live.
    settings = settings_for(config, store, policy=policy, alert_clock="event")
    check_store(settings, create=True)
    summary: list[ReplaySummary] = []

    def refuse_non_empty(client: object, _bootstrap: str) -> None:
        n = int(client.command("SELECT count() FROM sqm.events"))  # type: ignore[attr-defined]
        if n and not reset:
            raise fail(
                f"the store already holds {plural(n, 'event')} from an earlier run; "
                "use another --store or pass --reset to empty it"
            )

    if engine is Engine.direct:
        code = _replay_direct(settings, events, reset, progress, refuse_non_empty, summary)
    else:
        from streams.engine.faust.replay import replay as run_replay
        from streams.engine.faust.runtime import run_pipeline

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
    except KeyboardInterrupt:
        raise fail(f"interrupted: the store {settings.store_dir() or ''} holds part of the file; "
                   "replay it again with --reset", 130) from None
    finally:
        client.close()
    return 0


@cli.command(cls=_Command)
@_run_guarded
def sql(
    query: Annotated[str, typer.Argument(
        metavar="QUERY", help="SQL, e.g. \"SELECT * FROM sqm.contacts FINAL\".")],
    store: StoreOpt = None,
    config: ConfigOpt = None,
    fmt: FormatOpt = OutputFormat.table,
    param: Annotated[list[str] | None, typer.Option(
        metavar="<name=value>", help="A value for a {name:Type} placeholder (repeatable).",
        show_default="none")] = None,
    write: Annotated[bool, typer.Option(
        "--write", help="Allow statements that change the store.")] = False,
) -> None:
    """Run one query against the store and print the result (read-only unless --write)."""
    from streams.query import parse_params, print_query

    params = parse_params(param or [])
    settings = settings_for(config, store)
    check_store(settings, create=False)
    print_query(settings, query, fmt.value, out, params=params, write=write)


@cli.command(cls=_Command)
@_run_guarded
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
    from streams.core.policy_file import PolicyError, load_policy, scorecard_config
    from streams.query import render
    from streams.scorecard_report import (
        parse_period,
        period_bounds,
        rows_of,
        terminal_table,
        why_empty,
    )
    from streams.scorecard_report import scorecard as compute
    from streams.store import open_existing_store

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

            from sinks.writer import ClickHouseWriter
            from streams.scorecard_report import score_rows

            rows = score_rows(scores, by.value, start, stop, rules.version, datetime.now(UTC))
            ClickHouseWriter(client).write({"scorecard_scores": rows})
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


cli.command(cls=_Command)(_run_guarded(whatif))  # options in streams/whatif/cli.py


@cli.command(cls=_Command)
@_run_guarded
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
    from streams.query import render
    from streams.scorecard_report import parse_period, period_bounds
    from streams.staffing_report import COLUMNS, table_of
    from streams.staffing_report import staffing as compute
    from streams.store import open_existing_store

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


@cli.command(cls=_Command)
@_run_guarded
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
    from streams.report.command import run

    scope, size = run(settings_for(config, store), policy=policy, period=period, end=end,
                      tenant=tenant, out=out_file)
    out.print(f"wrote {out_file} ({size / 1e6:.1f} MB): {scope.tenant or 'all tenants'}, "
              f"{scope.start:%Y-%m-%d %H:%M} to {scope.end:%Y-%m-%d %H:%M} UTC", highlight=False,
              soft_wrap=True)


@cli.command(cls=_Command)
@_run_guarded
def migrate(config: ConfigOpt = None, store: StoreOpt = None) -> None:
    """Apply the ClickHouse schema migrations (idempotent); creates a missing store."""
    from sinks.clickhouse import connect
    from sinks.migrations import migrate as apply
    from streams.store import store_url

    settings = settings_for(config, store)
    check_store(settings, create=True)
    client = connect(store_url(settings))
    try:
        applied = apply(client)
    finally:
        client.close()
    out.print(f"applied: {', '.join(applied)}" if applied else "schema is up to date")


@cli.command(cls=_Command)
@_run_guarded
def worker(config: ConfigOpt = None, store: StoreOpt = None, policy: PolicyOpt = None) -> None:
    """Run a pipeline worker until stopped (production: set SQM_KAFKA_BOOTSTRAP)."""
    from streams.engine.faust.runtime import run_pipeline

    settings = settings_for(config, store, policy=policy, interactive=False)
    check_store(settings, create=True)
    raise typer.Exit(run_pipeline(settings))


@cli.command(cls=_Command)
@_run_guarded
def demo(
    store: Annotated[Path | None, typer.Option(
        metavar="<dir>", help="chDB data directory, created if missing.",
        show_default="./sqm-data/demo")] = None,
    rate: Annotated[float, typer.Option(help="New contacts per second.")] = 20.0,
    seconds: Annotated[float | None, typer.Option(
        help="Stop after this long.", show_default="until Ctrl-C")] = None,
    config: ConfigOpt = None,
) -> None:
    """Simulate omnichannel traffic and show live SLA numbers per channel (Ctrl-C to stop)."""
    from streams.demo import run_demo

    # Log records above the live table, which is drawn on stdout.
    settings = settings_for(config, store or Path("sqm-data/demo"), log_console=out)
    check_store(settings, create=True)
    raise typer.Exit(run_demo(settings, rate=rate, seconds=seconds, console=out))


@cli.command(cls=_Command)
def simulate(
    out_file: Annotated[Path, typer.Argument(metavar="OUT", help="JSONL file to write.")],
    contacts: Annotated[int, typer.Option(help="How many contacts (in all).")] = 1000,
    per_second: Annotated[float | None, typer.Option(
        help="New contacts per second of event time, at a constant rate.",
        show_default="5 a second")] = None,
    days: Annotated[int | None, typer.Option(
        help="Spread the contacts over this many days of event time instead, by a daily and "
             "weekly profile in each tenant's time zone, with returning customers "
             "(docs/simulate.md).", show_default="none: a constant rate")] = None,
    start: Annotated[str, typer.Option(
        metavar="<time>", help="Event time of the first contact (RFC 3339).",
    )] = "2026-03-02T09:00:00+08:00",
    messy: Annotated[
        bool, typer.Option(help="Add duplicates, disorder, +08:00 offsets and invalid lines.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
) -> None:
    """Write simulated omnichannel traffic to a JSONL file (for replay and benchmarks)."""
    from collections.abc import Iterator
    from datetime import datetime

    import orjson

    from streams.simulate import SimConfig, history
    from streams.simulate_days import history_days, validate

    if contacts < 1:
        raise fail(f"--contacts must be at least 1, got {contacts}")
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
    if not out_file.parent.is_dir():
        raise fail(f"cannot write {out_file}: there is no directory {out_file.parent}")
    n = 0
    try:
        with out_file.open("wb") as f:
            for event in events:
                f.write(event.encode() if isinstance(event, str) else orjson.dumps(event))
                f.write(b"\n")
                n += 1
    except OSError as exc:
        raise fail(f"cannot write {out_file}: {exc.strerror or exc}") from None
    span = f" over {plural(days, 'day')}" if days is not None else ""
    out.print(f"wrote {plural(n, 'event')} for {plural(contacts, 'contact')}{span} to {out_file}",
              highlight=False, soft_wrap=True)


alerts_app = typer.Typer(cls=_Group, no_args_is_help=True, add_completion=False)


@alerts_app.command("ack", cls=_Command)
@_run_guarded
def alerts_ack(
    alert_id: Annotated[str, typer.Argument(
        metavar="ALERT_ID", help="The alert's id (sqm.alerts.alert_id).")],
    config: ConfigOpt = None,
) -> None:
    """Acknowledge a firing alert: it stays open, marked acknowledged, until it resolves."""
    from streams.alert_ack import send_ack

    settings = settings_for(config, None)
    n = send_ack(settings, alert_id)
    out.print(f"acknowledgement of {alert_id} sent to the {plural(n, 'alert partition')}; the "
              "worker holding it records it in sqm.alerts (state acknowledged)")


def _mount_subcommands() -> None:
    from dashboards.cli import app as dashboards_app

    cli.add_typer(dashboards_app, name="dashboards", cls=_Group,
                  help="Build and push the Grafana dashboards.")
    cli.add_typer(alerts_app, name="alerts", help="Act on alerts: acknowledge one.")


_mount_subcommands()


def main() -> None:
    try:
        cli()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
