"""`sqm replay`: a file of events into a store, on the direct runner or the Faust engine."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from streams.commands.base import (
    DEFAULT_STORE,
    Command,
    ConfigOpt,
    Engine,
    PolicyOpt,
    check_store,
    cli,
    fail,
    guarded,
    out,
    settings_for,
)
from streams.config import Settings
from streams.words import plural

if TYPE_CHECKING:
    from streams.engine.faust.app import Pipeline
    from streams.replay_summary import ReplaySummary


@cli.command(cls=Command)
@guarded
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
        import asyncio
        import signal

        from streams.engine.faust.replay import replay as run_replay
        from streams.engine.faust.runtime import run_pipeline

        stopped: list[int] = []

        async def main(pipeline: Pipeline) -> int:
            try:
                summary.append(await run_replay(pipeline, events, show_progress=progress))
            except asyncio.CancelledError:  # the worker stops on a signal: the run is partial
                guard = pipeline.extras.get("stop_guard")
                stopped.append(getattr(guard, "signum", None) or signal.SIGINT)
                raise
            return 0

        code = run_pipeline(settings, main, reset_store=reset,  # type: ignore[arg-type]
                            before_start=refuse_non_empty)
        if stopped and not summary:
            raise fail(f"interrupted: the store {settings.store_dir() or ''} holds part of the "
                       "file; replay it again with --reset (--resume continues only a replay "
                       "of the direct runner)", 128 + stopped[0])
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
