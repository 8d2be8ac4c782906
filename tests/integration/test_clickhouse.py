"""The ClickHouse sink on the real engine (chDB, in-process): schema, migrations, writer, errors.

chDB runs one engine per process on one data directory, so the whole module shares one store
(module-scoped fixture, closed at the end so another module may open its own) and every test
starts from empty tables (TRUNCATE). Test doubles only wrap the real client to inject failures.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from clickhouse_connect.driver import Client
from clickhouse_connect.driver._backend.httpcommon import build_http_error
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from sqm.sinks.clickhouse import StoreError, connect, in_process
from sqm.sinks.migrations import load_migrations, migrate
from sqm.sinks.writer import ClickHouseWriter, RetryPolicy, SinkError, transient_reason

pytestmark = pytest.mark.integration

PLUS8 = timezone(timedelta(hours=8))
T0 = datetime(2024, 5, 1, 8, 30, 15, 123000, tzinfo=PLUS8)  # = 2024-05-01 00:30:15.123 UTC
T0_UTC = datetime(2024, 5, 1, 0, 30, 15, 123000, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TABLES = ("events", "contacts", "sla_1m", "dead_letters")


class Store(NamedTuple):
    path: Path
    client: Client
    first_migration: list[str]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    path = tmp_path_factory.mktemp("chdb")
    client = connect(f"chdb://{path}")
    try:
        yield Store(path, client, migrate(client))
    finally:
        client.close()  # frees the engine for other modules' directories


@pytest.fixture()
def client(store: Store) -> Client:
    for table in TABLES:
        store.client.command(f"TRUNCATE TABLE sqm.{table}")
    return store.client


def no_sleep(_: float) -> None:
    return None


def event_row(event_id: str = "e1", **changes: Any) -> dict[str, Any]:
    row = {
        "event_id": event_id,
        "type": "contact.created",
        "occurred_at": T0,
        "tenant_id": "t1",
        "contact_id": "c1",
        "customer_id": "u1",
        "channel": "chat",
        "queue": None,
        "agent_id": None,
        "sender": None,
        "raw": '{"x": 1}',
        "ingested_at": datetime(2024, 5, 1, 0, 31, tzinfo=UTC),
    }
    return row | changes


def contact_row(contact_id: str = "c1", version: int = 1, **changes: Any) -> dict[str, Any]:
    row = {
        "tenant_id": "t1",
        "contact_id": contact_id,
        "customer_id": "u1",
        "channel": "phone",
        "queue": "billing",
        "priority": "high",
        "order_id": None,
        "topic": "refund",
        "created_at": T0,
        "queued_at": T0,
        "answered_at": None,
        "first_agent_id": None,
        "abandoned_at": None,
        "wait_s": Decimal("12.345"),
        "sla_target_s": 60,
        "answered_in_sla": None,
        "is_abandoned": False,
        "is_short_abandon": False,
        "is_repeat": True,
        "resolved_at": None,
        "resolved_by": None,
        "bot_contained": False,
        "transferred_to_human": False,
        "csat": None,
        "nps": 9,
        "first_event_at": T0,
        "last_event_at": T0,
        "event_count": 3,
        "first_resolved_at": T0 + timedelta(minutes=5),
        "first_resolution_s": Decimal("300.000"),
        "resolution_s": None,
        "reopen_count": 1,
        "transfer_count": 2,
        "ratings": {"patience": 4, "professionalism": 5},
        "sla_clock": "business",
        "sla_start_at": T0,
        "sla_due_at": T0 + timedelta(hours=2),
        "first_response_s": None,
        "sla_outcome": None,
        "next_response_count": 2,
        "next_response_sum_s": Decimal("75.500"),
        "next_response_max_s": Decimal("60.000"),
        "next_response_missed": 1,
        "resolution_target_s": 86400,
        "resolution_in_sla": None,
        "handle_s": None,
        "surveyed_at": None,
        "policy_version": "2025-06-01.1",
        "version": version,
        "updated_at": T0,
    }
    return row | changes


def sla_row(shard: int = 0, version: int = 1, **changes: Any) -> dict[str, Any]:
    row = {
        "window_start": datetime(2024, 5, 1, 8, 30, tzinfo=PLUS8),
        "tenant_id": "t1",
        "channel": "chat",
        "queue": "billing",
        "priority": "normal",
        "shard": shard,
        "offered": 5,
        "answered": 4,
        "answered_in_sla": 3,
        "wait_s_sum": Decimal("41.250"),
        "abandoned": 1,
        "short_abandoned": 0,
        "created": 5,
        "repeat_contacts": 2,
        "sl_met": 3,
        "sl_missed": 2,
        "csat_count": 2,
        "csat_sum": 9,
        "csat_good": 2,
        "policy_version": "2025-06-01.1",
        "version": version,
        "updated_at": T0,
    }
    return row | changes


def dead_letter_row(dl_id: str = "sqm.events:0:42", **changes: Any) -> dict[str, Any]:
    row = {
        "dl_id": dl_id,
        "received_at": T0,
        "stage": "ingest",
        "reason": "invalid json",
        "topic": "sqm.events",
        "partition": 0,
        "offset": 42,
        "event_id": None,
        "tenant_id": None,
        "raw": "{not json \ufffd",
        "raw_truncated": False,
    }
    return row | changes


def read_final(client: Client, table: str, order_by: str) -> list[dict[str, Any]]:
    return list(
        client.query(f"SELECT * FROM sqm.{table} FINAL ORDER BY {order_by}").named_results()
    )


class CountingClient:
    """Wraps the real client; counts calls and makes the first `fail` inserts raise `error`."""

    def __init__(self, real: Client, error: Exception | None = None, fail: int = 0) -> None:
        self.real, self.error, self.fail = real, error, fail
        self.inserts = 0
        self.describes = 0
        self.insert_threads: list[int] = []

    def create_insert_context(self, *args: Any, **kwargs: Any) -> Any:
        self.describes += 1
        return self.real.create_insert_context(*args, **kwargs)

    def insert(self, *args: Any, **kwargs: Any) -> Any:
        self.inserts += 1
        self.insert_threads.append(threading.get_ident())
        if self.error is not None and self.inserts <= self.fail:
            raise self.error
        return self.real.insert(*args, **kwargs)


# --- migrations and schema -------------------------------------------------------------------


def test_migrations_apply_once_then_nothing(store: Store) -> None:
    names = ["0001_init", "0002_alerts", "0003_windows", "0004_contact_resolution",
             "0005_contact_ratings", "0006_quantiles",
             "0007_scorecard", "0008_sla_policy",
             "0009_agents_and_responses", "0010_scorecard_policy_clock",
             "0011_scorecard_scores", "0012_dropped_corrections", "0013_staffing",
             "0014_replay_runs"]
    assert store.first_migration == [m.name for m in load_migrations()] == names
    assert migrate(store.client) == []
    rows = store.client.query(
        "SELECT version, name, checksum FROM sqm.schema_migrations FINAL ORDER BY version"
    ).result_rows
    assert rows == [(i + 1, m.name, m.checksum) for i, m in enumerate(load_migrations())]


EXPECTED_COLUMNS: dict[str, str] = {
    "replay_runs": "file_key String, file String, lines_done UInt64, finished Bool, "
    "generation UInt64, started_at DateTime64(3, 'UTC'), version UInt64, "
    "updated_at DateTime64(3, 'UTC')",
    "dropped_corrections": "window_start DateTime('UTC'), tenant_id String, "
    "channel LowCardinality(String), queue String, priority LowCardinality(String), "
    "shard UInt16, source_offset UInt64, offered Int32, answered Int32, answered_in_sla Int32, "
    "wait_s_sum Decimal(18, 3), abandoned Int32, short_abandoned Int32, created Int32, "
    "repeat_contacts Int32, sl_met Int32, sl_missed Int32, csat_count Int32, csat_sum Int32, "
    "csat_good Int32, recorded_at DateTime64(3, 'UTC')",
    "events": "event_id String, type LowCardinality(String), occurred_at DateTime64(3, 'UTC'), "
    "tenant_id String, contact_id String, customer_id String, channel LowCardinality(String), "
    "queue Nullable(String), agent_id Nullable(String), sender LowCardinality(Nullable(String)), "
    "raw String, ingested_at DateTime64(3, 'UTC')",
    "contacts": "tenant_id String, contact_id String, customer_id String, "
    "channel LowCardinality(String), queue String, priority LowCardinality(String), "
    "order_id Nullable(String), topic Nullable(String), "
    "created_at Nullable(DateTime64(3, 'UTC')), queued_at Nullable(DateTime64(3, 'UTC')), "
    "answered_at Nullable(DateTime64(3, 'UTC')), first_agent_id Nullable(String), "
    "abandoned_at Nullable(DateTime64(3, 'UTC')), wait_s Nullable(Decimal(18, 3)), "
    "sla_target_s UInt32, answered_in_sla Nullable(Bool), is_abandoned Bool, "
    "is_short_abandon Bool, is_repeat Bool, resolved_at Nullable(DateTime64(3, 'UTC')), "
    "resolved_by LowCardinality(Nullable(String)), bot_contained Bool, "
    "transferred_to_human Bool, csat Nullable(UInt8), nps Nullable(UInt8), "
    "first_event_at DateTime64(3, 'UTC'), last_event_at DateTime64(3, 'UTC'), "
    "event_count UInt32, first_resolved_at Nullable(DateTime64(3, 'UTC')), "
    "first_resolution_s Nullable(Decimal(18, 3)), resolution_s Nullable(Decimal(18, 3)), "
    "reopen_count UInt16, transfer_count UInt16, ratings Map(String, UInt8), "
    "sla_clock LowCardinality(String), sla_start_at Nullable(DateTime64(3, 'UTC')), "
    "sla_due_at Nullable(DateTime64(3, 'UTC')), first_response_s Nullable(Decimal(18, 3)), "
    "sla_outcome LowCardinality(Nullable(String)), next_response_count UInt32, "
    "next_response_sum_s Decimal(18, 3), next_response_max_s Nullable(Decimal(18, 3)), "
    "next_response_missed Nullable(UInt32), resolution_target_s Nullable(UInt32), "
    "resolution_in_sla Nullable(Bool), handle_s Nullable(Decimal(18, 3)), "
    "surveyed_at Nullable(DateTime64(3, 'UTC')), policy_version LowCardinality(String), "
    "version UInt64, updated_at DateTime64(3, 'UTC')",
    "sla_1m": "window_start DateTime('UTC'), tenant_id String, channel LowCardinality(String), "
    "queue String, priority LowCardinality(String), shard UInt16, offered UInt32, "
    "answered UInt32, answered_in_sla UInt32, wait_s_sum Decimal(18, 3), abandoned UInt32, "
    "short_abandoned UInt32, created UInt32, repeat_contacts UInt32, sl_met UInt32, "
    "sl_missed UInt32, csat_count UInt32, csat_sum UInt32, csat_good UInt32, "
    "policy_version LowCardinality(String), version UInt64, updated_at DateTime64(3, 'UTC')",
    "dead_letters": "dl_id String, received_at DateTime64(3, 'UTC'), "
    "stage LowCardinality(String), reason String, topic String, partition Int32, "
    "offset Int64, event_id Nullable(String), tenant_id Nullable(String), raw String, "
    "raw_truncated Bool",
    "alerts": "alert_id String, rule_id String, kind LowCardinality(String), "
    "severity LowCardinality(String), state LowCardinality(String), "
    "metric LowCardinality(String), tenant_id String, channel String, queue String, "
    "priority String, agent_id String, contact_id Nullable(String), value Float64, "
    "threshold Float64, started_at DateTime64(3, 'UTC'), "
    "ended_at Nullable(DateTime64(3, 'UTC')), message String, version UInt64, "
    "updated_at DateTime64(3, 'UTC')",
    "schema_migrations": "version UInt32, name String, checksum String, "
    "applied_at DateTime64(3, 'UTC')",
    "scorecard_scores": "period_start DateTime64(3, 'UTC'), period_end DateTime64(3, 'UTC'), "
    "goal LowCardinality(String), entity_kind LowCardinality(String), tenant_id String, "
    "entity String, indicator LowCardinality(String), dimension LowCardinality(String), "
    "value Nullable(Float64), n UInt32, target Float64, weight Float64, "
    "indicator_score Nullable(Float64), status LowCardinality(String), score Nullable(Float64), "
    "coverage Float64, fcr_provisional UInt32, policy_version LowCardinality(String), "
    "computed_at DateTime64(3, 'UTC')",
    "sla_1m_total": "window_start DateTime('UTC'), tenant_id String, "
    "channel LowCardinality(String), queue String, priority LowCardinality(String), "
    "offered UInt64, answered UInt64, answered_in_sla UInt64, wait_s_sum Decimal(38, 3), "
    "abandoned UInt64, short_abandoned UInt64, created UInt64, repeat_contacts UInt64, "
    "sl_met UInt64, sl_missed UInt64, csat_count UInt64, csat_sum UInt64, csat_good UInt64, "
    "updated_at DateTime64(3, 'UTC')",
    "staffing_15m": "interval_start DateTime('UTC'), tenant_id String, "
    "channel LowCardinality(String), queue String, offered UInt64, arrival_rate_per_s Float64, "
    "handled UInt64, handle_s_avg Nullable(Float64), target_answer_s Nullable(UInt32), "
    "service_level_goal Float64, load_erlangs Nullable(Float64), "
    "agents_needed Nullable(UInt64), agents_actual UInt64, agents_gap Nullable(Int64), "
    "modelled_service_level Nullable(Float64), service_level Nullable(Float64), "
    "abandoned UInt64, queue_time_s Float64, patience_s Nullable(Float64)",
}


def test_tables_have_exactly_the_documented_columns(store: Store) -> None:
    rows = store.client.query(
        "SELECT table, groupArray(concat(name, ' ', type)) FROM "
        "(SELECT table, name, type FROM system.columns WHERE database = 'sqm' "
        "ORDER BY table, position) GROUP BY table"
    ).result_rows
    assert {table: ", ".join(cols) for table, cols in rows} == EXPECTED_COLUMNS


def test_tables_are_replacing_merge_trees_with_the_documented_keys(store: Store) -> None:
    rows = store.client.query(
        "SELECT name, engine_full FROM system.tables WHERE database = 'sqm' AND engine != 'View'"
    ).result_rows
    engines = {name: full.split(" SETTINGS ")[0] for name, full in rows}
    assert engines == {
        "events": "ReplacingMergeTree PARTITION BY toYYYYMMDD(occurred_at) "
        "ORDER BY (tenant_id, occurred_at, event_id)",
        "contacts": "ReplacingMergeTree(version) ORDER BY (tenant_id, contact_id)",
        "sla_1m": "ReplacingMergeTree(version) PARTITION BY toYYYYMM(window_start) "
        "ORDER BY (tenant_id, channel, queue, priority, window_start, shard)",
        "dead_letters": "ReplacingMergeTree PARTITION BY toYYYYMM(received_at) ORDER BY dl_id",
        "schema_migrations": "ReplacingMergeTree ORDER BY version",
        "alerts": "ReplacingMergeTree(version) PARTITION BY toYYYYMM(started_at) ORDER BY alert_id",
        "scorecard_scores": "ReplacingMergeTree(computed_at) ORDER BY (tenant_id, entity_kind, "
        "goal, period_start, period_end, entity, indicator)",
        "dropped_corrections": "ReplacingMergeTree ORDER BY (shard, source_offset, tenant_id, "
        "channel, queue, priority, window_start)",
        "replay_runs": "ReplacingMergeTree(version) ORDER BY file_key",
    }


# --- writer: round trips and replays ---------------------------------------------------------


def test_round_trip_every_table_with_nulls_aware_times_and_decimals(client: Client) -> None:
    answered = contact_row(
        "c2",
        answered_at=T0 + timedelta(seconds=12),
        first_agent_id="a1",
        answered_in_sla=True,
        csat=5,
        resolved_by="bot",
        order_id="o-9",
    )
    batch = {
        "events": [
            event_row("e1"),
            event_row("e2", queue="billing", agent_id="a1", sender="agent"),
        ],
        "contacts": [contact_row("c1"), answered],
        "sla_1m": [sla_row()],
        "dead_letters": [
            dead_letter_row(),
            dead_letter_row(
                "sqm.events:1:7", stage="late", event_id="e9", tenant_id="t1", raw_truncated=True
            ),
        ],
    }
    ClickHouseWriter(client).write(batch)

    read = {
        "events": read_final(client, "events", "event_id"),
        "contacts": read_final(client, "contacts", "contact_id"),
        "sla_1m": read_final(client, "sla_1m", "shard"),
        "dead_letters": read_final(client, "dead_letters", "dl_id"),
    }
    assert read == batch  # aware datetimes compare by instant; labels are checked below
    for rows in read.values():
        for row in rows:
            for value in row.values():
                if isinstance(value, datetime):
                    assert value.tzinfo is not None and value.utcoffset() == timedelta(0)
    assert read["contacts"][0]["created_at"] == T0_UTC
    assert str(read["contacts"][0]["created_at"]) == "2024-05-01 00:30:15.123000+00:00"
    assert str(read["sla_1m"][0]["window_start"]) == "2024-05-01 00:30:00+00:00"
    assert read["contacts"][0]["wait_s"] == Decimal("12.345")
    assert read["contacts"][0]["answered_at"] is None
    assert read["contacts"][1]["answered_in_sla"] is True


def test_same_batch_twice_leaves_one_row_per_key(client: Client) -> None:
    batch = {
        "events": [event_row("e1"), event_row("e2")],
        "contacts": [contact_row("c1"), contact_row("c2")],
        "sla_1m": [sla_row(0), sla_row(1)],
        "dead_letters": [dead_letter_row("d1"), dead_letter_row("d2")],
    }
    writer = ClickHouseWriter(client)
    writer.write(batch)
    writer.write(batch)
    for table in TABLES:
        assert client.command(f"SELECT count() FROM sqm.{table} FINAL") == 2, table


def test_higher_version_replaces_lower_in_any_arrival_order(client: Client) -> None:
    writer = ClickHouseWriter(client)
    writer.write(
        {
            "contacts": [contact_row("c1", version=2, is_abandoned=True)],
            "sla_1m": [sla_row(0, version=2, offered=9)],
        }
    )
    writer.write(
        {
            "contacts": [contact_row("c1", version=1), contact_row("c2", version=1)],
            "sla_1m": [sla_row(0, version=1), sla_row(1, version=1, offered=1)],
        }
    )
    writer.write({"contacts": [contact_row("c2", version=3, is_repeat=False)]})
    contacts = read_final(client, "contacts", "contact_id")
    assert [(r["contact_id"], r["version"]) for r in contacts] == [("c1", 2), ("c2", 3)]
    assert contacts[0]["is_abandoned"] is True and contacts[1]["is_repeat"] is False
    # The view sums the FINAL shard rows: 9 (shard 0, version 2) + 1 (shard 1).
    total = client.query("SELECT offered, wait_s_sum FROM sqm.sla_1m_total").result_rows
    assert total == [(10, Decimal("82.500"))]


def test_rows_of_one_key_in_one_insert_are_collapsed_by_reads_not_at_insert(
    client: Client,
) -> None:
    """Inserts skip collapsing within the block (`optimize_on_insert=0`: part of their cost);
    FINAL still reads the highest version, in row and column form, in either order."""
    writer = ClickHouseWriter(client)
    writer.write({"contacts": [contact_row("c1", version=3, is_abandoned=True),
                               contact_row("c1", version=1)]})
    writer.write({"contacts": as_columns([contact_row("c2", version=1),
                                          contact_row("c2", version=2, is_repeat=False)])})
    assert client.command("SELECT count() FROM sqm.contacts") == 4  # both rows of each kept
    contacts = read_final(client, "contacts", "contact_id")
    assert [(r["contact_id"], r["version"]) for r in contacts] == [("c1", 3), ("c2", 2)]
    assert contacts[0]["is_abandoned"] is True and contacts[1]["is_repeat"] is False
    # chDB's inserts also run on one thread (it shares this process's cores); not a server's.
    assert in_process(client) and not in_process(object())


def test_rows_with_differing_columns_are_rejected(client: Client) -> None:
    row = contact_row()
    del row["csat"]
    with pytest.raises(SinkError, match="csat"):
        ClickHouseWriter(client).write({"contacts": [contact_row(), row]})


def test_example_queries_in_the_schema_doc_run_and_sum_shards(client: Client) -> None:
    doc = (Path(__file__).parents[2] / "docs" / "schema.md").read_text()
    queries = re.findall(r"```sql\n(.*?)```", doc, re.DOTALL)
    assert len(queries) >= 4
    ClickHouseWriter(client).write(
        {"sla_1m": [sla_row(0), sla_row(1)], "contacts": [contact_row("c1"), contact_row("c2")]}
    )
    params = {
        "tenant": "t1",
        "from": datetime(2024, 5, 1, tzinfo=UTC),
        "to": datetime(2024, 5, 2, tzinfo=UTC),
    }
    results = [client.query(sql, parameters=params).named_results() for sql in queries]
    service_level = list(results[0])
    # Two shards, each: 3 in SLA of 4 answered + 1 abandoned (none short) -> 6 / 10.
    assert [(r["channel"], r["service_level"]) for r in service_level] == [("chat", 0.6)]
    assert [r["repeat_rate"] for r in results[1]] == [0.4]  # 2 repeats of 5 created, twice


def test_naive_datetimes_are_refused(client: Client) -> None:
    naive = datetime(2024, 5, 1, 0, 30)  # noqa: DTZ001 - the point of the test
    with pytest.raises(SinkError, match="updated_at needs timezone-aware"):
        ClickHouseWriter(client).write({"contacts": [contact_row(updated_at=naive)]})


def as_columns(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Row dicts → the writer's column form: times as epoch ms."""
    def ms(value: Any) -> Any:
        if isinstance(value, datetime):
            return (value - EPOCH) // timedelta(milliseconds=1)
        return value

    return {column: [ms(row[column]) for row in rows] for column in rows[0]}


