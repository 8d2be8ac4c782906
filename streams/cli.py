"""The `sqm` command line. Errors a person sees are one line, never a traceback.

The commands live in `streams/commands/`; importing a module registers its commands on `cli`,
in the order `--help` lists them.
"""

from __future__ import annotations

import sys
from importlib import import_module

from sqm.streams.commands.alerts import mount_subcommands
from sqm.streams.commands.base import Entity, cli, err, fail, out, settings_for

__all__ = ["Entity", "cli", "err", "fail", "main", "out", "settings_for"]

# Importing a module registers its commands: in this order, the order of `sqm --help`.
for _module in ("replay", "sql", "analysis", "store", "worker", "traffic"):
    import_module(f"sqm.streams.commands.{_module}")
mount_subcommands()


def main() -> None:
    try:
        cli()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
