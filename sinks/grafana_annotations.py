"""Mirrors SQM alerts into Grafana as annotations, for the stream to call on every alert change.

An alert is one `sqm.alerts` row (a mapping with its columns, or any object with those
attributes). The first push creates an org-wide region annotation from `started_at` to
`ended_at` (a point while open); later pushes of the same `alert_id` (resolved, acknowledged)
update that annotation, found by its `sqm-alert:<alert_id>` tag. Org-wide (no dashboard) and
tagged, so any board can overlay them with a Grafana annotation query filtered on tag `sqm`; the
SQM boards read `sqm.alerts` directly and need none of this.

Calls block on HTTP: from async code use `push_alert_annotation_async`. Nothing here raises: a
down Grafana must never stall or crash the pipeline, so failures are logged and return None.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from sqm.sinks.grafana import GrafanaTarget, call, connect

__all__ = ["alert_tag", "push_alert_annotation", "push_alert_annotation_async"]

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def alert_tag(alert_id: str) -> str:
    return f"sqm-alert:{alert_id}"


def push_alert_annotation(
    alert: Mapping[str, Any] | object, *, target: GrafanaTarget | None = None
) -> int | None:
    """Create or update the annotation of `alert`; its Grafana id, or None if skipped/failed.

    Skipped (None, nothing logged above debug) when no target is given and SQM_GRAFANA_URL or
    SQM_GRAFANA_TOKEN is unset.
    """
    target = target if target is not None else GrafanaTarget.from_env()
    if target is None:
        log.debug("Grafana annotations off: SQM_GRAFANA_URL/SQM_GRAFANA_TOKEN not set")
        return None
    alert_id = str(_get(alert, "alert_id", "?"))
    try:
        fields = _annotation(alert)
        with connect(target) as api:
            tag = quote(alert_tag(alert_id), safe=":")  # grafana-client does not encode queries
            found = call(
                target,
                "find annotations",
                lambda: api.annotations.get_annotation(
                    tags=[tag], ann_type="annotation", limit=1
                ),
            )
            if found:
                annotation_id = int(found[0]["id"])
                call(
                    target,
                    f"update annotation {annotation_id}",
                    lambda: api.annotations.partial_update_annotation(annotation_id, **fields),
                )
                return annotation_id
            created = call(
                target, "create annotation", lambda: api.annotations.add_annotation(**fields)
            )
            return int(created["id"])
    except Exception as ex:  # never raise into the stream; the reason is in the log
        log.warning("alert %s: Grafana annotation not pushed: %s", alert_id, ex)
        return None


async def push_alert_annotation_async(
    alert: Mapping[str, Any] | object, *, target: GrafanaTarget | None = None
) -> int | None:
    """`push_alert_annotation` in a worker thread, so the event loop keeps running."""
    return await asyncio.to_thread(push_alert_annotation, alert, target=target)


def _annotation(alert: Mapping[str, Any] | object) -> dict[str, Any]:
    """grafana-client keyword arguments (time_from, time_to, tags, text) for `alert`."""
    alert_id = str(_get(alert, "alert_id"))
    started = _ms(_get(alert, "started_at"))
    ended = _get(alert, "ended_at", None)
    tags = ["sqm", str(_get(alert, "severity")), str(_get(alert, "kind"))]
    tags += [str(_get(alert, "state")), alert_tag(alert_id), f"rule:{_get(alert, 'rule_id')}"]
    for column in ("tenant_id", "channel", "queue", "agent_id"):
        value = _get(alert, column, "")
        if value:  # '' means "any": no tag
            tags.append(f"{column.removesuffix('_id')}:{value}")
    value, threshold = float(_get(alert, "value")), float(_get(alert, "threshold"))
    text = (
        f"{_get(alert, 'message')} ({_get(alert, 'metric')} {value:g}, threshold "
        f"{threshold:g}; {_get(alert, 'state')})"
    )
    return {
        "time_from": started,
        "time_to": started if ended is None else _ms(ended),
        "tags": tags,
        "text": text,
    }


_MISSING = object()


def _get(alert: Mapping[str, Any] | object, name: str, default: Any = _MISSING) -> Any:
    if isinstance(alert, Mapping):
        value = alert.get(name, default)
    else:
        value = getattr(alert, name, default)
    if value is _MISSING:
        raise KeyError(f"alert has no {name!r}")
    return value


def _ms(value: datetime) -> int:
    """Epoch milliseconds of an aware datetime (naive ones are refused, not guessed)."""
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValueError(f"alert times must be timezone-aware datetimes, got {value!r}")
    return (value - _EPOCH) // _MS
