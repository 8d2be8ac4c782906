"""Expands a ClickHouse-plugin query the way Grafana and the plugin do, so tests can run it.

Three stages, in the order a dashboard query goes through them:
1. `$__conditionalAll(cond, $var)`: the plugin's frontend (src/data/CHDatasource.ts,
   `applyConditionalAll`/`getMacroArgs`), last occurrence first; `1=1` when the variable's
   current value is All (`$__all`) or empty, else `cond`.
2. Template variables `$var`, `${var}`, `${var:format}`: Grafana's templateSrv regex, with the
   plugin's default formatter (a list becomes `'a','b'`, a single value is inserted raw) or an
   explicit format (`singlequote` escapes `'` as `\\'`).
3. Backend macros of the plugin (pkg/macros/macros.go) parsed like sqlds (`Interpolate`:
   longest name first, `\\$__name\\b`, bracketed arguments split on top-level commas, trimmed).

Anything still starting with `$` afterwards is an error: the query would reach ClickHouse
unexpanded.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

__all__ = ["ALL", "Context", "ExpansionError", "expand"]

ALL = "$__all"
Value = str | Sequence[str]


class ExpansionError(ValueError):
    pass


@dataclass(frozen=True)
class Context:
    time_from: datetime
    time_to: datetime
    interval_s: float = 60.0  # the panel's $__interval (alerting: intervalMs / 1000)
    # Current values: a string for single-value variables, a list for multi-value ones; ALL
    # (or [ALL]) selects All.
    variables: Mapping[str, Value] = field(default_factory=dict)
    # What All expands to where it is interpolated (Grafana: every option's value).
    all_values: Mapping[str, Sequence[str]] = field(default_factory=dict)


def expand(sql: str, ctx: Context) -> str:
    out = _backend_macros(_interpolate(_conditional_all(sql, ctx), ctx), ctx)
    leftover = re.search(r"\$\{?\w+", out)
    if leftover:
        raise ExpansionError(f"unexpanded {leftover.group(0)!r} in: {out}")
    return out


# --- 1. $__conditionalAll (frontend) ---------------------------------------------------------

_CONDITIONAL_ALL = "$__conditionalAll("


def _js_string(value: Value | None) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else ",".join(value)  # Array.prototype.toString


def _macro_args(query: str, args_index: int) -> list[str]:
    """Port of getMacroArgs: split at commas on bracket level 1, up to the closing bracket."""
    args: list[str] = []
    depth, last = 0, 1
    sub = query[args_index:]
    for match in re.finditer(r"[(),]", sub):
        node, end = match.group(0), match.end()
        depth += {"(": 1, ")": -1}.get(node, 0)
        if node == "," and depth == 1:
            args.append(sub[last : end - 1])
            last = end
        if depth == 0:
            args.append(sub[last : end - 1])
            return args
    return []


def _conditional_all(sql: str, ctx: Context) -> str:
    index = sql.rfind(_CONDITIONAL_ALL)
    while index != -1:
        args = _macro_args(sql, index + len(_CONDITIONAL_ALL) - 1)
        if len(args) != 2:
            raise ExpansionError(f"$__conditionalAll needs 2 arguments, got {args!r}")
        name = re.search(r"(?<=\$\{)\w+(?=\})|(?<=\$)\w+", args[1].strip())
        phrase = args[0]
        variable = name.group(0) if name is not None else ""
        # An unknown variable keeps the condition (the plugin finds no current value).
        if variable in ctx.variables and _js_string(ctx.variables[variable]) in ("", ALL):
            phrase = "1=1"
        sql = sql.replace(f"{_CONDITIONAL_ALL}{args[0]},{args[1]})", phrase, 1)
        index = sql.rfind(_CONDITIONAL_ALL)
    return sql


# --- 2. template variables (frontend) --------------------------------------------------------

# Grafana's variableRegex (public/app/features/variables/utils.ts).
_VARIABLE = re.compile(
    r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}"
)


def _quote(value: str) -> str:
    return "'" + value.replace("'", "\\'") + "'"


_FORMATS: dict[str, Callable[[str | list[str]], str]] = {
    "singlequote": lambda v: ",".join(map(_quote, v)) if isinstance(v, list) else _quote(v),
    "raw": lambda v: ",".join(v) if isinstance(v, list) else v,
    "csv": lambda v: ",".join(v) if isinstance(v, list) else v,
}


def _plugin_format(value: str | list[str]) -> str:
    """The plugin's own formatter, used when the query names no format."""
    return "'" + "','".join(value) + "'" if isinstance(value, list) else value


