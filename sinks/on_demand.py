"""pandas and numpy only when something uses them, not on the first insert.

clickhouse-connect asks on every insert whether the data is a pandas DataFrame or a numpy
array, and to ask it imports pandas (~0.2 s of a command's start-up: `sqm replay` of a 4-event
file took ~1.4 s) and numpy (~0.08 s), though sqm's inserts never pass either. No DataFrame or
array can exist before its library is imported, so until then the answer is no without the
import. `defer()` puts stand-ins at clickhouse-connect's `options.pd` and `options.np` that
answer so, and give way to the library itself at any other use (a DataFrame query, a numpy
type looked up) or once it is imported anyway.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

from clickhouse_connect.driver import options


class _NoInstance:
    """What `pd.DataFrame` or `np.ndarray` is while its library is not imported: nothing is
    an instance of it."""


class _OnDemand:
    def __init__(self, option: str, module: str, type_name: str) -> None:
        self.option = option  # clickhouse-connect's lazy attribute of `options`
        self._module = module
        self._type_name = type_name  # the one attribute answered without the import

    def __bool__(self) -> bool:  # `options.pd and isinstance(data, options.pd.DataFrame)`
        return True

    def __getattr__(self, name: str) -> Any:
        if name == self._type_name and self._module not in sys.modules:
            return _NoInstance
        return getattr(self._resolve(), name)

    def _resolve(self) -> ModuleType | None:
        """The library, as clickhouse-connect resolves it (None if not installed)."""
        if vars(options).get(self.option) is self:
            delattr(options, self.option)  # its lazy attribute then imports the library
        module: ModuleType | None = getattr(options, self.option)
        return module


_STAND_INS = (_OnDemand("pd", "pandas", "DataFrame"), _OnDemand("np", "numpy", "ndarray"))


def defer() -> None:
    """Leave pandas and numpy unimported until used (each a no-op once clickhouse-connect has
    resolved it)."""
    for stand_in in _STAND_INS:
        if stand_in.option not in vars(options):
            setattr(options, stand_in.option, stand_in)