def test_column_form_stores_the_same_rows_as_row_dicts(client: Client) -> None:
    from sqm.sinks.writer import _json_columns

    answered = contact_row("c2", answered_at=T0 + timedelta(seconds=12), first_agent_id="a1",
                           answered_in_sla=True, csat=5, resolved_by="bot", wait_s=None)
    batch = {
        "events": [event_row("e1"), event_row("e2", queue="billing", sender="agent")],
        "contacts": [contact_row("c1"), answered],
        # window_start is DateTime('UTC'), whole seconds: ms are floored like datetimes.
        "sla_1m": [sla_row(0), sla_row(1, window_start=T0, wait_s_sum=Decimal("0.001"))],
    }
    orders = {"events": "event_id", "contacts": "contact_id", "sla_1m": "shard"}
    writer = ClickHouseWriter(client)
    writer.write(batch)
    from_rows = {t: read_final(client, t, order) for t, order in orders.items()}
    for table in orders:
        client.command(f"TRUNCATE TABLE sqm.{table}")
    columns = {table: as_columns(rows) for table, rows in batch.items()}
    for table, cols in columns.items():  # all three go in as JSON (sinks.writer._json_columns)
        types = writer._column_types(table, list(cols))
        assert _json_columns(table, list(cols), list(cols.values()), types) is not None, table
    writer.write(columns)
    assert {t: read_final(client, t, order) for t, order in orders.items()} == from_rows
    assert from_rows["sla_1m"][1]["window_start"] == datetime(2024, 5, 1, 0, 30, 15, tzinfo=UTC)


