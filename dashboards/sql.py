"""SQL building blocks shared by the boards and alert rules (one definition per metric).

Metric definitions follow docs/schema.md: every table is read with `FINAL`, and `sqm.sla_1m`
holds partial totals per shard, so ratios are built from `sum()`s over all matching rows (never
from one shard's row, never by averaging per-row ratios). A ratio whose denominator is 0 is
NULL (`nullIf`), never a division by zero.

Dashboard filters use the ClickHouse plugin's `$__conditionalAll(condition, $var)`: the plugin
replaces it with `1=1` when the variable is set to All, so "All" costs no IN list. Variables are
formatted with `:singlequote` so a value containing a quote cannot break the SQL.
"""

from __future__ import annotations

__all__ = [
    "ABANDON_RATE",
    "ABANDON_RATE_LIMIT",
    "ALERT_SCOPE",
    "CONTACT_SCOPE",
    "HANDLED",
    "SERVICE_LEVEL",
    "SERVICE_LEVEL_TARGET",
    "SLA_SCOPE",
    "STAFFING_SCOPE",
    "any_or_in_filter",
    "in_filter",
    "scope_filter",
]

# Share of handled contacts answered within their target; the ops board's target line and the
# "service level below target" alert use it (one target for every tenant, for now).
SERVICE_LEVEL_TARGET = 0.80
# Abandonment rate above which the "abandonment rate high" alert fires.
ABANDON_RATE_LIMIT = 0.10

# Contacts whose wait ended in the window: answered, or abandoned after the short-abandon
# threshold (short abandons are excluded from service level, docs/schema.md).
HANDLED = "sum(answered) + sum(abandoned) - sum(short_abandoned)"
# The policy's service-level formula (docs/metrics.md): with the default policy, exactly
# sum(answered_in_sla) / HANDLED; with another (abandons excluded, ...) what the policy says.
SERVICE_LEVEL = "sum(sl_met) / nullIf(sum(sl_met) + sum(sl_missed), 0)"
# Abandons (short ones excluded) among handled contacts: under the default policy the same
# denominator as service level, so service level + abandonment rate + answered-late share = 1.
ABANDON_RATE = f"(sum(abandoned) - sum(short_abandoned)) / nullIf({HANDLED}, 0)"


def in_filter(column: str, variable: str) -> str:
    """`column` is one of the selected values of `$variable` (no-op when All is selected)."""
    return f"$__conditionalAll({column} IN (${{{variable}:singlequote}}), ${variable})"


def any_or_in_filter(column: str, variable: str) -> str:
    """Like `in_filter`, but `''` in `column` means "any" (alerts not scoped to a channel...)."""
    condition = f"({column} = '' OR {column} IN (${{{variable}:singlequote}}))"
    return f"$__conditionalAll({condition}, ${variable})"


def scope_filter(*columns_and_variables: tuple[str, str], any_empty: bool = False) -> str:
    make = any_or_in_filter if any_empty else in_filter
    return "\n  AND ".join(make(column, variable) for column, variable in columns_and_variables)


_SCOPE = (("tenant_id", "tenant"), ("channel", "channel"), ("queue", "queue"))
SLA_SCOPE = scope_filter(*_SCOPE)  # sqm.sla_1m
CONTACT_SCOPE = scope_filter(*_SCOPE)  # sqm.contacts (same column names)
STAFFING_SCOPE = scope_filter(*_SCOPE)  # sqm.staffing_15m (same column names)
ALERT_SCOPE = scope_filter(*_SCOPE, any_empty=True)  # sqm.alerts: '' = any
