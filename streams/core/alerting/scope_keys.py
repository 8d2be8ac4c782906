"""Scope keys: which key of a rule's scope a row's dimensions fall under, memoised per scope."""

from __future__ import annotations

from collections.abc import Sequence

from sqm.streams.core.alerting.changes import ScopeKey

Specs = tuple[str | None, ...]


def group_key(specs: Specs, dims: Sequence[str]) -> ScopeKey | None:
    """The scope key `dims` falls under, or None when the scope excludes it.

    Per dimension: None (all together) → '', '*' (each separately) → the value, a fixed value →
    itself when it matches. Missing trailing dims (sla_1m has no agent) count as ''.
    """
    out: list[str] = []
    for i, spec in enumerate(specs):
        v = dims[i] if i < len(dims) else ""
        if spec is None:
            out.append("")
        elif spec == "*" or spec == v:
            out.append(v)
        else:
            return None
    return (out[0], out[1], out[2], out[3], out[4])


class KeyMemo(dict[tuple[str, ...], ScopeKey | None]):
    """`group_key(specs, dims)` by dims, for one scope: the hot loops (a pass over every
    waiting contact or answered wait, per rule and evaluation) ask for the same few dims again
    and again, and a hit is one dict lookup in C. Bounded: agents are part of the dims."""

    LIMIT = 100_000

    def __init__(self, specs: Specs) -> None:
        super().__init__()
        self.specs = specs

    def __missing__(self, dims: tuple[str, ...]) -> ScopeKey | None:
        if len(self) >= self.LIMIT:
            self.clear()
        key = self[dims] = group_key(self.specs, dims)
        return key


_MEMOS: dict[Specs, KeyMemo] = {}


def key_memo(specs: Specs) -> KeyMemo:
    """The shared `KeyMemo` of a scope (scope keys depend on the specs alone)."""
    memo = _MEMOS.get(specs)
    if memo is None:
        memo = _MEMOS[specs] = KeyMemo(specs)
    return memo
