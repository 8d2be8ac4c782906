"""Connecting to ClickHouse: a real server over HTTP(S) or the embedded chDB engine.

One URL selects the store and the rest of the code is the same for both:
- `chdb:///abs/dir`: embedded engine on a data directory (tests, local runs),
- `chdb://memory`: embedded engine without persistence,
- `http(s)://user:pass@host:port/db`: a ClickHouse server (production).

chDB hosts one engine per process and one process per data directory; both conflicts surface
here as a one-line `StoreError` instead of the engine's unhelpful "Error initializing".
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import logging
import os
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

# chDB imports numpy, whose OpenBLAS starts a thread per core that spins (~0.1 CPU-s per process
# measured here), and sqm never multiplies a matrix. Before the import, unless the user chose.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import clickhouse_connect
from clickhouse_connect.driver import Client
from clickhouse_connect.driver.exceptions import Error as ClickHouseDriverError
from clickhouse_connect.driver.exceptions import OperationalError

__all__ = ["StoreError", "connect", "in_process", "load_engine"]


class StoreError(RuntimeError):
    """The store cannot be opened (locked, unreachable, refused). `code` is the server's, if any."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


def connect(url: str) -> Client:
    """Open a client on `url`. Datetimes read back are timezone-aware UTC."""
    parts = urlsplit(url)
    if parts.scheme == "chdb":
        return _connect_chdb(parts.netloc, parts.path)
    if parts.scheme in ("http", "https"):
        return _connect_http(url)
    raise StoreError(
        f"unsupported store URL scheme {parts.scheme!r} (use chdb://, http://, https://)"
    )


def in_process(client: object) -> bool:
    """Whether `client` runs ClickHouse in this process (chDB), on this machine's cores."""
    # By name: the driver's chDB client lives in a private module of clickhouse-connect.
    return type(client).__name__ == "ChdbClient"


def load_engine(url: str) -> None:
    """Import the embedded engine now, if `url` is chDB's. Its import changes the process's
    working directory for a moment (it loads its library from its own folder): threads that
    start work with relative paths, or start processes (which take the working directory),
    should start after it."""
    if urlsplit(url).scheme == "chdb":
        _import_chdb()


def _import_chdb() -> None:
    """Import chDB and its connection module without pyarrow, which that module imports for
    chDB's own Arrow APIs only (clickhouse-connect reads Native format): pyarrow and numpy
    cost ~0.1 s of CPU, a seventh of a small replay, in every process that opens a store.
    Anything else that imports pyarrow later gets it as usual."""
    import_without_pyarrow("chdb.state")


def import_without_pyarrow(module: str) -> None:
    """Import `module` with pyarrow's import failing (unless pyarrow is imported already),
    for a module that treats pyarrow as optional; one that needs it (another chDB version)
    is imported again with it."""
    if module in sys.modules:
        return
    if "pyarrow" in sys.modules:
        importlib.import_module(module)
        return
    sys.modules["pyarrow"] = None  # type: ignore[assignment]  # its import now fails
    try:
        importlib.import_module(module)
    except ImportError:
        del sys.modules["pyarrow"]
        importlib.import_module(module)
    finally:
        if sys.modules.get("pyarrow", "") is None:
            del sys.modules["pyarrow"]


def _connect_chdb(netloc: str, path: str) -> Client:
    if netloc == "memory" and path in ("", "/"):
        location = "memory"
    elif not netloc and path.startswith("/"):
        location = os.path.realpath(path)
    else:
        raise StoreError("a chDB store URL is chdb:///absolute/dir or chdb://memory")
    # chDB labels DateTime('UTC') values with the process time zone unless TZ is UTC when the
    # engine starts (the instant is right, the label is not).
    if os.environ.get("TZ") != "UTC":
        os.environ["TZ"] = "UTC"
        time.tzset()
    dsn = "chdb://memory" if location == "memory" else f"chdb://{location}"
    _import_chdb()
    try:
        return clickhouse_connect.get_client(dsn=dsn, tz_mode="aware")
    except ClickHouseDriverError as ex:
        raise _chdb_open_error(location, ex) from ex


def _chdb_open_error(location: str, ex: ClickHouseDriverError) -> StoreError:
    text = str(ex)
    if "already initialized with path" in text:
        other = re.search(r"with path '([^']*)'", text)
        return StoreError(
            f"store {location} cannot open: this process already runs chDB on "
            f"{other.group(1) if other else 'another directory'} (close every client first)"
        )
    holder = _lock_holder(location)
    if holder is not None:
        return StoreError(f"store {location} is in use by another process ({holder})")
    first = text.splitlines()[0] if text else type(ex).__name__
    return StoreError(f"store {location} cannot open: {first}", ex.code)


def _lock_holder(location: str) -> str | None:
    """Describe who holds ClickHouse's `status` lock (flock) on `location`, or None if nobody."""
    status = Path(location) / "status"
    try:
        fd = os.open(status, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            # ClickHouse writes "PID: <n>" (and its start time) into the file it locks.
            pids = [ln[4:].strip() for ln in _read_lines(status) if ln.startswith("PID:")]
            pid = pids[0] if pids else "unknown"
            return f"pid {pid}, lock file {status}"
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines()
    except OSError:
        return []


@contextlib.contextmanager
def _quiet_retries() -> Iterator[None]:
    """While connecting, urllib3's retry and clickhouse-connect's driver warnings would print
    before the StoreError that says the same in one line."""
    loggers = [logging.getLogger(n) for n in ("urllib3.connectionpool", "clickhouse_connect")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _connect_http(url: str) -> Client:
    parts = urlsplit(url)
    # Never echo the password: errors name the server as scheme://user@host:port/db.
    shown = f"{parts.scheme}://{parts.username + '@' if parts.username else ''}{parts.hostname}"
    shown += f":{parts.port}{parts.path}" if parts.port else parts.path
    try:
        # No HTTP session: our SQL is fully qualified and session-free, and a shared session id
        # would make concurrent calls from worker threads fail with SESSION_IS_LOCKED.
        # The scheme decides TLS on any port: from a DSN alone clickhouse-connect infers it
        # from the port (443/8443), and sent the credentials of https://host:18443 in clear.
        with _quiet_retries():
            return clickhouse_connect.get_client(
                dsn=url, interface=parts.scheme, secure=parts.scheme == "https",
                tz_mode="aware", autogenerate_session_id=False,
            )
    except OperationalError as ex:
        if ex.code is None:  # transport failure: refused, reset, DNS, timeout
            cause = ex.__cause__
            reason = str(getattr(cause, "reason", None) or cause or ex).splitlines()[0][:300]
            raise StoreError(f"ClickHouse at {shown} is unreachable ({reason}): check "
                             "SQM_CLICKHOUSE_URL") from ex
        raise StoreError(f"ClickHouse at {shown} refused the connection: {ex}", ex.code) from ex
    except ClickHouseDriverError as ex:
        first = str(ex).splitlines()[0][:300] if str(ex) else type(ex).__name__
        raise StoreError(f"ClickHouse at {shown} refused the connection: {first}", ex.code) from ex