def test_json_column_inserts_store_exactly_what_the_native_encoding_stores(
        client: Client) -> None:
    """Column-form tables whose types allow it go in as JSONCompactColumns (parsed by
    ClickHouse, not encoded in Python): awkward strings, NULLs and every millisecond must read
    back exactly as through the driver's Native encoding."""
    from sqm.sinks.writer import _json_columns
    from sqm.streams.core.alerting.changes import AlertChange

    tricky = ['{"q": "a \\"b\\" \\\\ c"}', "line\nbreak\ttab", "é中文🙂", "", "\u0001nul\u0000"]
    events = [
        event_row(f"e{i}", occurred_at=T0 + timedelta(milliseconds=ms), raw=raw,
                  queue=None if i % 2 else "billing", agent_id="a'1" if i % 3 else None,
                  sender=None if i % 2 else "agent")
        for i, (ms, raw) in enumerate(zip([0, 1, 999, 123_456_789, 86_399_999], tricky,
                                          strict=True))
    ]
    change = AlertChange("id1", "r1", "threshold", "critical", "firing", "service_level", "t1",
                         "chat", "", "", "", None, 0.1 + 0.2, 0.8, 1_714_523_400_001, None,
                         "service level 30.0 % < 80 %", 1, 1_714_523_400_999)
    resolved = AlertChange(**{**change.to_dict(), "alert_id": "id2", "state": "resolved",
                              "version": 3, "ended_at": 1_714_523_460_000, "contact_id": "c'9",
                              "value": 1e-7})
    writer = ClickHouseWriter(client)
    native = {"events": events,
              "alerts": [c.to_row() for c in (change, resolved)]}
    writer.write(native)
    expected = {"events": read_final(client, "events", "event_id"),
                "alerts": read_final(client, "alerts", "version")}
    for table in expected:
        client.command(f"TRUNCATE TABLE sqm.{table}")
    columns = {"events": as_columns(events),
               "alerts": {k: [c.to_dict()[k] for c in (change, resolved)]
                          for k in change.to_dict()}}
    for table, cols in columns.items():  # the JSON path is the one taken
        types = writer._column_types(table, list(cols))
        assert _json_columns(table, list(cols), list(cols.values()), types) is not None, table
    writer.write(columns)
    assert {t: read_final(client, t, o) for t, o in (("events", "event_id"),
                                                      ("alerts", "version"))} == expected
    assert expected["alerts"][0]["value"] == 0.1 + 0.2


