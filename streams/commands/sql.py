"""`sqm sql`: one query against a store, read-only unless --write."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from sqm.streams.commands.base import (
    Command,
    ConfigOpt,
    FormatOpt,
    OutputFormat,
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
    from sqm.streams.query import parse_params, print_query

    params = parse_params(param or [])
    settings = settings_for(config, store)
    check_store(settings, create=False)
    print_query(settings, query, fmt.value, out, params=params, write=write)
