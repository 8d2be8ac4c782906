"""The cluster form of the migrations: the same schema on a ClickHouse cluster.

With `clickhouse_cluster` set, every statement of `schemas/clickhouse/` is rewritten before it
is sent (the files, and so their checksums, stay as they are):

- DDL gets `ON CLUSTER <name>`, so every node applies it;
- a table `sqm.X` becomes `sqm.X_local`, a `Replicated*MergeTree` whose replicas share the
  Keeper path `/clickhouse/tables/{shard}/{database}/{table}` (macros from each server's
  config), plus `sqm.X`, a `Distributed` table over the `X_local` of every shard. Readers and
  the writer keep using `sqm.X` unchanged;
- the Distributed table shards rows by `cityHash64(<the table's ORDER BY>)`: the versions of a
  row that a ReplacingMergeTree collapses share that key, so they land on one shard and
  `SELECT ... FINAL` (run per shard) stays exact;
- `ALTER TABLE sqm.X ADD COLUMN` alters `X_local` and then `X` (a Distributed table has its
  own column list).

A statement of a form not known here is refused rather than sent without `ON CLUSTER`: that
would change one node only.

`access_for_cluster` gives deploy/clickhouse/access.sql's cluster form (`python -m
sinks.cluster access.sql`): every row policy also on the `_local` table, where the shards run
the query as its sender.
"""

from __future__ import annotations

import re

__all__ = ["LOCAL_SUFFIX", "ClusterFormError", "access_for_cluster", "cluster_statements",
           "local_name"]

LOCAL_SUFFIX = "_local"
_ZK_PATH = "'/clickhouse/tables/{shard}/{database}/{table}', '{replica}'"

_CREATE_DATABASE = re.compile(r"^(CREATE DATABASE IF NOT EXISTS sqm)\s*$", re.I)
_CREATE_TABLE = re.compile(
    r"^CREATE TABLE IF NOT EXISTS sqm\.(?P<table>\w+)\s*(?P<rest>\(.*)$", re.I | re.S)
_ENGINE = re.compile(r"ENGINE\s*=\s*(?P<engine>\w*MergeTree)(?:\((?P<args>[^)]*)\))?", re.I)
_ORDER_BY = re.compile(r"\bORDER BY\s+(?P<key>\([^)]*\)|\w+)", re.I)
_CREATE_VIEW = re.compile(
    r"^(?P<head>CREATE (?:OR REPLACE )?VIEW (?:IF NOT EXISTS )?sqm\.\w+)(?P<rest>\s+AS\b.*)$",
    re.I | re.S)
_ROW_POLICY = re.compile(r"^(CREATE ROW POLICY .*? ON sqm\.)(\w+)( .*;)$", re.M)
_ALTER = re.compile(r"^ALTER TABLE sqm\.(?P<table>\w+)(?P<rest>\s+ADD COLUMN\b.*)$", re.I | re.S)


class ClusterFormError(ValueError):
    """A migration statement has no known cluster form."""


def local_name(table: str) -> str:
    return table + LOCAL_SUFFIX


def cluster_statements(statement: str, cluster: str) -> list[str]:
    """The statements that apply `statement` on every node of `cluster`, in order."""
    on = f" ON CLUSTER {cluster}"
    if match := _CREATE_DATABASE.match(statement):
        return [match.group(1) + on]
    if match := _CREATE_TABLE.match(statement):
        return _create_table(match.group("table"), match.group("rest"), cluster)
    if match := _CREATE_VIEW.match(statement):
        return [match.group("head") + on + match.group("rest")]
    if match := _ALTER.match(statement):
        table, rest = match.group("table"), match.group("rest")
        return [f"ALTER TABLE sqm.{local_name(table)}{on}{rest}",
                f"ALTER TABLE sqm.{table}{on}{rest}"]
    first = " ".join(statement.split())[:80]
    raise ClusterFormError(f"no cluster form for `{first}`")


def _create_table(table: str, rest: str, cluster: str) -> list[str]:
    engine = _ENGINE.search(rest)
    order = _ORDER_BY.search(rest)
    if engine is None or order is None:
        raise ClusterFormError(f"sqm.{table}: expected a *MergeTree engine and an ORDER BY")
    args = (engine.group("args") or "").strip()
    params = f"{_ZK_PATH}, {args}" if args else _ZK_PATH
    replicated = f"ENGINE = Replicated{engine.group('engine')}({params})"
    local_rest = rest[: engine.start()] + replicated + rest[engine.end():]
    key = order.group("key").strip()
    sharding = f"cityHash64{key if key.startswith('(') else f'({key})'}"
    local = local_name(table)
    return [
        f"CREATE TABLE IF NOT EXISTS sqm.{local} ON CLUSTER {cluster} {local_rest}",
        f"CREATE TABLE IF NOT EXISTS sqm.{table} ON CLUSTER {cluster} AS sqm.{local} "
        f"ENGINE = Distributed({cluster}, sqm, {local}, {sharding})",
    ]


def access_for_cluster(sql: str) -> str:
    """access.sql for a cluster: each row policy repeated for the table's `_local` twin."""
    return _ROW_POLICY.sub(lambda m: f"{m.group(0)}\n{m.group(1)}{local_name(m.group(2))}"
                                     f"{m.group(3)}", sql)


if __name__ == "__main__":
    import sys

    if len(sys.argv) != 2:
        sys.exit("usage: python -m sqm.sinks.cluster deploy/clickhouse/access.sql"
                 " > access-cluster.sql")
    with open(sys.argv[1], encoding="utf-8") as f:
        sys.stdout.write(access_for_cluster(f.read()))