def test_json_decimals_and_times_are_exact_over_their_range(client: Client) -> None:
    """Decimal(18, 3) goes in as the nearest double and DateTime64(3) as seconds with three
    decimals: ClickHouse must read back exactly the digits written, for any value."""
    import random

    rng = random.Random(7)
    n = 20_000
    sums = [Decimal(rng.randrange(0, 10**15)).scaleb(-3) for _ in range(n)] + [
        Decimal("0.001"), Decimal("0.000"), Decimal("999999999999.999")]
    stamps = [rng.randrange(0, 4_102_444_800_000) for _ in sums]
    rows = [sla_row(i, wait_s_sum=s, updated_at=EPOCH + timedelta(milliseconds=ms))
            for i, (s, ms) in enumerate(zip(sums, stamps, strict=True))]
    ClickHouseWriter(client).write({"sla_1m": as_columns(rows)})
    got = client.query("SELECT shard, toString(wait_s_sum), toUnixTimestamp64Milli(updated_at) "
                       "FROM sqm.sla_1m FINAL ORDER BY shard").result_rows
    assert [(Decimal(s), ms) for _, s, ms in got] == list(zip(sums, stamps, strict=True))


def test_column_form_refuses_datetimes_and_ragged_columns(client: Client) -> None:
    writer = ClickHouseWriter(client)
    columns = as_columns([contact_row()])
    with pytest.raises(SinkError, match="updated_at takes epoch milliseconds"):
        writer.write({"contacts": columns | {"updated_at": [T0]}})
    events = as_columns([event_row()])  # the JSON path checks as the Native one does
    with pytest.raises(SinkError, match="occurred_at takes epoch milliseconds"):
        writer.write({"events": events | {"occurred_at": [T0]}})
    with pytest.raises(SinkError, match="columns differ in length"):
        writer.write({"contacts": columns | {"csat": [1, 2]}})
    writer.write({"contacts": {c: [] for c in columns}})  # no rows: nothing to insert
    assert client.command("SELECT count() FROM sqm.contacts") == 0


