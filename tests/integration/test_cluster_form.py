"""The cluster form of every migration (sinks/cluster.py), as far as chDB allows.

chDB has no Keeper and no clusters: `Replicated*` tables are refused ("Can't create replicated
table without ZooKeeper"), `{shard}` macros are unknown and `ON CLUSTER` / `Distributed` name a
cluster that does not exist. So each statement of the cluster form is (1) parsed by ClickHouse's
own parser (`formatQuery`) and checked for what it must contain, and (2) applied through a
single-node stand-in: `ON CLUSTER` dropped, each Replicated engine replaced by its plain twin
and each Distributed table by a `Merge` table over the same local table. The resulting schema
must have the columns of the plain one in both the `_local` and the reading tables.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from clickhouse_connect.driver import Client

from sqm.sinks.clickhouse import connect
from sqm.sinks.cluster import ClusterFormError, cluster_statements
from sqm.sinks.migrations import Migration, MigrationError, load_migrations, migrate, statements_for
from sqm.streams.config import Settings
from sqm.streams.store import open_store

pytestmark = pytest.mark.integration

CLUSTER = "sqm_cluster"
ZK = "'/clickhouse/tables/{shard}/{database}/{table}', '{replica}'"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chdb")


@pytest.fixture(scope="module")
def client(store: Path) -> Iterator[Client]:
    c = connect(f"chdb://{store}")
    try:
        yield c
    finally:
        c.close()


def formatted(client: Client, statement: str) -> str:
    """The statement as ClickHouse's parser reads it (raises on a syntax error)."""
    out = client.query("SELECT formatQuery({q:String})", parameters={"q": statement})
    return " ".join(str(out.result_rows[0][0]).split())


def columns(client: Client) -> dict[str, list[tuple[str, str]]]:
    rows = client.query("SELECT table, name, type FROM system.columns WHERE database = 'sqm' "
                        "ORDER BY table, position").result_rows
    out: dict[str, list[tuple[str, str]]] = {}
    for table, name, type_ in rows:
        out.setdefault(table, []).append((name, type_))
    return out


def stand_in(statement: str) -> str:
    s = statement.replace(f" ON CLUSTER {CLUSTER}", "")
    s = re.sub(r"Replicated(\w*MergeTree)\(" + re.escape(ZK) + r"(?:, )?", r"\1(", s)
    return re.sub(rf"Distributed\({CLUSTER}, sqm, (\w+), .*\)$", r"Merge(sqm, '^\1$')", s)


def test_every_statement_of_the_cluster_form_parses_and_says_what_it_must(
        client: Client) -> None:
    tables = 0
    for migration in load_migrations():
        plain = migration.statements
        clustered = statements_for(migration, CLUSTER)
        assert len(clustered) >= len(plain)
        for statement in clustered:
            text = formatted(client, statement)
            assert f"ON CLUSTER {CLUSTER}" in text, (migration.name, text[:120])
            assert not re.search(r"ENGINE = (?!Replicated|Distributed)\w*MergeTree", text)
        for statement in plain:
            create = re.match(r"CREATE TABLE IF NOT EXISTS sqm\.(\w+)", statement)
            if create is None:
                continue
            tables += 1
            table = create.group(1)
            order = re.search(r"ORDER BY (\(.*?\)|\w+)", statement)
            assert order is not None
            key = order.group(1) if order.group(1).startswith("(") else f"({order.group(1)})"
            local, dist = (formatted(client, s) for s in cluster_statements(statement, CLUSTER))
            assert local.startswith(f"CREATE TABLE IF NOT EXISTS sqm.{table}_local ON CLUSTER")
            engine = re.search(r"ENGINE = (\w+)", statement)
            assert engine is not None
            assert f"ENGINE = Replicated{engine.group(1)}({ZK}" in local
            assert dist == (f"CREATE TABLE IF NOT EXISTS sqm.{table} ON CLUSTER {CLUSTER} AS "
                            f"sqm.{table}_local ENGINE = Distributed({CLUSTER}, sqm, "
                            f"{table}_local, cityHash64{key})")
    assert tables == 9  # every table the migrations create has its pair


def test_contacts_are_sharded_by_tenant_and_contact(client: Client) -> None:
    init = load_migrations()[0]
    contacts = next(s for s in init.statements if "sqm.contacts" in s.split("\n")[0])
    _, dist = cluster_statements(contacts, CLUSTER)
    assert dist.endswith("cityHash64(tenant_id, contact_id))")
    assert "ReplicatedReplacingMergeTree(" + ZK + ", version)" in cluster_statements(
        contacts, CLUSTER)[0]


def test_the_stand_in_schema_has_the_plain_columns(client: Client) -> None:
    migrate(client)
    plain = columns(client)
    client.command("DROP DATABASE sqm SYNC")
    try:
        for migration in load_migrations():
            for statement in statements_for(migration, CLUSTER):
                client.command(stand_in(statement))
        clustered = columns(client)
        for table, cols in plain.items():
            assert clustered[table] == cols, table
            engine = client.command(f"SELECT engine FROM system.tables WHERE database = 'sqm' "
                                    f"AND name = '{table}'")
            if engine == "Merge":
                assert clustered[f"{table}_local"] == cols, table
        # A view reads through the reading table, FINAL included.
        client.command("INSERT INTO sqm.sla_1m_local (window_start, tenant_id, offered, version)"
                       " VALUES ('2026-01-01 00:00:00', 't', 3, 1), "
                       "('2026-01-01 00:00:00', 't', 5, 2)")
        assert client.command("SELECT offered FROM sqm.sla_1m_total") == 5
    finally:
        client.command("DROP DATABASE IF EXISTS sqm SYNC")


def test_an_unknown_statement_form_is_refused() -> None:
    with pytest.raises(ClusterFormError, match=r"no cluster form for `DROP TABLE sqm\.x`"):
        cluster_statements("DROP TABLE sqm.x", CLUSTER)
    odd = Migration(99, "0099_odd", "RENAME TABLE sqm.a TO sqm.b;\n", "0")
    with pytest.raises(MigrationError, match=r"^migration 0099_odd: no cluster form"):
        statements_for(odd, CLUSTER)
    assert statements_for(odd, None) == ["RENAME TABLE sqm.a TO sqm.b"]


def test_a_reset_drops_the_database_on_every_node(client: Client, store: Path) -> None:
    """The reset's DROP carries ON CLUSTER: chDB refuses any (a plain DROP would succeed), so
    the database is still there. The same directory, so the engine already open serves it."""
    migrate(client)
    settings = Settings(clickhouse_url=f"chdb://{store}", clickhouse_cluster=CLUSTER)
    with pytest.raises(Exception, match="Replicated DDL queries are disabled"):
        open_store(settings, reset=True)
    assert client.command("EXISTS DATABASE sqm") == 1
