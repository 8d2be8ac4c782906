"""Writes the core's output rows to ClickHouse, one insert per table per batch.

Delivery: at-least-once. A failed batch may have been partly written (some tables, or a whole
insert whose acknowledgement was lost); the caller replays it. That is harmless by design: every
table is a ReplacingMergeTree and rows carry absolute values, never increments, so a replayed
row collapses into the one already stored and `FINAL` reads are exact. This is also what makes
the transient failures below safe to retry here.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any, TypeVar

import orjson
from clickhouse_connect.datatypes.base import ClickHouseType
from clickhouse_connect.datatypes.temporal import DateTime, DateTime64
from clickhouse_connect.driver import Client
from clickhouse_connect.driver.exceptions import Error as ClickHouseDriverError

from sqm.sinks import on_demand
from sqm.sinks.clickhouse import in_process
from sqm.sinks.retry import RETRYABLE_CODES, Health, RetryCounters, RetryPolicy, transient_reason

__all__ = [
    "RETRYABLE_CODES",
    "Batch",
    "ClickHouseWriter",
    "Columns",
    "RetryPolicy",
    "SinkError",
    "SinkUnavailable",
    "transient_reason",
]

log = logging.getLogger(__name__)

T = TypeVar("T")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS_TYPES = frozenset({int, type(None)})
Row = Mapping[str, Any]
# One table's rows column by column: name -> values, all of one length. In this form
# DateTime/DateTime64 values are epoch milliseconds (int) or None, not datetimes: the core keeps
# times as int ms, and neither side then pays for a datetime object per value.
Columns = Mapping[str, Sequence[Any]]
Batch = Mapping[str, Sequence[Row] | Columns]
# Rows are never collapsed at insert: readers take the latest row per key (FINAL or argMax),
# as they must across inserts anyway, and doing it within each block cost ~15% of the inserts'
# CPU in chDB (ClickHouse's merges still collapse them).
_INSERT_SETTINGS: dict[str, Any] = {"optimize_on_insert": 0}
# In process (chDB), an insert's pipeline threads share the caller's cores: one thread spent
# ~7% less CPU on a replay's inserts, and a server's insert of formatted data parses on one.
_IN_PROCESS_INSERT_SETTINGS: dict[str, Any] = {**_INSERT_SETTINGS, "max_threads": 1}


class SinkError(RuntimeError):
    """An insert failed for good. `code`/`name` are the server's error code and name, if any."""

    def __init__(self, table: str, detail: str, code: int | None = None, name: str | None = None):
        if code is not None:
            label = f"code {code} {name}" if name else f"code {code}"
        else:
            label = name or "no server code"
        super().__init__(f"insert into {table} failed ({label}): {detail}")
        self.table = table
        self.code = code
        self.name = name


class SinkUnavailable(SinkError):
    """ClickHouse stayed unreachable (transient errors only) for longer than the outage budget.

    Distinct from a plain SinkError, which means the insert itself is wrong (syntax, type,
    schema) and retrying cannot help."""