# --- writer: errors and retries --------------------------------------------------------------


def test_server_error_raises_sink_error_with_code_without_retrying(client: Client) -> None:
    counting = CountingClient(client)
    writer = ClickHouseWriter(counting, sleep=no_sleep)  # type: ignore[arg-type]
    # A view accepts DESCRIBE but the server refuses the insert itself: NOT_IMPLEMENTED (48).
    view_row = {k: v for k, v in sla_row().items()
                if k not in ("shard", "version", "policy_version")}
    with pytest.raises(SinkError) as caught:
        writer.write({"sla_1m_total": [view_row]})
    assert (caught.value.code, caught.value.name, caught.value.table) == (
        48,
        "NOT_IMPLEMENTED",
        "sqm.sla_1m_total",
    )
    assert counting.inserts == 1

    with pytest.raises(SinkError) as caught:
        writer.write({"no_such_table": [{"a": 1}]})
    assert caught.value.code == 60 and counting.describes == 2


def test_unknown_column_raises_at_once(client: Client) -> None:
    counting = CountingClient(client)
    writer = ClickHouseWriter(counting, sleep=no_sleep)  # type: ignore[arg-type]
    with pytest.raises(SinkError, match="no_such_column"):
        writer.write({"events": [event_row(no_such_column=1)]})
    assert counting.inserts == 0 and counting.describes == 1


