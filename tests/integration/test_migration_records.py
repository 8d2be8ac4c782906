"""What `migrate` records in sqm.schema_migrations, now in one insert per run: every applied
file once; on a failure, the files applied before it, and the failure's own error is raised."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from clickhouse_connect.driver import Client

from sqm.sinks import migrations
from sqm.sinks.clickhouse import connect
from sqm.sinks.migrations import Migration, MigrationError, load_migrations, migrate

pytestmark = pytest.mark.integration

BAD = Migration(99, "0099_bad", "CREATE TABLE sqm.bad (x NoSuchType) ENGINE = Memory;\n", "0")


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    c = connect(f"chdb://{tmp_path_factory.mktemp('chdb')}")
    try:
        yield c
    finally:
        c.close()


def recorded(client: Client) -> list[tuple[int, str, str]]:
    return [tuple(r) for r in client.query(  # type: ignore[misc]
        "SELECT version, name, checksum FROM sqm.schema_migrations ORDER BY version"
    ).result_rows]


def test_a_failed_migration_leaves_the_ones_before_it_recorded(
        client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    client.command("DROP DATABASE IF EXISTS sqm SYNC")
    shipped = load_migrations()
    monkeypatch.setattr(migrations, "load_migrations", lambda: [*shipped, BAD])
    with pytest.raises(MigrationError, match=r"^migration 0099_bad failed on `CREATE TABLE"):
        migrate(client)
    expected = [(m.version, m.name, m.checksum) for m in shipped]
    assert recorded(client) == expected  # once each
    monkeypatch.setattr(migrations, "load_migrations", lambda: shipped)
    assert migrate(client) == []
    assert recorded(client) == expected
