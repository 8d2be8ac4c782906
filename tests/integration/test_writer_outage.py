"""The writer waits out a ClickHouse outage for its budget (SQM_CLICKHOUSE_OUTAGE_S), with one
warning line when it goes down and one when it is back, counting retries; past the budget it
raises SinkUnavailable, a SinkError the CLI turns into one line. The outage is injected at the
client boundary (sinks/faults.py) over a real chDB store."""

from __future__ import annotations

import logging
import threading
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




def test_writers_sharing_a_store_say_down_once_and_back_once(
        client: Client, caplog: pytest.LogCaptureFixture) -> None:
    """Two writers on two connections to one store share its `Health` (the direct runner's):
    an outage of the store is one line down and one back, however the writers' calls
    interleave. Neither a call that never reaches the store (a column lookup from the cache)
    nor one that began before the outage was seen says it is back."""
    from sqm.sinks.faults import Outage
    from sqm.sinks.retry import Health

    client.command("TRUNCATE TABLE sqm.contacts")
    health = Health()
    outage = Outage(after_inserts=2, seconds=0.5)
    first = ClickHouseWriter(FlakyClient(client, outage=outage), retry=FAST,  # type: ignore[arg-type]
                             health=health)
    second = ClickHouseWriter(FlakyClient(client, outage=outage), retry=FAST,  # type: ignore[arg-type]
                              health=health)
    with caplog.at_level(logging.WARNING, logger="sqm.sinks.writer"):
        second.write({"contacts": [contact_row("warm")]})  # its column types cached
        opening = threading.Thread(target=first.write, args=({"contacts": [contact_row("a")]},))
        opening.start()  # opens the outage and waits it out
        while not outage.refused:
            time.sleep(0.01)
        second.write({"contacts": [contact_row("b")]})  # during the outage, from the cache
        opening.join()
    assert client.command("SELECT count() FROM sqm.contacts FINAL") == 3
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2, messages
    assert messages[0].startswith("ClickHouse unavailable") and messages[1].startswith(
        "ClickHouse back after 0."), messages
    # A success that began before the outage was seen proves nothing.
    down = Health()
    down.failed("timeout", 5)
    assert down.succeeded(started=time.monotonic() - 60) is None
    assert down.succeeded(started=time.monotonic()) is not None