class ClickHouseWriter:
    """Inserts batches into database `database`. Thread-safe.

    A table's data is either rows, `[{column: value}, ...]` with aware datetimes, or `Columns`,
    `{column: [value, ...]}` with times as epoch ms (the cheaper form for the hot path).
    """

    def __init__(
        self,
        client: Client,
        *,
        database: str = "sqm",
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        stats: RetryCounters | None = None,
        health: Health | None = None,
    ) -> None:
        self._client = client
        self.stats = stats  # retries and outage seconds are counted here, if given
        # Whether the store is up, told once per change: writers on other connections to the
        # same store pass one to share (an outage is the store's, not a connection's).
        self._health = health or Health()
        self._database = database
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._types: dict[str, dict[str, ClickHouseType]] = {}  # table -> column -> type
        self._types_lock = threading.Lock()
        self._settings = (_IN_PROCESS_INSERT_SETTINGS if in_process(client)
                          else _INSERT_SETTINGS)
        # Read by the worker's metrics: retried calls, inserts failed for good, and a callback
        # told each table insert's duration (table, seconds).
        self.retries = 0
        self.failures = 0
        self.on_insert: Callable[[str, float], None] | None = None
        # clickhouse-connect imports pandas and numpy on the first insert, if installed (to
        # check whether the data is a DataFrame or an array): ~0.4 s of the event loop's time
        # mid-stream. Both are left out until used (sinks/on_demand.py).
        on_demand.defer()

    @property
    def client(self) -> Client:
        return self._client

    def write(self, batch: Batch) -> None:
        """Insert each table's rows in one insert. Raises SinkError once retrying cannot help."""
        for table, data in batch.items():
            started = time.perf_counter()
            if isinstance(data, Mapping):
                if not any(data.values()):
                    continue
                self._write_columns(table, data)
            elif data:
                self._write_table(table, data)
            else:
                continue
            if self.on_insert is not None:
                self.on_insert(table, time.perf_counter() - started)

    def retrying(self, call: Callable[[], T]) -> T:
        """`call` (a read) under the same outage policy as the inserts."""
        return self._with_retry("(read)", call)

    async def write_async(self, batch: Batch) -> None:
        """`write` in a worker thread, so the event loop keeps running during the insert."""
        await asyncio.to_thread(self.write, batch)

    def _write_table(self, table: str, rows: Sequence[Row]) -> None:
        name = f"{self._database}.{table}"
        columns = list(rows[0])
        data = _to_columns(name, columns, rows)
        types = self._column_types(table, columns)
        for index, ch_type in enumerate(types):
            tick = _tick(ch_type)
            if tick is not None:
                data[index] = _to_ticks(name, columns[index], data[index], tick)
        self._insert(table, columns, data, types)

    def _write_columns(self, table: str, columns: Columns) -> None:
        name = f"{self._database}.{table}"
        names = list(columns)
        data = list(columns.values())
        if len({len(values) for values in data}) > 1:
            lengths = {c: len(v) for c, v in columns.items()}
            raise SinkError(name, f"columns differ in length: {lengths}")
        types = self._column_types(table, names)
        body = _json_columns(name, names, data, types)
        if body is not None:
            # Parsed by ClickHouse's C++ (chDB releases the GIL), not encoded in Python.
            self._with_retry(table, lambda: self._client.raw_insert(
                name, names, body, settings=self._settings, fmt="JSONCompactColumns"))
            return
        for index, ch_type in enumerate(types):
            per_ms = _ticks_per_ms(ch_type)
            if per_ms is not None:
                data[index] = _ms_to_ticks(name, names[index], data[index], per_ms)
        self._insert(table, names, data, types)

    def _insert(
        self, table: str, columns: list[str], data: list[Any], types: list[ClickHouseType]
    ) -> None:
        self._with_retry(
            table,
            lambda: self._client.insert(
                table,
                data,
                column_names=columns,
                database=self._database,
                column_types=types,
                column_oriented=True,
                settings=self._settings,
            ),
        )

    def _column_types(self, table: str, columns: Sequence[str]) -> list[ClickHouseType]:
        """The server's types of `columns`, cached per table: inserts then need no DESCRIBE."""
        known = self._types.get(table)
        if known is None or any(c not in known for c in columns):
            # First use, or the table gained a column since (a migration ran): describe again.
            # Retried here, not around the cached lookup: a call that never reaches the store
            # must not say it is back (`Health` is shared with other connections' writers).
            ctx = self._with_retry(table, lambda: self._client.create_insert_context(
                table, database=self._database))
            known = dict(zip(ctx.column_names, ctx.column_types, strict=True))
            with self._types_lock:
                self._types[table] = known
        missing = [c for c in columns if c not in known]
        if missing:
            raise SinkError(f"{self._database}.{table}", f"no such column(s) {missing}")
        return [known[c] for c in columns]

    def _with_retry(self, table: str, call: Callable[[], T]) -> T:
        name = f"{self._database}.{table}"
        policy = self._retry
        first_failure: float | None = None
        attempt = 0
        while True:
            attempt += 1
            started = time.monotonic()
            try:
                result = call()
            except SinkError:
                raise
            except (ClickHouseDriverError, ConnectionError, TimeoutError) as ex:
                reason = transient_reason(ex)
                code = getattr(ex, "code", None)
                err_name = getattr(ex, "name", None) or RETRYABLE_CODES.get(code or 0)
                if reason is None or attempt == self._retry.attempts:
                    self.failures += 1
                if reason is None:
                    raise SinkError(name, _first_line(ex), code, err_name) from ex
                now = time.monotonic()
                first_failure = now if first_failure is None else first_failure
                waited = now - first_failure
                if policy.attempts is not None and attempt >= policy.attempts:
                    detail = f"gave up after {attempt} attempts ({reason}): {_first_line(ex)}"
                    raise SinkUnavailable(name, detail, code, err_name) from ex
                if waited >= policy.outage_s:
                    detail = (f"unavailable for {waited:.1f} s, over the outage budget "
                              f"(SQM_CLICKHOUSE_OUTAGE_S={policy.outage_s:g}) ({reason}): "
                              f"{_first_line(ex)}")
                    self.failures += 1
                    raise SinkUnavailable(name, detail, code, err_name) from ex
                self._health.failed(reason, policy.outage_s)
                self.retries += 1  # the worker's metrics read it
                if self.stats is not None:
                    self.stats.write_retries += 1
                delay = min(policy.delay(attempt), max(0.0, policy.outage_s - waited))
                log.debug("insert into %s failed (%s), retry %d in %.2fs", name, reason,
                          attempt, delay)
                self._sleep(delay)
            except (TypeError, ValueError, OverflowError, KeyError) as ex:
                # Raised while encoding rows client-side: bad data, retrying cannot help.
                raise SinkError(name, f"cannot encode rows: {ex!r}") from ex
            else:
                down_s = self._health.succeeded(started)
                if down_s is not None and self.stats is not None:
                    self.stats.outage_s += down_s
                return result


