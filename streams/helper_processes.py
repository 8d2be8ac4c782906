"""How a worker starts its helper processes (ingest validation, the direct runner's alert
workers), and what each helper does first.

Forked from a fork server: the worker has threads by the time its helpers start (chDB's, the
broker client's), and a forked child of a threaded process can deadlock on a lock some thread
held, so a plain fork is out. Spawned, each helper imported sqm and its dependencies again
(~0.3 CPU-s each, three helpers in a large replay). The fork server is a fresh process without
threads that imports them once (`_PRELOAD`, and the program's main module, which every helper
re-runs); each helper is forked from it with the imports done. `start()` launches it early, so
that its imports overlap the worker's own start-up; for `sqm replay` of a large file,
`start_for_replay` launches it before the CLI's imports.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
import os
import select
import signal
import sys
import threading
import time
from multiprocessing.context import BaseContext

# What the helpers run (their initializers and functions) and what these import.
_PRELOAD = ["sqm.streams.direct_workers", "sqm.streams.ingest_pool"]
ORPHAN_CHECK_S = 1.0  # where the worker's exit cannot be waited for (no pidfd)
# `sqm replay` uses helpers for files over this size (streams/direct_feed.py, helper_counts).
LARGE_FILE_BYTES = 10_000_000
# In the environment of the fork server and so of every helper (see `start`).
_HELPER_MARK = "SQM_HELPER_PROCESS"


def context() -> BaseContext:
    """The helpers' multiprocessing context: forked from the fork server."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(_preload())
    return ctx


def start() -> None:
    """Launch the fork server now (it imports while the caller goes on). Idempotent."""
    context()
    # The helpers run the program's main module again, with its arguments: marked, they start
    # no server of their own (start_for_replay). Set for the server only, which they inherit.
    previous = os.environ.get(_HELPER_MARK)
    os.environ[_HELPER_MARK] = "1"
    try:
        multiprocessing.forkserver.ensure_running()
    finally:
        if previous is None:
            del os.environ[_HELPER_MARK]
        else:
            os.environ[_HELPER_MARK] = previous


def start_for_replay(argv: list[str]) -> None:
    """Launch the fork server at once if `argv` (the CLI's arguments) replays a file that will
    use helpers: the CLI's own imports take ~0.3 s on one core, and the server's overlap them
    instead of the store's opening. A guess from the arguments before they are parsed, so
    cheap and on the safe side: any other command, `--help` or the Faust engine starts none."""
    if (argv[:1] != ["replay"] or "--help" in argv or "faust" in argv
            or os.environ.get(_HELPER_MARK)):
        return
    for arg in argv[1:]:
        try:
            if os.stat(arg).st_size > LARGE_FILE_BYTES and os.path.isfile(arg):
                start()
                return
        except (OSError, ValueError):
            continue


def _preload() -> list[str]:
    # A helper re-runs the program's main module (multiprocessing does, to find what was
    # pickled by reference): with its imports done in the server, that costs little.
    main = sys.modules.get("__main__")
    name = getattr(getattr(main, "__spec__", None), "name", None)
    by_name = [name] if name and not name.endswith("__main__") else []
    return ["sqm.streams.helper_server", "__main__", *by_name, *_PRELOAD]


def child_init(parent: int) -> None:
    """Set up a helper process of the worker `parent`."""
    # Ctrl-C reaches the whole process group: the worker stops its children itself, and a
    # child's own KeyboardInterrupt would only print a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A killed worker (SIGKILL, OOM) cannot stop its children; they notice and exit. The
    # child's parent is the fork server, which stays while helpers live: watch the worker.
    threading.Thread(target=_exit_when_orphaned, args=(parent,), daemon=True,
                     name="sqm-orphan-check").start()


def _exit_when_orphaned(parent: int) -> None:
    try:
        watched = os.pidfd_open(parent)
    except ProcessLookupError:
        os._exit(0)
    except (AttributeError, OSError):  # no pidfd (not Linux 5.3+): poll
        while _alive(parent):
            time.sleep(ORPHAN_CHECK_S)
        os._exit(0)
    select.select([watched], [], [])  # readable once the worker has exited
    os._exit(0)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
