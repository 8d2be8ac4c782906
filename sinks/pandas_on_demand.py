"""pandas only when something uses it, not on the first insert.

clickhouse-connect asks on every insert whether the data is a pandas DataFrame, and to ask it
imports pandas (~0.2 s of a command's start-up: `sqm replay` of a 4-event file takes ~1.4 s),
though sqm's inserts never pass one. No DataFrame can exist before pandas is imported, so until
then the answer is no without the import. `defer()` puts a stand-in at clickhouse-connect's
`options.pd` that answers so, and gives way to pandas itself at any other use (a DataFrame
query) or once pandas is imported anyway.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

from clickhouse_connect.driver import options


class _NoDataFrame:
    """What `pd.DataFrame` is while pandas is not imported: nothing is an instance of it."""


class _PandasOnDemand:
    def __bool__(self) -> bool:  # `options.pd and isinstance(data, options.pd.DataFrame)`
        return True

    def __getattr__(self, name: str) -> Any:
        if name == "DataFrame" and "pandas" not in sys.modules:
            return _NoDataFrame
        return getattr(_resolve(), name)


_STAND_IN = _PandasOnDemand()


def defer() -> None:
    """Leave pandas unimported until used (a no-op once clickhouse-connect has resolved it)."""
    if "pd" not in vars(options):
        options.pd = _STAND_IN


def _resolve() -> ModuleType | None:
    """pandas, as clickhouse-connect resolves it (None if not installed)."""
    if vars(options).get("pd") is _STAND_IN:
        del options.pd  # its lazy attribute then imports pandas (and sets `pd_time_test`)
    pd: ModuleType | None = options.pd
    return pd
