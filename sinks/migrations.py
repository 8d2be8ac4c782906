"""Applies the numbered DDL files of `schemas/clickhouse/` to a ClickHouse store, in order.

Each file `NNNN_name.sql` is applied once and recorded in `sqm.schema_migrations` (created by
0001 itself), the files of one run in one insert at its end (or at its failure). Every statement
is idempotent DDL, so two processes migrating at the same time, or a run that died before it
recorded what it applied, simply apply it again: the worst case is a version recorded twice,
which the ReplacingMergeTree collapses.

All statements are fully qualified (`sqm.`) and sent without the client's default database, so
a fresh server reached through `https://.../sqm` can be migrated before `sqm` exists.

With a cluster name, each statement is sent in its cluster form (sinks/cluster.py): the files
and their checksums are the same in both forms.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from dataclasses import dataclass
from importlib import resources

from clickhouse_connect.driver import Client
from clickhouse_connect.driver.exceptions import Error as ClickHouseDriverError

from sqm.sinks.cluster import ClusterFormError, cluster_statements

__all__ = ["Migration", "MigrationError", "load_migrations", "migrate", "pending", "statements_for"]

_FILE_RE = re.compile(r"^(\d+)_(\w+)\.sql$")
# A statement ends with `;` at the end of a line; `;` elsewhere (e.g. in a string) is kept.
_STATEMENT_END_RE = re.compile(r";[ \t]*(?:\r?\n|$)")
_ADD_COLUMN_RE = re.compile(r"ALTER TABLE (\S+) (ADD COLUMN\b.*)", re.DOTALL)
# A concurrent migrator can win the race between IF NOT EXISTS's check and its create.
_ALREADY_EXISTS = frozenset({57, 82})  # TABLE_ALREADY_EXISTS, DATABASE_ALREADY_EXISTS


class MigrationError(RuntimeError):
    """A migration file is malformed, was edited after being applied, or failed on the server."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str  # file name without `.sql`, e.g. "0001_init"
    sql: str
    checksum: str  # sha256 of the file bytes

    @property
    def statements(self) -> list[str]:
        lines = [ln for ln in self.sql.splitlines() if not ln.lstrip().startswith("--")]
        parts = _STATEMENT_END_RE.split("\n".join(lines))
        return [p.strip() for p in parts if p.strip()]


def load_migrations() -> list[Migration]:
    """The migrations shipped in the `schemas` package, ordered by version."""
    found: dict[int, Migration] = {}
    for entry in resources.files("sqm.schemas").joinpath("clickhouse").iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _FILE_RE.match(entry.name)
        if match is None:
            raise MigrationError(f"migration file {entry.name!r} is not named NNNN_name.sql")
        data = entry.read_bytes()
        migration = Migration(
            version=int(match.group(1)),
            name=entry.name.removesuffix(".sql"),
            sql=data.decode("utf-8"),
            checksum=hashlib.sha256(data).hexdigest(),
        )
        if migration.version in found:
            other = found[migration.version].name
            raise MigrationError(f"migrations {other} and {migration.name} share a version")
        found[migration.version] = migration
    return [found[v] for v in sorted(found)]


def migrate(client: Client, cluster: str | None = None) -> list[str]:
    """Apply the migrations not yet recorded; return the names applied (empty if none).

    `cluster`: apply the cluster form on every node of that ClickHouse cluster."""
    applied = _applied_checksums(client)
    done: list[Migration] = []
    try:
        for migration in load_migrations():
            recorded = applied.get(migration.version)
            if recorded is not None:
                if recorded != migration.checksum:
                    # Editing an applied file would silently leave stores on different schemas.
                    raise MigrationError(
                        f"migration {migration.name} changed after it was applied; "
                        "add a new numbered file instead"
                    )
                continue
            statements = statements_for(migration, cluster)
            for statement in statements if cluster else _added_together(statements):
                _run(client, migration, statement)
            done.append(migration)
    except BaseException:
        with contextlib.suppress(MigrationError):  # the first failure is the one to tell
            _record(client, done, cluster)
        raise
    _record(client, done, cluster)
    return [m.name for m in done]


def _record(client: Client, done: list[Migration], cluster: str | None) -> None:
    """Record the applied migrations in one insert (a fresh store has a dozen: one insert each
    cost more than the rest of the bookkeeping)."""
    if not done:
        return
    values = ", ".join(f"({{v{i}:UInt32}}, {{n{i}:String}}, {{c{i}:String}}, now64(3, 'UTC'))"
                       for i in range(len(done)))
    parameters: dict[str, object] = {}
    for i, m in enumerate(done):
        parameters.update({f"v{i}": m.version, f"n{i}": m.name, f"c{i}": m.checksum})
    _run(
        client,
        done[-1],
        f"INSERT INTO sqm.schema_migrations (version, name, checksum, applied_at) VALUES {values}",
        parameters,
        # Through a Distributed table: recorded on its shard before this returns.
        {"distributed_foreground_insert": 1} if cluster else None,
    )


def statements_for(migration: Migration, cluster: str | None) -> list[str]:
    """The statements that apply `migration`: as written, or in the cluster form."""
    if cluster is None:
        return migration.statements
    try:
        return [c for s in migration.statements for c in cluster_statements(s, cluster)]
    except ClusterFormError as ex:
        raise MigrationError(f"migration {migration.name}: {ex}") from None


def _added_together(statements: list[str]) -> list[str]:
    """Consecutive `ALTER TABLE t ADD COLUMN ...` of one table as one ALTER, its actions in the
    same order: each ALTER is a metadata change of its own (tens of ms on chDB)."""
    out: list[str] = []
    table = None
    for statement in statements:
        match = _ADD_COLUMN_RE.match(statement)
        if match is not None and match.group(1) == table:
            out[-1] += ",\n" + match.group(2)
        else:
            out.append(statement)
        table = match.group(1) if match is not None else None
    return out


def pending(client: Client) -> list[str]:
    """Names of the migrations this store has not had yet (for readers that need them)."""
    applied = _applied_checksums(client)
    return [m.name for m in load_migrations() if m.version not in applied]


def _applied_checksums(client: Client) -> dict[int, str]:
    try:
        if not int(str(client.command("EXISTS TABLE sqm.schema_migrations", use_database=False))):
            return {}
        body = client.raw_query(
            "SELECT version, any(checksum) FROM sqm.schema_migrations FINAL GROUP BY version",
            fmt="TabSeparated",
            use_database=False,
        )
    except ClickHouseDriverError as ex:
        raise MigrationError(f"cannot read sqm.schema_migrations: {ex}", ex.code) from ex
    rows = (line.split("\t") for line in body.decode().splitlines() if line)
    return {int(version): checksum for version, checksum in rows}


def _run(
    client: Client,
    migration: Migration,
    statement: str,
    parameters: dict[str, object] | None = None,
    settings: dict[str, object] | None = None,
) -> None:
    try:
        client.command(statement, parameters=parameters, settings=settings, use_database=False)
    except ClickHouseDriverError as ex:
        if ex.code in _ALREADY_EXISTS:
            return
        first_line = " ".join(statement.split())[:120]
        raise MigrationError(
            f"migration {migration.name} failed on `{first_line}`: {ex}", ex.code
        ) from ex
