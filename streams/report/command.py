"""`sqm report`: the period, the store, the data and the file (the CLI's few lines call `run`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqm.streams.config import ConfigError, Settings
from sqm.streams.report.sql import Scope

HOUR = timedelta(hours=1)


def report_scope(client: Any, period: str, end: str, tenant: str | None) -> Scope:
    """`--period`/`--end` in whole UTC hours, so every hour and every day of the charts is
    complete: the end rounds up to the next hour (`latest` still holds the newest event)."""
    from sqm.streams.scorecard_report import period_bounds

    start, stop = period_bounds(client, period, end)
    length = stop - start
    if length % HOUR or not length:
        raise ConfigError(f"--period: {period!r} is not a whole number of hours, e.g. 24h, 7d")
    stop = stop.astimezone(UTC)
    if stop.minute or stop.second or stop.microsecond:
        stop = stop.replace(minute=0, second=0, microsecond=0) + HOUR
    return Scope(stop - length, stop, tenant or None)


def run(settings: Settings, *, policy: Path | None, period: str, end: str,
        tenant: str | None, out: Path) -> tuple[Scope, int]:
    """Write the report; the period and the file's size in bytes (ConfigError: one line)."""
    from sqm.sinks.clickhouse import connect
    from sqm.sinks.migrations import pending
    from sqm.streams.core.policy_file import PolicyError, load_policy, scorecard_config
    from sqm.streams.report.query import EmptyPeriod, collect
    from sqm.streams.report.render import render
    from sqm.streams.store import store_url

    try:
        rules = load_policy(policy) if policy else settings.policy()
    except PolicyError as exc:
        raise ConfigError(str(exc)) from None
    indicators, goals = scorecard_config(rules)
    client = connect(store_url(settings))
    try:
        if missing := pending(client):
            raise ConfigError(f"the store lacks schema migrations {', '.join(missing)}: run "
                              "`sqm migrate` with the same --store/--config first")
        scope = report_scope(client, period, end, tenant)
        try:
            data = collect(client, scope, repeat_window_ms=settings.repeat_window_ms(rules),
                           goals=goals, indicators=indicators, generated_at=datetime.now(UTC))
        except EmptyPeriod as exc:
            raise ConfigError(str(exc)) from None
    finally:
        client.close()
    page = render(data).encode()
    try:
        out.write_bytes(page)
    except OSError as exc:
        raise ConfigError(f"--out: cannot write {out}: {exc.strerror or exc}") from None
    return scope, len(page)
