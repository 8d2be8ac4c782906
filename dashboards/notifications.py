"""Where SQM's Grafana alerts go: one contact point and the notification policy, provisioned.

Built with the SDK in the HTTP API's shape (`alerting.ContactPoint`, `alerting.NotificationPolicy`,
which the JSON Schema describes), then laid out in Grafana's file-provisioning format
(`contactPoints:` with `receivers:`, `policies:`).

The webhook URL is `${SQM_ALERT_WEBHOOK_URL}`, expanded by Grafana from its environment when it
reads the file (contact point settings are expanded; rule queries are not). E-mail instead or as
well: docs/alerting.md, "Where Grafana alerts go".
"""

from __future__ import annotations

import json
from typing import Any

from sqm.dashboards.alerts import ORG_ID
from sqm.dashboards.sdk import JSONEncoder, ab

__all__ = [
    "CONTACT_POINT",
    "RECEIVER_UID",
    "WEBHOOK_URL_ENV",
    "contact_point",
    "policy",
    "provisioning_document",
]

CONTACT_POINT = "SQM"
RECEIVER_UID = "sqm-webhook"
WEBHOOK_URL_ENV = "SQM_ALERT_WEBHOOK_URL"
# One notification per rule and tenant (rules without a tenant label group by rule alone).
GROUP_BY = ["alertname", "tenant_id"]


def contact_point() -> dict[str, Any]:
    """The webhook integration in the API's shape (validated against the ContactPoint schema)."""
    built = (
        ab.ContactPoint()
        .uid(RECEIVER_UID)
        .name(CONTACT_POINT)
        .type("webhook")
        .settings({"url": f"${{{WEBHOOK_URL_ENV}}}", "httpMethod": "POST"})
        .disable_resolve_message(False)  # "resolved" is news too: the pipeline is back
        .build()
    )
    return _to_json(built)


def policy() -> dict[str, Any]:
    """The org's policy tree: everything to the SQM contact point, SQM's rules grouped finer.

    The root catches alerts of other rules in the same Grafana too, so nothing is left with
    the unconfigured default e-mail contact point.
    """
    sqm = (
        ab.NotificationPolicy()
        .receiver(CONTACT_POINT)
        .object_matchers([["source", "=", "sqm"]])
        .group_by(GROUP_BY)
        .group_wait("30s")
        .group_interval("5m")
        .repeat_interval("4h")
    )
    root = (
        ab.NotificationPolicy()
        .receiver(CONTACT_POINT)
        .group_by(["grafana_folder", "alertname"])
        .routes([sqm])
        .build()
    )
    return _to_json(root)


def _to_json(model: object) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(json.dumps(model, cls=JSONEncoder))
    return decoded


def provisioning_document() -> dict[str, Any]:
    """contactPoints + policies (pkg/services/provisioning/alerting/*_types.go)."""
    point = contact_point()
    receiver = {
        "uid": point["uid"],
        "type": point["type"],
        "settings": point["settings"],
        "disableResolveMessage": point["disableResolveMessage"],
    }
    return {
        "apiVersion": 1,
        "contactPoints": [{"orgId": ORG_ID, "name": point["name"], "receivers": [receiver]}],
        "policies": [{"orgId": ORG_ID, **policy()}],
    }
