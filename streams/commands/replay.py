"""`sqm replay`: a file of events into a store, on the direct runner or the Faust engine."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sqm.streams.commands.base import (
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
from sqm.streams.config import Settings
from sqm.streams.words import plural

if TYPE_CHECKING:
    from sqm.streams.engine.faust.app import Pipeline
    from sqm.streams.replay_progress import ReplayRun
    from sqm.streams.replay_summary import ReplaySummary


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
    resume: Annotated[bool, typer.Option(
        help="Continue an interrupted replay of EVENTS into the store (direct engine): lines "
             "already written are read again, not written again.")] = False,
) -> None:
    """Replay a file of events through the pipeline into a ClickHouse store."""

    if not events.is_file():
        raise fail(f"no such file: {events}")
    if resume and reset:
        raise fail("--resume continues the store's replay; --reset empties it: pass one")
    if resume and engine is not Engine.direct:
        raise fail("--resume continues a replay of the direct engine; drop --engine faust")
    # History replays on the event clock: the same alerts at the same event times as live.
    settings = settings_for(config, store, policy=policy, alert_clock="event")
    check_store(settings, create=True)
    summary: list[ReplaySummary] = []
    resumed: list[ReplayRun] = []
    where = f"the store {settings.store_dir() or settings.clickhouse_url}"

    def refuse_non_empty(client: object, _bootstrap: str) -> None:
        from sqm.streams.replay_progress import file_key, load_run

        run = load_run(client, file_key(events))  # type: ignore[arg-type]
        if resume:
            if run is None or run.finished:
                state = "a finished" if run else "no"
                raise fail(f"nothing to resume: {where} holds {state} replay of {events.name}")
            resumed.append(run)
            return
        if not reset and run is not None and not run.finished:
            raise fail(
                f"{where} holds an unfinished replay of {events.name} (lines 1-{run.lines_done:,} "
                f"written); continue it with: {_resume_command(settings, events)}, or start "
                "over with --reset")
        n = int(client.command("SELECT count() FROM sqm.events"))  # type: ignore[attr-defined]
        if n and not reset:
            raise fail(
                f"the store already holds {plural(n, 'event')} from an earlier run; "
                "use another --store or pass --reset to empty it"
            )

    if engine is Engine.direct:
        code = _replay_direct(settings, events, reset, progress, refuse_non_empty, summary,
                              resumed)
    else:
        import asyncio
        import signal

        from sqm.streams.engine.faust.replay import replay as run_replay
        from sqm.streams.engine.faust.runtime import run_pipeline

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


def _resume_command(settings: Settings, events: Path) -> str:
    store = settings.store_dir()
    return f"sqm replay --resume {events}" + (f" --store {store}" if store else "")


def _replay_direct(settings: Settings, events: Path, reset: bool, progress: bool,
                   before: Callable[[object, str], None], summary: list[ReplaySummary],
                   resumed: list[ReplayRun]) -> int:
    import asyncio

    from sqm.sinks.clickhouse import connect, load_engine
    from sqm.streams import helper_processes
    from sqm.streams.app_config import load_alert_config
    from sqm.streams.direct import replay_direct
    from sqm.streams.direct_feed import ChunkFeed, helper_counts
    from sqm.streams.store import open_store, store_url

    feed = ChunkFeed(settings, events)
    if any(helper_counts(settings, events)):
        # Their imports, the line count and the first chunks' validation overlap the store's
        # opening; the feed's thread after chDB's import (which moves the working directory).
        helper_processes.start()
        load_engine(store_url(settings))
        feed.start_early()
    try:
        client = open_store(settings, reset=reset)
    except BaseException:
        feed.close()
        raise
    events_client = read_client = None
    try:
        before(client, "")
        events_client = connect(store_url(settings))  # the events' inserts beside the others
        read_client = connect(store_url(settings))  # read-backs beside the inserts
        summary.append(asyncio.run(replay_direct(
            settings, client, load_alert_config(settings), events, show_progress=progress,
            resume=resumed[0] if resumed else None, feed=feed, events_client=events_client,
            read_client=read_client)))
    except KeyboardInterrupt:
        raise fail(f"interrupted: the store {settings.store_dir() or ''} holds part of the file; "
                   f"continue it with: {_resume_command(settings, events)}", 130) from None
    finally:
        feed.close()
        for extra in (events_client, read_client):
            if extra is not None:
                extra.close()
        client.close()
    return 0
