"""A typed query for the official ClickHouse data source plugin (grafana-clickhouse-datasource).

The Grafana Foundation SDK ships no model for this plugin, so this module provides one. A
`ClickHouseQuery` is both the SDK's `Dataquery` (what a panel target is) and the SDK's
`Builder[Dataquery]` (what `Panel.with_target`, `AnnotationQuery.target` and
`alerting.Query.model` accept): it builds to itself, so it plugs straight into SDK builders.

The JSON matches what the plugin's SQL editor saves (plugin source: src/types/sql.ts and
src/types/queryBuilder.ts for `editorType`/`queryType`, pkg/plugin/driver.go for `format`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any, Self

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import runtime as cogruntime
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models.common import DataSourceRef

__all__ = [
    "DATASOURCE_TYPE",
    "DATASOURCE_UID",
    "PLUGIN_VERSION",
    "ClickHouseQuery",
    "Format",
    "QueryType",
    "datasource_ref",
    "register",
]

DATASOURCE_TYPE = "grafana-clickhouse-datasource"
# Fixed uid of the provisioned data source (deploy/grafana/provisioning/datasources/): boards
# refer to it directly instead of through a `${datasource}` variable.
DATASOURCE_UID = "sqm-clickhouse"
# Targets without a pluginVersion >= 4.0.0 are taken for v3 queries and migrated on every load
# (src/data/migration.ts); this is the version deploy/docker-compose.yml installs.
PLUGIN_VERSION = "4.20.0"


class Format(IntEnum):
    """Result shaping done by the plugin's backend (sqlutil.FormatQueryOption).

    TIME_SERIES pivots long frames (time, string labels..., numbers...) into one series per
    label set; TABLE returns the rows as they are.
    """

    TIME_SERIES = 0
    TABLE = 1
    LOGS = 2
    TRACES = 3


class QueryType(StrEnum):
    """The editor's query type; the plugin keeps it consistent with `format`."""

    TIME_SERIES = "timeseries"
    TABLE = "table"
    LOGS = "logs"
    TRACES = "traces"


_QUERY_TYPE_OF_FORMAT = {
    Format.TIME_SERIES: QueryType.TIME_SERIES,
    Format.TABLE: QueryType.TABLE,
    Format.LOGS: QueryType.LOGS,
    Format.TRACES: QueryType.TRACES,
}


def datasource_ref(uid: str = DATASOURCE_UID) -> DataSourceRef:
    return DataSourceRef(type_val=DATASOURCE_TYPE, uid=uid)


@dataclass(frozen=True, slots=True)
class ClickHouseQuery(cogvariants.Dataquery, cogbuilder.Builder[cogvariants.Dataquery]):
    """One SQL-editor target. Immutable; derive variants with `dataclasses.replace`."""

    raw_sql: str
    ref_id: str = "A"
    format: Format = Format.TABLE
    datasource_uid: str = DATASOURCE_UID
    plugin_version: str = PLUGIN_VERSION
    hide: bool | None = None
    # Only alert rules set these: Grafana's alerting backend sends them instead of a panel's.
    interval_ms: int | None = None
    max_data_points: int | None = None

    @property
    def query_type(self) -> QueryType:
        return _QUERY_TYPE_OF_FORMAT[self.format]

    def build(self) -> Self:
        return self

    def with_ref_id(self, ref_id: str) -> ClickHouseQuery:
        return dataclasses.replace(self, ref_id=ref_id)

    def to_json(self) -> dict[str, object]:
        payload: dict[str, object] = {
            "datasource": {"type": DATASOURCE_TYPE, "uid": self.datasource_uid},
            "editorType": "sql",
            "format": int(self.format),
            "pluginVersion": self.plugin_version,
            "queryType": str(self.query_type),
            "rawSql": self.raw_sql,
            "refId": self.ref_id,
        }
        if self.hide is not None:
            payload["hide"] = self.hide
        if self.interval_ms is not None:
            payload["intervalMs"] = self.interval_ms
        if self.max_data_points is not None:
            payload["maxDataPoints"] = self.max_data_points
        return payload

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        datasource = data.get("datasource") or {}
        if datasource.get("type", DATASOURCE_TYPE) != DATASOURCE_TYPE:
            raise ValueError(f"not a ClickHouse query: datasource {datasource!r}")
        if data.get("editorType", "sql") != "sql":
            raise ValueError("only SQL-editor queries are modelled (editorType 'sql')")
        return cls(
            raw_sql=str(data.get("rawSql", "")),
            ref_id=str(data.get("refId", "A")),
            format=Format(int(data.get("format", Format.TABLE))),
            datasource_uid=str(datasource.get("uid", DATASOURCE_UID)),
            plugin_version=str(data.get("pluginVersion", PLUGIN_VERSION)),
            hide=data.get("hide"),
            interval_ms=data.get("intervalMs"),
            max_data_points=data.get("maxDataPoints"),
        )


def register() -> None:
    """Let the SDK's `Dashboard.from_json` decode ClickHouse targets into `ClickHouseQuery`."""
    cogruntime.register_dataquery_variant(
        cogruntime.DataqueryConfig(
            identifier=DATASOURCE_TYPE, from_json_hook=ClickHouseQuery.from_json
        )
    )
