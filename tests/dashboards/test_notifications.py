"""Where Grafana's alerts go: the provisioned contact point and notification policy.

Checked against Grafana's JSON Schemas (ContactPoint, NotificationPolicy; skipped with the reason
when ../shared/grafana-jsonschema is absent) and for what no schema can say: every name the
files refer to exists (the policy's receivers, the rules' folder and data sources, the
webhook's environment variable in compose), and SQM's rules reach the contact point grouped by
rule and tenant. No Grafana server runs here, so Grafana's own loading is not exercised.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import yaml

from sqm.dashboards import notifications
from sqm.dashboards.build import NOTIFICATIONS_FILE, PROJECT_ROOT
from tests.dashboards.schemas import errors, needs_schemas
from tests.dashboards.targets import committed_alerts

PROVISIONING = PROJECT_ROOT / "deploy/grafana/provisioning"
DOCUMENT: dict[str, Any] = yaml.safe_load((PROJECT_ROOT / NOTIFICATIONS_FILE).read_text())


def _routes(route: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield route
    for child in route.get("routes", []):
        yield from _routes(child)


def _matches(route: dict[str, Any], labels: dict[str, str]) -> bool:
    """Grafana's object_matchers, for the `=` operator the policy uses."""
    for name, op, value in route.get("object_matchers", []):
        assert op == "=", f"only = is modelled here, got {op}"
        if labels.get(name) != value:
            return False
    return True


def _route_for(labels: dict[str, str]) -> dict[str, Any]:
    """The deepest matching route, as Alertmanager picks it (continue is not used here)."""
    route = DOCUMENT["policies"][0]
    while True:
        child = next((c for c in route.get("routes", []) if _matches(c, labels)), None)
        if child is None:
            return route
        assert not child.get("continue")
        route = child


def _datasource_uids() -> set[str]:
    uids = set()
    for path in (PROVISIONING / "datasources").glob("*.yaml"):
        uids |= {d["uid"] for d in yaml.safe_load(path.read_text())["datasources"]}
    return uids


@needs_schemas
def test_contact_point_and_policy_validate_against_the_alerting_schema() -> None:
    for point in DOCUMENT["contactPoints"]:
        for receiver in point["receivers"]:
            api = {"name": point["name"], **receiver}  # the API shape the schema describes
            assert errors("alerting", "ContactPoint", api) == [], receiver["uid"]
    for policy in DOCUMENT["policies"]:
        tree = {k: v for k, v in policy.items() if k != "orgId"}
        assert errors("alerting", "NotificationPolicy", tree) == []
    assert errors("alerting", "ContactPoint", notifications.contact_point()) == []
    assert errors("alerting", "NotificationPolicy", notifications.policy()) == []


def test_the_webhook_url_comes_from_the_environment() -> None:
    (point,) = DOCUMENT["contactPoints"]
    (receiver,) = point["receivers"]
    assert (point["orgId"], point["name"]) == (1, "SQM")
    assert (receiver["uid"], receiver["type"]) == ("sqm-webhook", "webhook")
    assert receiver["settings"] == {"url": "${SQM_ALERT_WEBHOOK_URL}", "httpMethod": "POST"}
    compose = yaml.safe_load((PROJECT_ROOT / "deploy/docker-compose.yml").read_text())
    grafana_env = compose["services"]["grafana"]["environment"]
    # Required: compose refuses to start without it, so alerts always go somewhere.
    assert re.fullmatch(r"\$\{SQM_ALERT_WEBHOOK_URL:\?.+\}", grafana_env["SQM_ALERT_WEBHOOK_URL"])
    assert re.search(r"^SQM_ALERT_WEBHOOK_URL=$", (PROJECT_ROOT / "deploy/.env.example")
                     .read_text(), re.MULTILINE)


def test_every_receiver_the_policy_names_exists() -> None:
    names = {point["name"] for point in DOCUMENT["contactPoints"]}
    (policy,) = DOCUMENT["policies"]
    assert policy["orgId"] == 1
    receivers = {route["receiver"] for route in _routes(policy)}
    assert receivers and receivers <= names, receivers - names


def test_sqm_rules_reach_the_contact_point_grouped_by_rule_and_tenant() -> None:
    rules = [rule for group in committed_alerts()["groups"] for rule in group["rules"]]
    assert len(rules) == 9
    for rule in rules:
        route = _route_for(rule["labels"])
        assert route["receiver"] == "SQM", rule["uid"]
        assert route["group_by"] == ["alertname", "tenant_id"], rule["uid"]
    # Anything else in this Grafana still goes somewhere: the root is the same contact point.
    other = _route_for({"alertname": "someone else's rule"})
    assert other is DOCUMENT["policies"][0] and other["receiver"] == "SQM"


def test_rules_refer_to_provisioned_folder_and_data_sources() -> None:
    provider = yaml.safe_load((PROVISIONING / "dashboards/sqm.yaml").read_text())["providers"][0]
    datasources = _datasource_uids()
    assert datasources == {"sqm-clickhouse", "sqm-prometheus"}
    for group in committed_alerts()["groups"]:
        assert group["folder"] == provider["folder"]
        for rule in group["rules"]:
            for query in rule["data"]:
                uid = query["datasourceUid"]
                assert uid == "__expr__" or uid in datasources, (rule["uid"], uid)


def test_email_example_joins_the_same_contact_point() -> None:
    """The opt-in e-mail file: ignored by Grafana as named, valid once renamed."""
    path = PROVISIONING / "alerting/sqm-email.yaml.example"
    assert path.suffix not in (".yaml", ".yml", ".json")  # Grafana reads only these
    (point,) = yaml.safe_load(path.read_text())["contactPoints"]
    (receiver,) = point["receivers"]
    assert (point["orgId"], point["name"]) == (1, notifications.CONTACT_POINT)
    assert receiver["type"] == "email" and receiver["uid"] != notifications.RECEIVER_UID
    assert receiver["settings"]["addresses"] == "${SQM_ALERT_EMAIL_TO}"


@needs_schemas
def test_email_example_validates_against_the_contact_point_schema() -> None:
    path = PROVISIONING / "alerting/sqm-email.yaml.example"
    (point,) = yaml.safe_load(path.read_text())["contactPoints"]
    for receiver in point["receivers"]:
        assert errors("alerting", "ContactPoint", {"name": point["name"], **receiver}) == []