@pytest.mark.parametrize(
    "error",
    [
        OperationalError("Error HTTPConnectionPool: Connection refused executing HTTP request"),
        DatabaseError(
            "Code: 252. Too many parts (TOO_MANY_PARTS)", code=252, name="TOO_MANY_PARTS"
        ),
    ],
    ids=["connection-refused", "too-many-parts"],
)
def test_transient_failure_is_retried_with_backoff(client: Client, error: Exception) -> None:
    counting = CountingClient(client, error, fail=2)
    delays: list[float] = []
    writer = ClickHouseWriter(counting, sleep=delays.append)  # type: ignore[arg-type]
    writer.write({"contacts": [contact_row()]})
    assert counting.inserts == 3
    assert len(delays) == 2 and 0.1 <= delays[0] <= 0.2 and 0.2 <= delays[1] <= 0.4
    assert client.command("SELECT count() FROM sqm.contacts FINAL") == 1


def test_retries_are_bounded(client: Client) -> None:
    error = DatabaseError("Code: 159. Timeout exceeded", code=159, name="TIMEOUT_EXCEEDED")
    counting = CountingClient(client, error, fail=100)
    policy = RetryPolicy(attempts=4, base_delay_s=1.0, max_delay_s=2.0)
    delays: list[float] = []
    writer = ClickHouseWriter(counting, retry=policy, sleep=delays.append)  # type: ignore[arg-type]
    with pytest.raises(SinkError, match="gave up after 4 attempts") as caught:
        writer.write({"contacts": [contact_row()]})
    assert caught.value.code == 159 and counting.inserts == 4
    assert len(delays) == 3 and max(delays) <= 2.0