def _to_columns(table: str, columns: list[str], rows: Sequence[Row]) -> list[list[Any]]:
    """Pivot row dicts into column lists; every row must have exactly the first row's keys."""
    width = len(columns)
    for index, row in enumerate(rows):
        if len(row) != width:
            raise SinkError(table, f"row {index} has columns {sorted(row)}, expected {columns}")
    try:
        return [[row[c] for row in rows] for c in columns]
    except KeyError as ex:
        raise SinkError(table, f"a row lacks column {ex.args[0]!r} (expected {columns})") from None


def _tick(ch_type: ClickHouseType) -> timedelta | None:
    """The time one stored unit of a DateTime/DateTime64 column stands for; None otherwise."""
    if isinstance(ch_type, DateTime64):
        return timedelta(microseconds=1_000_000 // ch_type.prec) if ch_type.prec <= 10**6 else None
    return timedelta(seconds=1) if isinstance(ch_type, DateTime) else None


def _to_ticks(table: str, column: str, values: list[Any], tick: timedelta) -> list[int | None]:
    """Aware datetimes → integer ticks since the epoch (floored, as ClickHouse truncates).

    Cheaper than the driver's per-value `timestamp()` path (which then takes its int fast
    path), and it refuses naive datetimes (aware minus naive is a TypeError) instead of
    guessing their zone.
    """
    try:
        return [None if v is None else (v - _EPOCH) // tick for v in values]
    except TypeError as ex:
        raise SinkError(table, f"column {column} needs timezone-aware datetimes ({ex})") from None


def _ticks_per_ms(ch_type: ClickHouseType) -> Fraction | None:
    """Stored units of a DateTime/DateTime64 column per millisecond; None for other types."""
    if isinstance(ch_type, DateTime64):
        return Fraction(ch_type.prec, 1000)
    return Fraction(1, 1000) if isinstance(ch_type, DateTime) else None


def _ms_to_ticks(
    table: str, column: str, values: Sequence[Any], per_ms: Fraction
) -> Sequence[int | None]:
    """Epoch ms → integer ticks (floored, as for datetimes); as is for DateTime64(3)."""
    if not set(map(type, values)) <= _MS_TYPES:  # map/set run in C: ~15 ns a value
        raise SinkError(table, f"column {column} takes epoch milliseconds as int in column form")
    if per_ms == 1:
        return values
    num, den = per_ms.numerator, per_ms.denominator
    return [None if v is None else v * num // den for v in values]


_NUMBER_TYPES = frozenset({int, float, type(None)})
# ClickHouse base type -> the Python types orjson writes as that type reads them.
_AS_IS = {
    **dict.fromkeys(("UInt8", "UInt16", "UInt32", "UInt64", "Int8", "Int16", "Int32", "Int64",
                     "Float64"), _NUMBER_TYPES),
    "Bool": frozenset({bool, type(None)}),
}
_DECIMAL_TYPES = frozenset({Decimal, int, type(None)})


def _json_columns(table: str, names: Sequence[str], data: Sequence[Sequence[Any]],
                  types: Sequence[ClickHouseType]) -> bytes | None:
    """The columns as one JSONCompactColumns document, or None when a column's type is not
    one orjson writes exactly as ClickHouse reads it (Decimal, Map, Bool, ...: the caller
    then uses the driver's Native encoding).

    Strings are JSON strings; integers and floats JSON numbers (orjson writes floats in their
    shortest round-trip form); epoch ms in DateTime64(3) columns are seconds with three
    decimals, which ClickHouse reads exactly (tests/integration/test_clickhouse.py).
    """
    out: list[Sequence[Any]] = []
    for column, values, ch_type in zip(names, data, types, strict=True):
        base = ch_type.base_type
        if base == "String":
            out.append(values)
        elif base == "DateTime64" and isinstance(ch_type, DateTime64) and ch_type.prec == 1000:
            if not set(map(type, values)) <= _MS_TYPES:
                raise SinkError(table, f"column {column} takes epoch milliseconds as int in "
                                "column form")
            out.append([None if v is None else v / 1000 for v in values])
        elif base == "DateTime":  # whole seconds: floored, as for datetimes
            if not set(map(type, values)) <= _MS_TYPES:
                raise SinkError(table, f"column {column} takes epoch milliseconds as int in "
                                "column form")
            out.append([None if v is None else v // 1000 for v in values])
        elif base in _AS_IS and set(map(type, values)) <= _AS_IS[base]:
            out.append(values)
        elif (base == "Decimal" and getattr(ch_type, "scale", None) == 3
              and set(map(type, values)) <= _DECIMAL_TYPES):
            # A Decimal with 3 places as the nearest double, whose shortest form is those digits.
            out.append([None if v is None else float(v) for v in values])
        elif (base == "Map" and ch_type.name == "Map(String, UInt8)"
              and set(map(type, values)) <= {dict}):
            out.append(values)
        else:
            return None
    try:
        return orjson.dumps(out)
    except TypeError:  # e.g. a str with a lone surrogate: let the driver encode (or refuse) it
        return None


def _first_line(ex: BaseException) -> str:
    text = str(ex).strip()
    return text.splitlines()[0][:500] if text else type(ex).__name__
