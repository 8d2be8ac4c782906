"""Fault injection at the ClickHouse client boundary, for tests and benchmarks only (no setting
turns it on: a test or a benchmark wraps the client itself).

`FlakyClient` wraps a clickhouse-connect client; during an outage window every call raises what
clickhouse-connect's HTTP client raises when the server refuses connections or a read times out
(`OperationalError` without a server code, caused by urllib3's errors), so the writer's
classification is exercised exactly as against an unreachable server. The window opens at the
`after_inserts`-th insert (the middle of a replay, however slow the machine) and lasts
`seconds` of wall time.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Literal

from clickhouse_connect.driver.exceptions import OperationalError
from urllib3.exceptions import MaxRetryError, NewConnectionError, ReadTimeoutError

Kind = Literal["refused", "timeout"]
URL = "http://clickhouse:8123"
_CALLS = frozenset({"insert", "raw_insert", "command", "query", "create_insert_context",
                    "query_df", "query_arrow", "raw_query"})


def refused_error(attempt: int = 1) -> OperationalError:
    """What clickhouse-connect raises when nothing listens on the server's port."""
    reason = NewConnectionError(None, "Failed to establish a new connection: "  # type: ignore[arg-type]
                                "[Errno 111] Connection refused")
    cause = MaxRetryError(None, "/", reason)  # type: ignore[arg-type]
    ex = OperationalError(f"Error {cause} executing HTTP request attempt {attempt} ({URL})")
    ex.__cause__ = cause
    return ex


def timeout_error(attempt: int = 1) -> OperationalError:
    """What clickhouse-connect raises when the server does not answer within the read timeout."""
    cause = ReadTimeoutError(None, "/", "Read timed out. (read timeout=300)")  # type: ignore[arg-type]
    ex = OperationalError(f"Error {cause} executing HTTP request attempt {attempt} ({URL})")
    ex.__cause__ = cause
    return ex


class Outage:
    """One outage of the server, shared by every connection to it (`FlakyClient`s): it opens
    at the `after_inserts`-th insert through any of them and lasts `seconds` of wall time."""

    def __init__(self, *, after_inserts: int, seconds: float, kind: Kind = "refused") -> None:
        self._after = after_inserts
        self._seconds = seconds
        self.kind = kind
        self._lock = threading.Lock()
        self.inserts = 0
        self.refused = 0  # calls that failed
        self.started: float | None = None  # monotonic start of the outage
        self.ended: float | None = None

    def decide(self, name: str) -> tuple[bool, bool]:
        """(fail this call, let it reach the server first)."""
        with self._lock:
            if name in ("insert", "raw_insert"):
                self.inserts += 1
            now = time.monotonic()
            if self.started is None and self.inserts >= self._after:
                self.started = now
            if self.started is None or now - self.started >= self._seconds:
                if self.started is not None and self.ended is None:
                    self.ended = now
                return False, False
            self.refused += 1
            return True, self.kind == "timeout" and self.refused % 2 == 0


class FlakyClient:
    """A client that is unreachable for `seconds` from its `after_inserts`-th insert on (or
    during `outage`, shared with other connections).

    `kind="timeout"` lets every other call reach the server before raising (an insert that
    landed but whose answer was lost: the case replaying must make harmless)."""

    def __init__(self, client: Any, *, after_inserts: int = 0, seconds: float = 0.0,
                 kind: Kind = "refused", outage: Outage | None = None) -> None:
        self._client = client
        self.outage = outage or Outage(after_inserts=after_inserts, seconds=seconds, kind=kind)

    @property
    def inserts(self) -> int:
        return self.outage.inserts

    @property
    def refused(self) -> int:
        return self.outage.refused

    @property
    def started(self) -> float | None:
        return self.outage.started

    @property
    def ended(self) -> float | None:
        return self.outage.ended

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if name not in _CALLS:
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            fail, landed = self.outage.decide(name)
            if not fail:
                return attr(*args, **kwargs)
            if landed:
                attr(*args, **kwargs)
            raise timeout_error() if self.outage.kind == "timeout" else refused_error()

        return call


def peak_rss_mb(pid: int | str) -> float:
    """A process's peak resident set since it exec'd (VmHWM). Not ru_maxrss: that includes the
    RSS of the parent it was forked from (a test or benchmark holding a chDB engine)."""
    from pathlib import Path

    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main(argv: list[str]) -> None:
    """`python -m sqm.sinks.faults AFTER_INSERTS SECONDS KIND sqm-args...`: run the CLI with its
    store's client wrapped in a FlakyClient; at exit, one line `FAULTS {json}` on stderr (the
    outage's measured length, calls refused, peak RSS)."""
    import atexit
    import sys

    import orjson

    import sqm.sinks.clickhouse as clickhouse
    import sqm.streams.engine.faust.runtime as runtime
    import sqm.streams.store as store

    after, seconds, kind, *args = argv
    # Every connection to the store shares the outage (the direct runner has three).
    outage = Outage(after_inserts=int(after), seconds=float(seconds), kind=kind)  # type: ignore[arg-type]
    real_open, real_connect = store.open_store, clickhouse.connect

    def open_store(*a: Any, **kw: Any) -> Any:
        return FlakyClient(real_open(*a, **kw), outage=outage)

    def connect(*a: Any, **kw: Any) -> Any:
        return FlakyClient(real_connect(*a, **kw), outage=outage)

    def report() -> None:
        out = {
            "outage_s": (outage.ended - outage.started)
            if outage.started and outage.ended else None,
            "refused": outage.refused,
            "inserts": outage.inserts,
            "peak_rss_mb": peak_rss_mb("self"),
        }
        print("FAULTS " + orjson.dumps(out).decode(), file=sys.stderr, flush=True)

    store.open_store = open_store  # type: ignore[assignment]
    clickhouse.connect = connect  # type: ignore[assignment]
    runtime.open_store = open_store  # type: ignore[assignment]
    atexit.register(report)
    from sqm.streams.cli import main as cli

    sys.argv = ["sqm", *args]
    cli()


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
