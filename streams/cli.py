"""The `sqm` command line. Errors a person sees are one line, never a traceback.

The commands live in `streams/commands/`; importing a module registers its commands on `cli`,
in the order `--help` lists them.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
from importlib import import_module
from typing import NoReturn

from sqm.streams import helper_processes

# Before the imports below (~0.3 s): a large replay's helper processes then start sooner.
helper_processes.start_for_replay(sys.argv[1:])

from sqm.streams.commands.alerts import mount_subcommands  # noqa: E402
from sqm.streams.commands.base import Entity, cli, err, fail, out, settings_for  # noqa: E402

__all__ = ["Entity", "cli", "err", "fail", "main", "out", "settings_for"]

# Importing a module registers its commands: in this order, the order of `sqm --help`.
for _module in ("replay", "sql", "analysis", "store", "worker", "traffic"):
    import_module(f"sqm.streams.commands.{_module}")
mount_subcommands()


def main() -> None:
    try:
        cli()
    except KeyboardInterrupt:
        _exit(130)
    except SystemExit as exc:
        _exit(exc.code)
    _exit(0)


def _exit(code: str | int | None) -> NoReturn:
    """Exit with `code`; once chDB ran in this process, without the interpreter's teardown.

    chDB's engine shuts down in the teardown (C++ destructors): ~0.1 s, an eighth of a small
    replay, for nothing: its client is closed and every insert was on disk when it returned
    (an engine stopped here is one stopped by a crash, which ClickHouse is built to survive).
    The exit handlers still run (logging's, the helper processes'), and the output is flushed.
    Under a profiler (`python -m cProfile`), which writes its output after `main` returns, it
    exits as usual.
    """
    if "chdb" not in sys.modules or sys.getprofile() is not None:
        sys.exit(code)
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # sys.exit("message"): printed, status 1
        print(code, file=sys.stderr)
        status = 1
    atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe, a full disk: failed, as Python says
            status = status or 120
    os._exit(status)


if __name__ == "__main__":
    main()
