"""Logs: one JSON object per line on stderr (SQM_LOG_FORMAT=json, the worker's default), plain
text (SQM_LOG_FORMAT=text), or, for a command a person watches, plain lines through the rich
console that draws its progress bar or live table, so they land above it, not through it."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import orjson

if TYPE_CHECKING:
    from rich.console import Console


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info and record.exc_info[1] is not None:
            entry["error"] = f"{type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
        return orjson.dumps(entry).decode()


def plain_words(record: logging.LogRecord) -> str:
    """The record as a person reads it: `warning: dead-lettered 2 of 9 events; ...`, its
    fields as key=value and an exception as its one-line message (no traceback)."""
    text = f"{record.levelname.lower()}: {record.getMessage()}"
    fields = getattr(record, "fields", None)
    if isinstance(fields, dict) and fields:
        text += " (" + ", ".join(f"{k}={v}" for k, v in fields.items()) + ")"
    if record.exc_info and record.exc_info[1] is not None:
        text += f": {type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
    return text


_STYLES = {"DEBUG": "dim", "INFO": "dim", "WARNING": "yellow", "ERROR": "red",
           "CRITICAL": "bold red"}


class ConsoleHandler(logging.Handler):
    """Records printed through a rich console: while a progress bar or a live table is drawn on
    that console, rich prints them above it and redraws it below."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        from rich.text import Text

        try:
            # Text, not a markup string: a message holding "[...]" is printed as it is.
            line = Text(plain_words(record), style=_STYLES.get(record.levelname, ""))
            self.console.print(line, soft_wrap=True, highlight=False)
        except Exception:
            self.handleError(record)


def setup_logging(level: str = "WARNING", fmt: str = "json", console: Console | None = None
                  ) -> None:
    """`console`: print records through it in plain words (an interactive command); else
    `fmt` on stderr."""
    handler: logging.Handler
    if console is not None:
        handler = ConsoleHandler(console)
    else:
        handler = logging.StreamHandler(sys.stderr)
        if fmt == "json":
            handler.setFormatter(JsonFormatter())
        else:
            handler.setFormatter(
                logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Faust and aiokafka are chatty at INFO about rebalances; keep them one level quieter.
    for name in ("faust", "aiokafka", "mode", "kafka"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