@pytest.mark.parametrize(
    ("status", "header_code", "body", "retried", "expected"),
    [
        (502, None, "Bad Gateway", False, "HTTP 502"),
        (503, None, "Service Unavailable", True, "HTTP 503"),
        (504, None, "Gateway Timeout", False, "HTTP 504"),
        (500, "252", "Code: 252. Too many parts (TOO_MANY_PARTS)", False, "TOO_MANY_PARTS"),
        (500, "319", "Code: 319. (UNKNOWN_STATUS_OF_INSERT)", False, "UNKNOWN_STATUS_OF_INSERT"),
        (400, "62", "Code: 62. Syntax error (SYNTAX_ERROR)", False, None),
        (404, "60", "Code: 60. Unknown table (UNKNOWN_TABLE)", False, None),
        (401, None, "Unauthorized", False, None),
    ],
)
def test_http_errors_are_classified_as_the_driver_raises_them(
    status: int, header_code: str | None, body: str, retried: bool, expected: str | None
) -> None:
    error = build_http_error(status, header_code, body, True, "https://ch:8443", retried)
    assert transient_reason(error) == expected


def test_write_async_runs_in_a_worker_thread(client: Client) -> None:
    counting = CountingClient(client)
    writer = ClickHouseWriter(counting)  # type: ignore[arg-type]

    async def main() -> int:
        await asyncio.gather(
            writer.write_async({"contacts": [contact_row("c1")]}),
            writer.write_async({"events": [event_row("e1")]}),
        )
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    assert counting.inserts == 2 and loop_thread not in counting.insert_threads
    assert client.command("SELECT count() FROM sqm.contacts FINAL") == 1


