"""When an insert into ClickHouse is worth retrying, for how long, and whether ClickHouse is up.

Transient failures (connection refused or reset, timeouts, gateway statuses, load and cluster
error codes) are retried with capped backoff for the outage budget; anything else (syntax,
type, schema) is permanent. Retrying is safe because a replayed insert is harmless
(sinks/writer.py, "Delivery").
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from dataclasses import dataclass
from typing import Protocol

from clickhouse_connect.driver.exceptions import Error as ClickHouseDriverError
from clickhouse_connect.driver.exceptions import OperationalError

__all__ = ["RETRYABLE_CODES", "Health", "RetryCounters", "RetryPolicy", "transient_reason"]

log = logging.getLogger("sqm.sinks.writer")  # one logger for the writer's lines

# ClickHouse server error codes worth retrying, and why. None of them means "this data is wrong":
# each is load, a network fault or a cluster hiccup, and any insert that did land before the
# failure is replaced by the identical replayed rows.
RETRYABLE_CODES: dict[int, str] = {
    159: "TIMEOUT_EXCEEDED",  # the server gave up waiting; the insert may or may not have landed
    202: "TOO_MANY_SIMULTANEOUS_QUERIES",  # rejected before running: nothing was written
    203: "NO_FREE_CONNECTION",  # rejected before running
    209: "SOCKET_TIMEOUT",  # network between client, server or replicas
    210: "NETWORK_ERROR",  # same
    241: "MEMORY_LIMIT_EXCEEDED",  # server-wide pressure; our inserts are bounded batches
    242: "TABLE_IS_READ_ONLY",  # a replica briefly lost its Keeper session
    252: "TOO_MANY_PARTS",  # backpressure: the insert was refused until merges catch up
    285: "TOO_FEW_LIVE_REPLICAS",  # quorum not reached; replicas are coming back
    319: "UNKNOWN_STATUS_OF_INSERT",  # may have landed: exactly the replay-is-harmless case
    439: "CANNOT_SCHEDULE_TASK",  # server thread pools are full
    999: "KEEPER_EXCEPTION",  # coordination hiccup
}
# Gateway/overload statuses from a proxy or load balancer in front of the server: the request
# never reached (or never finished on) a healthy server.
RETRYABLE_HTTP_STATUSES = frozenset({429, 502, 503, 504})
_HTTP_STATUS_RE = re.compile(r"HTTP status (\d{3})")
_TRANSPORT_REASONS = (
    (("refused",), "connection refused"),
    (("reset", "aborted", "closed"), "connection reset"),
    (("timed out", "timeout"), "timeout"),
)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Capped exponential backoff with jitter (so many shards do not retry in lockstep), for as
    long as the outage budget lasts: ClickHouse down for minutes (a restart, a failover) is
    waited out, not a crash. `attempts`, if set, also bounds the number of tries."""

    outage_s: float = 300.0
    base_delay_s: float = 0.2
    max_delay_s: float = 5.0
    attempts: int | None = None

    def delay(self, attempt: int) -> float:
        ceiling = min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1))
        return ceiling * (0.5 + random.random() / 2)  # jitter, not crypto


def transient_reason(ex: BaseException) -> str | None:
    """Why `ex` is worth retrying, or None if retrying cannot help."""
    if isinstance(ex, ConnectionError | TimeoutError):
        return type(ex).__name__
    if not isinstance(ex, ClickHouseDriverError):
        return None
    if ex.code is not None:
        return RETRYABLE_CODES.get(ex.code)
    status = _HTTP_STATUS_RE.search(str(ex))
    if status is not None:
        code = int(status.group(1))
        return f"HTTP {code}" if code in RETRYABLE_HTTP_STATUSES else None
    if isinstance(ex, OperationalError):
        # The HTTP transport raises a code-less OperationalError only when the request failed
        # on the wire: connection refused or reset, or a connect/read timeout.
        text = f"{ex} {ex.__cause__}".lower()
        for words, reason in _TRANSPORT_REASONS:
            if any(w in text for w in words):
                return reason
        return "transport"
    return None


class RetryCounters(Protocol):
    """Where the writer counts its retries (PipelineStats)."""

    write_retries: int
    outage_s: float


class Health:
    """Whether ClickHouse is up, shared by the writer's threads: one warning line per change of
    state (down, then back after N s), not one per retry."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._retries = 0

    def failed(self, reason: str, budget_s: float) -> None:
        with self._lock:
            self._retries += 1
            if self._down_since is not None:
                return
            self._down_since = time.monotonic()
        log.warning("ClickHouse unavailable (%s): retrying for up to %g s, input paused until "
                    "it is back", reason, budget_s)

    def succeeded(self, started: float | None = None) -> float | None:
        """Seconds it was down, if this success ends an outage. `started`: when the call
        began (monotonic); one that began before the outage was seen proves nothing (a
        connection's call in flight as another's failed)."""
        if self._down_since is None:  # the common case: no lock
            return None
        with self._lock:
            if self._down_since is None:
                return None
            if started is not None and started < self._down_since:
                return None
            down_s = time.monotonic() - self._down_since
            retries, self._down_since, self._retries = self._retries, None, 0
        log.warning("ClickHouse back after %.1f s (%d retries)", down_s, retries)
        return down_s
