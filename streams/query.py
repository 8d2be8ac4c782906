"""`sqm sql`: run one query against the store and print it as a table, CSV or JSON."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from sqm.sinks.clickhouse import connect
from sqm.streams.config import Settings
from sqm.streams.store import store_url
from sqm.streams.words import plural


def _cell(v: Any) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, datetime):
        return v.isoformat(sep=" ")
    return str(v)


def _json_default(v: Any) -> Any:
    if isinstance(v, Decimal):
        return str(v)
    raise TypeError


def one_statement(query: str) -> str:
    """The query without trailing `;`; a second statement is refused (one line), since `sqm sql`
    runs exactly one. Semicolons inside quotes and comments do not count."""
    from sqm.streams.config import ConfigError

    text = query.strip().rstrip(";").rstrip()
    quote: str | None = None
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "'\"`":
            quote = ch
        elif text.startswith("--", i):
            end = text.find("\n", i)
            i = len(text) if end < 0 else end
        elif ch == ";":
            raise ConfigError("sqm sql runs one statement at a time; this query has several")
        i += 1
    return text


def parse_params(pairs: Sequence[str]) -> dict[str, str]:
    """`--param name=value` pairs, for the query's `{name:Type}` placeholders (ClickHouse parses
    each value as its placeholder's type)."""
    from sqm.streams.config import ConfigError

    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip().isidentifier():
            raise ConfigError(f"--param: expected name=value, got {pair!r}")
        out[name.strip()] = value
    return out


def print_query(settings: Settings, query: str, fmt: str, console: Console, *,
                params: dict[str, str] | None = None, write: bool = False) -> None:
    """Run one statement and print its result. Read-only unless `write`: ClickHouse's own
    `readonly` setting refuses any change, so a mistyped query cannot alter the store."""
    from clickhouse_connect.driver.exceptions import ClickHouseError

    from sqm.sinks.migrations import pending
    from sqm.streams.config import ConfigError

    statement = one_statement(query)
    client = connect(store_url(settings))
    try:
        result = client.query(statement, parameters=params or None,
                              settings=None if write else {"readonly": 2})
    except ClickHouseError as exc:
        # 164: READONLY (what `readonly` refuses); the message alone also echoes the setting.
        if not write and (getattr(exc, "code", None) == 164 or "Code: 164." in str(exc)):
            raise ConfigError("this statement changes the store; sqm sql is read-only unless "
                              "given --write") from exc
        # A store written by an older sqm lacks newer columns and views: say how to fix it
        # rather than leave the person with ClickHouse's unknown-column message.
        missing = pending(client)
        if missing:
            raise ConfigError(
                f"the store lacks schema migrations {', '.join(missing)}: run `sqm migrate` "
                "with the same --store/--config first") from exc
        raise
    finally:
        client.close()
    render(list(result.column_names), result.result_rows, fmt, console)


def render(names: list[str], rows: Sequence[Sequence[Any]], fmt: str, console: Console) -> None:
    """Rows as a table, CSV or JSON (a list of objects). A table wider than the terminal is
    printed one field a line instead, as `psql -x` does: cells cut to `2026-0…` say nothing."""
    if fmt == "json":
        console.print_json(orjson.dumps([dict(zip(names, r, strict=True)) for r in rows],
                                        default=_json_default).decode())
    elif fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(names)
        w.writerows([[_cell(v) for v in r] for r in rows])
        console.print(buf.getvalue(), end="", highlight=False, soft_wrap=True)
    else:
        cells = [[_cell(v) for v in r] for r in rows]
        count = plural(len(rows), "row")
        widths = [len(name) for name in names]
        for r in cells:
            widths = [max(w, _lines_width(c)) for w, c in zip(widths, r, strict=True)]
        # A column takes its widest line, a space either side and a border; the table one more.
        if 1 + sum(w + 3 for w in widths) <= console.width or not rows:
            table = Table(*names, show_lines=False)
            for r in cells:
                table.add_row(*r)
            console.print(table)
            console.print(count, style="dim")
            return
        for i, r in enumerate(cells, 1):
            console.rule(f"row {i}", align="left", style="dim")
            grid = Table.grid(padding=(0, 2))
            grid.add_column(style="bold", no_wrap=True)
            grid.add_column(overflow="fold")
            for name, value in zip(names, r, strict=True):
                grid.add_row(name, value)
            console.print(grid)
        console.print(f"{count}, one field a line: the table is wider than {console.width} "
                      "columns (--format csv keeps it a table)", style="dim", highlight=False)


def _lines_width(text: str) -> int:
    return max((len(line) for line in text.splitlines()), default=0)
