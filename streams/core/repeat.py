"""Repeat-contact detection within one (tenant, customer).

A contact is a repeat when the same tenant and customer has another contact created in
`[created_at − window, created_at)`; on equal `created_at` the smaller `contact_id` is earlier.
Ordering contacts by `(created_at, contact_id)`, only the nearest earlier one needs checking:
any other earlier contact was created no later than it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

DEFAULT_REPEAT_WINDOW_MS = 7 * 24 * 3600 * 1000


def repeat_flags(
    created: Iterable[tuple[int, str]], window_ms: int = DEFAULT_REPEAT_WINDOW_MS
) -> Mapping[str, bool]:
    """`(created_at, contact_id)` pairs → contact_id → is_repeat."""
    flags: dict[str, bool] = {}
    previous: int | None = None
    for created_at, contact_id in sorted(created):
        flags[contact_id] = previous is not None and previous >= created_at - window_ms
        previous = created_at
    return flags
