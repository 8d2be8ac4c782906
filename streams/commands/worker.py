"""`sqm worker` and `sqm demo`: the streaming pipeline, live."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sqm.streams.commands.base import (
    Command,
    ConfigOpt,
    PolicyOpt,
    StoreOpt,
    check_store,
    cli,
    guarded,
    out,
    settings_for,
)

if TYPE_CHECKING:
    pass


@cli.command(cls=Command)
@guarded
def worker(config: ConfigOpt = None, store: StoreOpt = None, policy: PolicyOpt = None) -> None:
    """Run a pipeline worker until stopped (production: set SQM_KAFKA_BOOTSTRAP)."""
    from sqm.streams.engine.faust.runtime import run_pipeline

    settings = settings_for(config, store, policy=policy, interactive=False)
    check_store(settings, create=True)
    raise typer.Exit(run_pipeline(settings, serve_metrics=True))


@cli.command(cls=Command)
@guarded
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
    from sqm.streams.demo import run_demo

    # Log records above the live table, which is drawn on stdout.
    settings = settings_for(config, store or Path("sqm-data/demo"), log_console=out)
    check_store(settings, create=True)
    raise typer.Exit(run_demo(settings, rate=rate, seconds=seconds, console=out))
