"""Access control (deploy/clickhouse/access.sql, users.sh) checked on chDB as far as it goes.

chDB cannot run any of it: its only user directory is users.xml and its `default` user has no
access management, so CREATE ROLE / USER / ROW POLICY / QUOTA / SETTINGS PROFILE, SHOW ROLES and
system.roles all fail with ACCESS_DENIED (497), and custom settings (`SQL_*`) are unknown. Given
a users.xml granting `access_management` (connection parameter `config-file=`), the privilege
check passes but CREATE ROLE fails with "no writeable access storage in user directories" (514):
clickhouse-local ignores `<user_directories>`/`<local_directory>` and
`<custom_settings_prefixes>`. What is checked instead: every statement parses with ClickHouse's
own parser (`formatQuery`), every table it names exists in the migrated schema, every table
with a `tenant_id` column has both row policies, each policy's condition runs on its table
(with the tenant setting replaced by a literal) and keeps exactly that tenant's rows, and
users.sh sends parsable statements carrying the SHA-256 of each password. users.sh talks to a
`clickhouse` stub on PATH (no server can run here) that records what it is sent.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from pathlib import Path

import pytest
from clickhouse_connect.driver import Client

from sqm.sinks.cluster import access_for_cluster
from sqm.sinks.migrations import Migration

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ACCESS_SQL = ROOT / "deploy" / "clickhouse" / "access.sql"
USERS_SH = ROOT / "deploy" / "clickhouse" / "users.sh"
TENANT = "getSetting('SQL_sqm_tenant')"
_POLICY = re.compile(r"^CREATE ROW POLICY OR REPLACE (\w+) ON sqm\.(\w+) USING (.+) AS "
                     r"PERMISSIVE TO (.+)$")



def statements(sql: str) -> list[str]:
    return Migration(0, "access", sql, "").statements  # the migrations' own splitter


def formatted(client: Client, statement: str) -> str:
    out = client.query("SELECT formatQuery({q:String})", parameters={"q": statement})
    return " ".join(str(out.result_rows[0][0]).split())


def policies() -> dict[tuple[str, str], tuple[str, str]]:
    """(policy, table) -> (condition, to whom)."""
    found = {}
    for s in statements(ACCESS_SQL.read_text()):
        if m := _POLICY.match(s):
            found[(m.group(1), m.group(2))] = (m.group(3), m.group(4))
    return found


def tenant_tables(client: Client) -> set[str]:
    rows = client.query("SELECT c.table FROM system.columns AS c INNER JOIN system.tables AS t "
                        "ON c.database = t.database AND c.table = t.name WHERE c.database = "
                        "'sqm' AND c.name = 'tenant_id' AND t.engine NOT IN ('View')")
    return {r[0] for r in rows.result_rows}


def unguarded(client: Client) -> set[str]:
    """Tables with a tenant_id that lack either row policy: must be empty."""
    have = policies()
    return {t for t in tenant_tables(client)
            if have.get(("sqm_all", t)) != ("1", "ALL EXCEPT sqm_tenant_analyst")
            or have.get(("sqm_tenant", t)) != (f"tenant_id = {TENANT}", "sqm_tenant_analyst")}


def test_every_statement_parses(client: Client) -> None:
    found = statements(ACCESS_SQL.read_text())
    assert len(found) == 29
    for statement in found:
        assert formatted(client, statement)


def test_every_table_named_exists(client: Client) -> None:
    tables = {r[0] for r in client.query(
        "SELECT name FROM system.tables WHERE database = 'sqm'").result_rows}
    named = set(re.findall(r"\bON sqm\.(\w+)", ACCESS_SQL.read_text())) - {"*"}
    assert named and named <= tables, named - tables


def test_every_tenant_table_has_both_row_policies(client: Client) -> None:
    assert tenant_tables(client) == {"events", "contacts", "sla_1m", "dead_letters", "alerts",
                                     "scorecard_scores", "dropped_corrections"}
    assert unguarded(client) == set()
    # A new table with a tenant is caught until access.sql covers it.
    client.command("CREATE TABLE sqm.future (tenant_id String) ENGINE = MergeTree ORDER BY ()")
    try:
        assert unguarded(client) == {"future"}
    finally:
        client.command("DROP TABLE sqm.future")


def test_each_tenant_condition_keeps_exactly_that_tenants_rows(client: Client) -> None:
    for (name, table), (condition, _) in policies().items():
        client.command(f"CREATE TEMPORARY TABLE probe AS sqm.{table}")
        try:
            client.command("INSERT INTO probe (tenant_id) VALUES ('acme'), ('acme'), ('other')"
                           + (", (NULL)" if table == "dead_letters" else ""))
            where = condition.replace(TENANT, "'acme'")
            kept = client.command(f"SELECT count() FROM probe WHERE {where}")
            expected = {"sqm_all": 4 if table == "dead_letters" else 3, "sqm_tenant": 2}[name]
            assert kept == expected, (name, table)
        finally:
            client.command("DROP TEMPORARY TABLE probe")


def run_users_sh(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    stub = tmp_path / "clickhouse"
    stub.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/args\ncat > {tmp_path}/sql\n')
    stub.chmod(0o755)
    return subprocess.run(
        [str(USERS_SH)], capture_output=True, text=True, timeout=30,
        env={"PATH": f"{tmp_path}:{os.environ['PATH']}", **env})


def test_users_sh_sends_each_user_with_its_password_hash_and_role(
        client: Client, tmp_path: Path) -> None:
    passwords = {"CLICKHOUSE_SQM_PASSWORD": "w'ri\"ter $x", "CLICKHOUSE_MIGRATE_PASSWORD": "m1",
                 "SQM_GRAFANA_CH_PASSWORD": "g1"}
    done = run_users_sh(tmp_path, passwords)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "args").read_text().split() == ["client", "--host", "127.0.0.1",
                                                       "--multiquery"]
    sent = statements((tmp_path / "sql").read_text())
    for statement in sent:
        assert formatted(client, statement)
    for user, role, var in (("sqm", "sqm_writer", "CLICKHOUSE_SQM_PASSWORD"),
                            ("sqm_migrate", "sqm_migrator", "CLICKHOUSE_MIGRATE_PASSWORD"),
                            ("grafana", "sqm_grafana", "SQM_GRAFANA_CH_PASSWORD")):
        digest = hashlib.sha256(passwords[var].encode()).hexdigest()
        assert f"CREATE USER IF NOT EXISTS {user} IDENTIFIED WITH sha256_hash BY '{digest}'" \
            in sent
        assert f"ALTER USER {user} IDENTIFIED WITH sha256_hash BY '{digest}'" in sent
        assert f"GRANT {role} TO {user}" in sent
        assert f"ALTER USER {user} DEFAULT ROLE {role}" in sent
    assert len(sent) == 12


def test_users_sh_refuses_an_empty_password(tmp_path: Path) -> None:
    done = run_users_sh(tmp_path, {"CLICKHOUSE_SQM_PASSWORD": "w",
                                   "SQM_GRAFANA_CH_PASSWORD": "g"})
    assert done.returncode != 0
    assert done.stderr.strip() == "users.sh: empty password for ClickHouse user sqm_migrate"


def test_the_cluster_form_puts_each_row_policy_on_the_local_table_too(client: Client) -> None:
    plain = statements(ACCESS_SQL.read_text())
    clustered = statements(access_for_cluster(ACCESS_SQL.read_text()))
    for statement in clustered:
        assert formatted(client, statement)
    found = {(m.group(1), m.group(2), m.group(3), m.group(4))
             for s in clustered if (m := _POLICY.match(s))}
    expected = set()
    for (name, table), (condition, to) in policies().items():
        expected |= {(name, table, condition, to), (name, f"{table}_local", condition, to)}
    assert found == expected
    assert [s for s in clustered if not _POLICY.match(s)] == [
        s for s in plain if not _POLICY.match(s)]
