"""`sqm simulate`: simulated traffic to a file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sqm.streams.commands.base import (
    Command,
    cli,
    fail,
    out,
)
from sqm.streams.words import plural

if TYPE_CHECKING:
    pass


@cli.command(cls=Command)
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

    from sqm.streams.simulate import SimConfig, history
    from sqm.streams.simulate_days import history_days, validate

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
