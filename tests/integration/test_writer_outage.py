"""The writer waits out a ClickHouse outage for its budget (SQM_CLICKHOUSE_OUTAGE_S), with one
warning line when it goes down and one when it is back, counting retries; past the budget it
raises SinkUnavailable, a SinkError the CLI turns into one line. The outage is injected at the
client boundary (sinks/faults.py) over a real chDB store."""

from __future__ import annotations

import logging
import time

import pytest
from clickhouse_connect.driver import Client
from pydantic import ValidationError

from sqm.sinks.faults import FlakyClient, refused_error, timeout_error
from sqm.sinks.writer import (
    ClickHouseWriter,
    RetryPolicy,
    SinkError,
    SinkUnavailable,
    transient_reason,
)
from sqm.streams.config import Settings
from sqm.streams.stats import PipelineStats
from tests.integration.test_clickhouse import contact_row

pytestmark = pytest.mark.integration

FAST = RetryPolicy(outage_s=5, base_delay_s=0.02, max_delay_s=0.1)



def test_the_injected_errors_are_classified_as_the_http_client_raises_them() -> None:
    assert transient_reason(refused_error()) == "connection refused"
    assert transient_reason(timeout_error()) == "timeout"


def test_an_outage_within_the_budget_is_waited_out_with_two_log_lines(
        client: Client, caplog: pytest.LogCaptureFixture) -> None:
    client.command("TRUNCATE TABLE sqm.contacts")
    flaky = FlakyClient(client, after_inserts=1, seconds=0.6)
    stats = PipelineStats()
    writer = ClickHouseWriter(flaky, retry=FAST, stats=stats)  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="sqm.sinks.writer"):
        started = time.monotonic()
        writer.write({"contacts": [contact_row("a")]})
        writer.write({"contacts": [contact_row("b")]})
    assert time.monotonic() - started >= 0.6
    assert client.command("SELECT count() FROM sqm.contacts FINAL") == 2
    assert stats.write_retries == flaky.refused >= 5  # 0.6 s at <= 0.1 s a retry
    assert 0.6 <= stats.outage_s < 2
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2, messages
    assert messages[0] == ("ClickHouse unavailable (connection refused): retrying for up to 5 s, "
                           "input paused until it is back")
    assert messages[1].startswith("ClickHouse back after 0.") and messages[1].endswith(
        f"({flaky.refused} retries)")


def test_past_the_budget_the_writer_gives_up_with_sink_unavailable(client: Client) -> None:
    flaky = FlakyClient(client, after_inserts=1, seconds=60, kind="timeout")
    writer = ClickHouseWriter(flaky, retry=RetryPolicy(outage_s=0.5, base_delay_s=0.05,  # type: ignore[arg-type]
                                                        max_delay_s=0.1))
    started = time.monotonic()
    with pytest.raises(SinkUnavailable, match=r"unavailable for 0\.\d s, over the outage budget "
                       r"\(SQM_CLICKHOUSE_OUTAGE_S=0.5\) \(timeout\)") as caught:
        writer.write({"contacts": [contact_row("c")]})
    assert 0.5 <= time.monotonic() - started < 2
    assert isinstance(caught.value, SinkError)


def test_the_budget_setting_is_validated() -> None:
    assert Settings().clickhouse_outage_s == 300
    with pytest.raises(ValidationError, match="clickhouse_outage_s"):
        Settings(clickhouse_outage_s=0)


