"""A worker stops on SIGTERM (or Ctrl-C): cleanly within a grace period, else at once.

Faust stops the worker through the event loop (`loop.add_signal_handler`): the stop begins only
when the loop next gets control, and then waits for the agents. Synchronous work that does not
yield delays it without bound: the alert stage once spent minutes on one batch (an event dated
1970), and `kill` looked ignored. Python runs a signal's Python-level handler in the main thread
between bytecodes, busy loop or not, and the loop still hears of the signal (the C handler
writes its wakeup fd whatever Python handler is set). So the guard, installed over the loop's
handlers, starts a timer at the first signal; if the process is still alive `grace_s` later, or
at a second signal, it stops the embedded broker and exits with 128 + the signal's number, as
if killed by it. That is as safe as a crash: nothing is acknowledged before it is written, and
the restarted worker replays the rest (docs/architecture.md).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType

log = logging.getLogger(__name__)

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopGuard:
    def __init__(self, grace_s: float, on_force: Callable[[], None] | None = None,
                 exit_: Callable[[int], object] = os._exit) -> None:
        self.grace_s = grace_s
        self.on_force = on_force  # e.g. stop the embedded broker (its own session: no signal)
        self._exit = exit_
        self._signum: int | None = None
        self._signalled = threading.Event()
        self._again = threading.Event()

    @property
    def signum(self) -> int | None:
        """The first stop signal received, if any."""
        return self._signum

    def arm(self) -> None:
        """Install the guard over the event loop's handlers (main thread only)."""
        threading.Thread(target=self._watch, name="stop-guard", daemon=True).start()
        for sig in SIGNALS:
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # Only flags here: a signal handler must not take locks the code it interrupted may
        # hold (logging's, threading's); the watcher thread does the rest.
        if self._signum is None:
            self._signum = signum
            self._signalled.set()
        else:
            self._again.set()

    def _watch(self) -> None:
        self._signalled.wait()
        assert self._signum is not None
        name = signal.Signals(self._signum).name
        again = self._again.wait(self.grace_s)
        why = f"a second signal after {name}" if again else (
            f"not stopped {self.grace_s:g} s after {name}")
        log.error("stopping at once: %s", why)
        if self.on_force is not None:
            try:
                self.on_force()
            except Exception as exc:  # exiting anyway
                log.error("while stopping at once: %s", exc)
        self._exit(128 + self._signum)