def _interpolate(sql: str, ctx: Context) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(4)
        if name not in ctx.variables:
            return match.group(0)  # not a variable (e.g. a backend macro): left as is
        fmt = match.group(3) or match.group(6)
        raw = ctx.variables[name]
        value: str | list[str] = raw if isinstance(raw, str) else list(raw)
        if _js_string(raw) == ALL:
            value = list(ctx.all_values[name])
        if fmt is None:
            return _plugin_format(value)
        if fmt not in _FORMATS:
            raise ExpansionError(f"variable format {fmt!r} not modelled")
        return _FORMATS[fmt](value)

    return _VARIABLE.sub(replace, sql)


# --- 3. backend macros (pkg/macros/macros.go through sqlds) ----------------------------------


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _millis(t: datetime) -> int:
    """Go's Time.UnixMilli(), in integers (a float timestamp would round)."""
    if t.tzinfo is None:
        raise ExpansionError("time range needs timezone-aware datetimes")
    return (t - _EPOCH) // timedelta(milliseconds=1)


def _seconds(t: datetime) -> int:
    return _millis(t) // 1000  # Go's Time.Unix(): whole seconds, floored


def _one(name: str, args: list[str]) -> str:
    if len(args) != 1:
        raise ExpansionError(f"$__{name} expects 1 argument, received {len(args)}")
    return args[0]


def _macros(ctx: Context) -> dict[str, Callable[[list[str]], str]]:
    f, t = _seconds(ctx.time_from), _seconds(ctx.time_to)
    fm, tm = _millis(ctx.time_from), _millis(ctx.time_to)
    interval = int(max(ctx.interval_s, 1))
    interval_ms = int(max(ctx.interval_s * 1000, 1))
    day_f, day_t = ctx.time_from.strftime("%Y-%m-%d"), ctx.time_to.strftime("%Y-%m-%d")
    return {
        "fromTime": lambda a: f"toDateTime({f})",
        "toTime": lambda a: f"toDateTime({t})",
        "fromTime_ms": lambda a: f"fromUnixTimestamp64Milli({fm})",
        "toTime_ms": lambda a: f"fromUnixTimestamp64Milli({tm})",
        "timeFilter": lambda a: (
            f"{_one('timeFilter', a)} >= toDateTime({f}) AND {a[0]} <= toDateTime({t})"
        ),
        "timeFilter_ms": lambda a: (
            f"{_one('timeFilter_ms', a)} >= fromUnixTimestamp64Milli({fm}) "
            f"AND {a[0]} <= fromUnixTimestamp64Milli({tm})"
        ),
        "dateFilter": lambda a: (
            f"{_one('dateFilter', a)} >= toDate('{day_f}') AND {a[0]} <= toDate('{day_t}')"
        ),
        "timeInterval": lambda a: (
            f"toStartOfInterval(toDateTime({_one('timeInterval', a)}), INTERVAL {interval} second)"
        ),
        "timeInterval_ms": lambda a: (
            f"toStartOfInterval(toDateTime64({_one('timeInterval_ms', a)}, 3), "
            f"INTERVAL {interval_ms} millisecond)"
        ),
        "interval_s": lambda a: str(interval),
    }


def _parse_args(rest: str) -> tuple[list[str], int]:
    """Port of sqlds parseArgs: (trimmed args, length of the bracketed list) or ([], 0)."""
    if not rest.startswith("("):
        return [], 0
    args: list[str] = []
    depth, arg = 0, ""
    for i, char in enumerate(rest):
        if char == "(":
            depth += 1
            if depth == 1:
                continue
        elif char == ")":
            depth -= 1
            if depth == 0:
                return [*args, arg.strip()], i + 1
        elif char == "," and depth == 1:
            args.append(arg.strip())
            arg = ""
            continue
        arg += char
    raise ExpansionError("failed to parse macro arguments (missing close bracket?)")


def _backend_macros(sql: str, ctx: Context) -> str:
    macros = _macros(ctx)
    for name in sorted(macros, key=len, reverse=True):
        found = []
        for match in re.finditer(rf"\$__{name}\b", sql):
            args, length = _parse_args(sql[match.end() :])
            found.append((sql[match.start() : match.end() + length], args))
        for full, args in found:
            sql = sql.replace(full, macros[name](args))  # strings.ReplaceAll
    unknown = re.search(r"\$__\w+", sql)
    if unknown:
        raise ExpansionError(f"macro {unknown.group(0)} is not one of the plugin's: {sql}")
    return sql
