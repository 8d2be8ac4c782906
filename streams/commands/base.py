"""What every `sqm` command shares: the app, option types, one-line errors, settings."""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.text import Text
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from sqm.streams.config import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    pass

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


class Command(TyperCommand):
    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        """`[OPTIONS] EVENTS`: typer writes a required argument as `{events}`."""
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                name = (param.metavar or param.name or "").upper()
                name = name if param.required else f"[{name}]"
                pieces.append(name + ("..." if param.nargs != 1 else ""))
        return pieces


class Group(TyperGroup):
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
            return super(Group, self).main(args, prog_name, complete_var, False,
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
    cls=Group, help="Service Quality Monitor: real-time SLA and quality metrics for customer "
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
    from sqm.streams.logs import setup_logging

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
    from sqm.streams.store import check_store_dir

    if (d := settings.store_dir()) is not None:
        check_store_dir(d, create=create)


def guarded(fn: typer.models.CommandFunctionType) -> typer.models.CommandFunctionType:
    """Turn expected failures (broker, store, config) into one line and exit code 1."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: object, **kwargs: object) -> object:
        from clickhouse_connect.driver.exceptions import ClickHouseError

        from sqm.sinks.clickhouse import StoreError
        from sqm.sinks.migrations import MigrationError
        from sqm.sinks.writer import SinkError
        from sqm.streams.engine.faust.broker import BrokerError
        from sqm.streams.replay_summary import ReplayError

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
