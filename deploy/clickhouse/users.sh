#!/bin/bash
# The ClickHouse users of the compose stack, as SQL users holding the roles of access.sql (which
# runs first). Mounted into the server's /docker-entrypoint-initdb.d and run (executable, so
# not sourced) by the image's entrypoint at every start (CLICKHOUSE_ALWAYS_RUN_INITDB_SCRIPTS),
# as the local-only `default` user: a changed password in deploy/.env takes effect at the next
# start. Only SHA-256 hashes of the passwords reach the server, so no password needs quoting.
#
#   sqm          the workers (`sqm worker`)        role sqm_writer    CLICKHOUSE_SQM_PASSWORD
#   sqm_migrate  the one-shot `sqm migrate`        role sqm_migrator  CLICKHOUSE_MIGRATE_PASSWORD
#   grafana      Grafana's data source             role sqm_grafana   SQM_GRAFANA_CH_PASSWORD
#
# Analysts are added by hand (docs/deploy.md, "ClickHouse users and roles").
set -euo pipefail

sqm_user_sql() {  # NAME ROLE PASSWORD
    local hash
    [ -n "$3" ] || { echo "users.sh: empty password for ClickHouse user $1" >&2; return 1; }
    hash=$(printf '%s' "$3" | sha256sum | cut -d' ' -f1)
    printf 'CREATE USER IF NOT EXISTS %s IDENTIFIED WITH sha256_hash BY %s;\n' "$1" "'$hash'"
    printf 'ALTER USER %s IDENTIFIED WITH sha256_hash BY %s;\n' "$1" "'$hash'"
    printf 'GRANT %s TO %s;\n' "$2" "$1"
    printf 'ALTER USER %s DEFAULT ROLE %s;\n' "$1" "$2"
}

{
    sqm_user_sql sqm sqm_writer "${CLICKHOUSE_SQM_PASSWORD:-}"
    sqm_user_sql sqm_migrate sqm_migrator "${CLICKHOUSE_MIGRATE_PASSWORD:-}"
    sqm_user_sql grafana sqm_grafana "${SQM_GRAFANA_CH_PASSWORD:-}"
} | clickhouse client --host 127.0.0.1 --multiquery