# --- connecting ------------------------------------------------------------------------------


def test_directory_locked_by_another_process(store: Store) -> None:
    # This process holds the store; a second process trying to open it must get a StoreError.
    code = "from sqm.sinks.clickhouse import connect\nimport sys\nconnect(sys.argv[1])"
    done = subprocess.run(
        [sys.executable, "-c", code, f"chdb://{store.path}"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parents[2],
    )
    assert done.returncode == 1
    assert (
        f"StoreError: store {os.path.realpath(store.path)} is in use by another process "
        f"(pid {os.getpid()}"
    ) in done.stderr


def test_second_directory_in_this_process_is_refused(store: Store, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="already runs chDB on"):
        connect(f"chdb://{tmp_path}")
    assert store.client.command("SELECT 1") == 1  # the open store is unharmed


def test_unreachable_server_is_a_store_error_without_the_password() -> None:
    with pytest.raises(StoreError, match="is unreachable") as caught:
        connect("http://bob:s3cret@127.0.0.1:1/sqm")
    assert "s3cret" not in str(caught.value) and "bob@127.0.0.1:1/sqm" in str(caught.value)


def test_bad_store_urls() -> None:
    for url in ("chdb://relative/dir", "ftp://host/sqm"):
        with pytest.raises(StoreError):
            connect(url)


def test_rows_from_before_the_policy_columns_read_as_contract_v1(client: Client) -> None:
    """Migration 0008's DEFAULT expressions: a row written without the policy columns (an
    older sqm, contract v1's policy) reads the outcome, clock and counters v1 implies."""
    client.command("""
        INSERT INTO sqm.contacts (tenant_id, contact_id, queued_at, answered_at, abandoned_at,
                                  wait_s, sla_target_s, answered_in_sla, is_short_abandon, version)
        VALUES ('t1', 'met', '2026-03-02 09:00:00', '2026-03-02 09:00:20', NULL, 20, 30, true,
                false, 1),
               ('t1', 'left', '2026-03-02 09:00:00', NULL, '2026-03-02 09:01:00', NULL, 30,
                NULL, false, 1),
               ('t1', 'short', '2026-03-02 09:00:00', NULL, '2026-03-02 09:00:02', NULL, 30,
                NULL, true, 1),
               ('t1', 'open', '2026-03-02 09:00:00', NULL, NULL, NULL, 30, NULL, false, 1)""")
    rows = client.query("""
        SELECT contact_id, sla_outcome, first_response_s, toString(sla_start_at),
               toString(sla_due_at), sla_clock, policy_version
        FROM sqm.contacts FINAL ORDER BY contact_id""").result_rows
    start, due = "2026-03-02 09:00:00.000", "2026-03-02 09:00:30.000"
    assert rows == [
        ("left", "missed", None, start, due, "calendar", "default"),
        ("met", "met", Decimal("20.000"), start, due, "calendar", "default"),
        ("open", None, None, start, due, "calendar", "default"),
        ("short", "excluded", None, start, due, "calendar", "default"),
    ]
    client.command("""
        INSERT INTO sqm.sla_1m (window_start, tenant_id, channel, queue, priority, shard, answered,
                                answered_in_sla, abandoned, short_abandoned, version)
        VALUES ('2026-03-02 09:00:00', 't1', 'chat', 'q', 'normal', 0, 4, 3, 3, 1, 1)""")
    assert client.query(
        "SELECT sl_met, sl_missed, csat_count FROM sqm.sla_1m FINAL").result_rows == [(3, 3, 0)]
