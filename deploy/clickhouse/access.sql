-- Access control for database `sqm`: roles, settings profiles, row policies and quotas.
-- Run as a user with access management (the compose stack runs it at every ClickHouse start,
-- from /docker-entrypoint-initdb.d, before clickhouse/users.sh creates the users). Every
-- statement is idempotent: roles IF NOT EXISTS, grants add, the rest OR REPLACE. Prose and the
-- per-tenant analyst recipe: docs/deploy.md, "ClickHouse users and roles". A table with a
-- `tenant_id` column must have both row policies below (tests/unit/test_access_sql.py checks).

-- The pipeline's workers: read (the archive read-back) and insert, no DDL.
CREATE ROLE IF NOT EXISTS sqm_writer;
GRANT SELECT, INSERT, SHOW TABLES ON sqm.* TO sqm_writer;

-- `sqm migrate`: the schema (create, alter, TTLs) and its bookkeeping table; ON CLUSTER DDL
-- needs the CLUSTER grant.
CREATE ROLE IF NOT EXISTS sqm_migrator;
GRANT CREATE DATABASE, CREATE TABLE, CREATE VIEW, ALTER, DROP TABLE, DROP VIEW, SELECT, INSERT, OPTIMIZE, SHOW TABLES ON sqm.* TO sqm_migrator;
GRANT CLUSTER ON *.* TO sqm_migrator;

-- Analysts who may see every tenant (`sqm sql`, `sqm report`, ad-hoc queries).
CREATE ROLE IF NOT EXISTS sqm_analyst;
GRANT SELECT ON sqm.* TO sqm_analyst;

-- Analysts of one tenant: the tenant is the user's constant setting SQL_sqm_tenant, and the
-- row policies below show them only its rows (tables and every view over them).
CREATE ROLE IF NOT EXISTS sqm_tenant_analyst;
GRANT SELECT ON sqm.* TO sqm_tenant_analyst;

-- Grafana's data source.
CREATE ROLE IF NOT EXISTS sqm_grafana;
GRANT SELECT ON sqm.* TO sqm_grafana;

-- Readers: SELECT only. max_execution_time stays changeable (the Grafana plugin's driver sends
-- it with every query); additional_table_filters can only narrow what a query sees. On a
-- cluster, a join of two Distributed tables (sqm.staffing_15m) runs its inner side once and
-- ships it to the shards (`global`) instead of being refused (harmless on one server).
CREATE SETTINGS PROFILE OR REPLACE sqm_reader SETTINGS readonly = 1, max_execution_time = 60 CHANGEABLE_IN_READONLY, additional_table_filters CHANGEABLE_IN_READONLY, distributed_product_mode = 'global' TO sqm_analyst, sqm_tenant_analyst, sqm_grafana;

-- Writers on a cluster insert through Distributed tables: return only once the rows are on
-- their shard, so Kafka offsets are never committed ahead of the data (harmless on one server).
CREATE SETTINGS PROFILE OR REPLACE sqm_writer_profile SETTINGS distributed_foreground_insert = 1 TO sqm_writer, sqm_migrator;

-- Quotas, counted per user: analysts per hour, Grafana per minute (a dashboard refresh runs
-- one query per panel).
CREATE QUOTA OR REPLACE sqm_analyst_quota KEYED BY user_name FOR INTERVAL 1 hour MAX queries = 1000, execution_time = 1800, read_rows = 20000000000, result_rows = 100000000 TO sqm_analyst, sqm_tenant_analyst;
CREATE QUOTA OR REPLACE sqm_grafana_quota KEYED BY user_name FOR INTERVAL 1 minute MAX queries = 600, execution_time = 300 TO sqm_grafana;

-- Row policies. Once a table has one, a user no policy names sees no rows, so each table gets
-- two: every row for everyone except tenant analysts, and the tenant's rows for them.
-- Rows with no tenant (dead letters that never parsed, alerts scoped to all tenants) are not
-- shown to tenant analysts.
CREATE ROW POLICY OR REPLACE sqm_all ON sqm.events USING 1 AS PERMISSIVE TO ALL EXCEPT sqm_tenant_analyst;
CREATE ROW POLICY OR REPLACE sqm_tenant ON sqm.events USING tenant_id = getSetting('SQL_sqm_tenant') AS PERMISSIVE TO sqm_tenant_analyst;
CREATE ROW POLICY OR REPLACE sqm_all ON sqm.contacts USING 1 AS PERMISSIVE TO ALL EXCEPT sqm_tenant_analyst;
CREATE ROW POLICY OR REPLACE sqm_tenant ON sqm.contacts USING tenant_id = getSetting('SQL_sqm_tenant') AS PERMISSIVE TO sqm_tenant_analyst;
CREATE ROW POLICY OR REPLACE sqm_all ON sqm.sla_1m USING 1 AS PERMISSIVE TO ALL EXCEPT sqm_tenant_analyst;
CREATE ROW POLICY OR REPLACE sqm_tenant ON sqm.sla_1m USING tenant_id = getSetting('SQL_sqm_tenant') AS PERMISSIVE TO sqm_tenant_analyst;
CREATE ROW POLICY OR REPLACE sqm_all ON sqm.dead_letters USING 1 AS PERMISSIVE TO ALL EXCEPT sqm_tenant_analyst;
CREATE ROW POLICY OR REPLACE sqm_tenant ON sqm.dead_letters USING tenant_id = getSetting('SQL_sqm_tenant') AS PERMISSIVE TO sqm_tenant_analyst;
CREATE ROW POLICY OR REPLACE sqm_all ON sqm.alerts USING 1 AS PERMISSIVE TO ALL EXCEPT sqm_tenant_analyst;
CREATE ROW POLICY OR REPLACE sqm_tenant ON sqm.alerts USING tenant_id = getSetting('SQL_sqm_tenant') AS PERMISSIVE TO sqm_tenant_analyst;
CREATE ROW POLICY OR REPLACE sqm_all ON sqm.scorecard_scores USING 1 AS PERMISSIVE TO ALL EXCEPT sqm_tenant_analyst;
CREATE ROW POLICY OR REPLACE sqm_tenant ON sqm.scorecard_scores USING tenant_id = getSetting('SQL_sqm_tenant') AS PERMISSIVE TO sqm_tenant_analyst;
CREATE ROW POLICY OR REPLACE sqm_all ON sqm.dropped_corrections USING 1 AS PERMISSIVE TO ALL EXCEPT sqm_tenant_analyst;
CREATE ROW POLICY OR REPLACE sqm_tenant ON sqm.dropped_corrections USING tenant_id = getSetting('SQL_sqm_tenant') AS PERMISSIVE TO sqm_tenant_analyst;
