"""`sqm dashboards push` and `push_alert_annotation` through grafana-client.

The server is a local HTTP stub (tests/dashboards/stub.py) because no Grafana server can run on
these machines: it records each request and the tests check the exact method, path, JSON body
and `Authorization: Bearer` header that a real Grafana would receive.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sqm.dashboards.build import BOARDS, dashboard_json
from sqm.dashboards.cli import app
from sqm.dashboards.push import push_dashboards
from sqm.sinks.grafana import GrafanaTarget
from sqm.sinks.grafana_annotations import push_alert_annotation, push_alert_annotation_async
from tests.dashboards.stub import GrafanaStub, Request, grafana_stub

TOKEN = "glsa_test-token"
BEARER = f"Bearer {TOKEN}"
STARTED = datetime(2024, 5, 1, 0, 30, 0, 250000, tzinfo=UTC)  # 1714523400250 ms
ENDED = datetime(2024, 5, 1, 1, 0, tzinfo=UTC)  # 1714525200000 ms
ANNOTATIONS_QUERY = "/api/annotations?type=annotation&tags=sqm-alert:al-1&limit=1"


@pytest.fixture()
def stub() -> Iterator[GrafanaStub]:
    with grafana_stub() as server:
        yield server


def _target(stub: GrafanaStub) -> GrafanaTarget:
    return GrafanaTarget(stub.url, TOKEN, timeout_s=5)


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there any more: connection refused


# --- dashboards push -------------------------------------------------------------------------


def _board_saves() -> list[Request]:
    return [
        Request("POST", "/api/dashboards/db", BEARER, {
            "dashboard": dashboard_json(uid),
            "folderUid": "sqm",
            "overwrite": True,
            "message": "sqm dashboards push",
        })
        for uid in BOARDS
    ]


def test_push_creates_the_folder_then_saves_every_board(stub: GrafanaStub) -> None:
    stub.route("GET", "/api/folders/sqm", 404, {"message": "folder not found"})
    stub.route("POST", "/api/folders", 200, {"uid": "sqm", "title": "SQM"})
    stub.route("POST", "/api/dashboards/db", 200, {"status": "success"})

    pushed = push_dashboards(_target(stub), {uid: dashboard_json(uid) for uid in BOARDS})

    assert pushed == ["sqm-ops", "sqm-analyst", "sqm-scorecard"]
    assert stub.requests == [
        Request("GET", "/api/folders/sqm", BEARER, None),
        Request("POST", "/api/folders", BEARER, {"title": "SQM", "uid": "sqm"}),
        *_board_saves(),
    ]


def test_push_cli_reuses_an_existing_folder(
    stub: GrafanaStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    stub.route("GET", "/api/folders/sqm", 200, {"uid": "sqm", "title": "SQM"})
    stub.route("POST", "/api/dashboards/db", 200, {"status": "success"})
    monkeypatch.setenv("SQM_GRAFANA_URL", stub.url)
    monkeypatch.setenv("SQM_GRAFANA_TOKEN", TOKEN)

    result = CliRunner().invoke(app, ["push"])

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"pushed sqm-ops, sqm-analyst, sqm-scorecard to {stub.url}"
    assert stub.requests == [Request("GET", "/api/folders/sqm", BEARER, None), *_board_saves()]


def test_push_cli_reports_a_refusal_in_one_line(
    stub: GrafanaStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    stub.route("GET", "/api/folders/sqm", 401, {"message": "invalid API key"})
    monkeypatch.setenv("SQM_GRAFANA_TOKEN", TOKEN)

    result = CliRunner().invoke(app, ["push", "--url", stub.url])

    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f"error: Grafana at {stub.url} refused to read folder sqm: HTTP 401 (invalid API key)"
    ]
    assert TOKEN not in result.output
    assert stub.calls() == [("GET", "/api/folders/sqm")]


def test_push_cli_reports_an_unreachable_grafana_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = _closed_port_url()
    monkeypatch.setenv("SQM_GRAFANA_URL", url)
    monkeypatch.setenv("SQM_GRAFANA_TOKEN", TOKEN)

    result = CliRunner().invoke(app, ["push", "--timeout", "2"])

    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: Grafana at {url} is unreachable (")


def test_push_cli_needs_url_and_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SQM_GRAFANA_URL", raising=False)
    monkeypatch.delenv("SQM_GRAFANA_TOKEN", raising=False)
    result = CliRunner().invoke(app, ["push"])
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: set SQM_GRAFANA_URL and SQM_GRAFANA_TOKEN (or --url and --token)"
    )


# --- alert annotations -----------------------------------------------------------------------


def _alert(**changes: Any) -> dict[str, Any]:
    row = {
        "alert_id": "al-1", "rule_id": "sl-breach", "kind": "breach", "severity": "critical",
        "state": "firing", "metric": "service_level", "tenant_id": "t1", "channel": "chat",
        "queue": "", "priority": "", "agent_id": "", "contact_id": None, "value": 0.5,
        "threshold": 0.8, "started_at": STARTED, "ended_at": None,
        "message": "Service level 50% on t1/chat", "version": 1, "updated_at": STARTED,
    }
    return row | changes


def _tags(state: str) -> list[str]:
    return ["sqm", "critical", "breach", state, "sqm-alert:al-1", "rule:sl-breach", "tenant:t1",
            "channel:chat"]


def test_annotation_is_created_for_a_new_alert(stub: GrafanaStub) -> None:
    stub.route("GET", ANNOTATIONS_QUERY, 200, [])
    stub.route("POST", "/api/annotations", 200, {"message": "Annotation added", "id": 17})

    assert push_alert_annotation(_alert(), target=_target(stub)) == 17

    assert stub.requests == [
        Request("GET", ANNOTATIONS_QUERY, BEARER, None),
        Request("POST", "/api/annotations", BEARER, {
            "panelId": None,
            "time": 1714523400250,
            "timeEnd": 1714523400250,  # still open: a point
            "tags": _tags("firing"),
            "text": "Service level 50% on t1/chat (service_level 0.5, threshold 0.8; firing)",
        }),
    ]


def test_annotation_of_a_resolved_alert_updates_the_existing_one(
    stub: GrafanaStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    stub.route("GET", ANNOTATIONS_QUERY, 200, [{"id": 17, "tags": _tags("firing")}])
    stub.route("PATCH", "/api/annotations/17", 200, {"message": "Annotation patched"})
    monkeypatch.setenv("SQM_GRAFANA_URL", stub.url)  # the stream's way: from the environment
    monkeypatch.setenv("SQM_GRAFANA_TOKEN", TOKEN)

    resolved = _alert(state="resolved", ended_at=ENDED, version=2)
    assert push_alert_annotation(resolved) == 17

    assert stub.requests == [
        Request("GET", ANNOTATIONS_QUERY, BEARER, None),
        Request("PATCH", "/api/annotations/17", BEARER, {
            "time": 1714523400250,
            "timeEnd": 1714525200000,
            "tags": _tags("resolved"),
            "text": "Service level 50% on t1/chat (service_level 0.5, threshold 0.8; resolved)",
        }),
    ]


def test_annotation_lookup_encodes_odd_alert_ids(stub: GrafanaStub) -> None:
    query = "/api/annotations?type=annotation&tags=sqm-alert:al%201%26x&limit=1"
    stub.route("GET", query, 200, [])
    stub.route("POST", "/api/annotations", 200, {"id": 3})

    class Alert:  # any object with the columns as attributes works too
        def __init__(self) -> None:
            self.__dict__.update(_alert(alert_id="al 1&x", tenant_id="", channel=""))

    assert push_alert_annotation(Alert(), target=_target(stub)) == 3
    assert stub.calls() == [("GET", query), ("POST", "/api/annotations")]
    assert stub.requests[1].body["tags"] == [
        "sqm", "critical", "breach", "firing", "sqm-alert:al 1&x", "rule:sl-breach"
    ]


def test_annotation_failures_are_logged_never_raised(
    stub: GrafanaStub, caplog: pytest.LogCaptureFixture
) -> None:
    stub.route("GET", ANNOTATIONS_QUERY, 500, {"message": "database is locked"})
    with caplog.at_level(logging.WARNING, logger="sqm.sinks.grafana_annotations"):
        assert push_alert_annotation(_alert(), target=_target(stub)) is None
        down = GrafanaTarget(_closed_port_url(), TOKEN)
        assert push_alert_annotation(_alert(), target=down) is None
        naive = _alert(started_at=datetime(2024, 5, 1, 0, 30))  # noqa: DTZ001 (the point)
        assert push_alert_annotation(naive, target=_target(stub)) is None
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == (
        f"alert al-1: Grafana annotation not pushed: Grafana at {stub.url} refused to find "
        "annotations: HTTP 500 (database is locked)"
    )
    assert "is unreachable" in messages[1]
    assert "timezone-aware" in messages[2]
    assert len(messages) == 3 and all(TOKEN not in m for m in messages)
    assert stub.calls() == [("GET", ANNOTATIONS_QUERY)]  # the naive alert never left the process


def test_annotation_is_skipped_without_configuration(
    stub: GrafanaStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SQM_GRAFANA_URL", stub.url)
    monkeypatch.delenv("SQM_GRAFANA_TOKEN", raising=False)
    assert push_alert_annotation(_alert()) is None
    assert stub.requests == []


def test_annotation_push_from_async_code(stub: GrafanaStub) -> None:
    stub.route("GET", ANNOTATIONS_QUERY, 200, [])
    stub.route("POST", "/api/annotations", 200, {"id": 5})
    assert asyncio.run(push_alert_annotation_async(_alert(), target=_target(stub))) == 5


# --- build / --check -------------------------------------------------------------------------


def test_build_check_names_stale_files_in_one_line(tmp_path: Path) -> None:
    runner = CliRunner()
    elsewhere = runner.invoke(app, ["build", "--root", str(tmp_path)])
    assert elsewhere.exit_code == 1 and "is not the sqm source tree" in elsewhere.stderr
    (tmp_path / "pyproject.toml").write_text("")
    missing = runner.invoke(app, ["build", "--check", "--root", str(tmp_path)])
    assert missing.exit_code == 1
    assert missing.stderr.strip().splitlines() == [
        "error: stale Grafana files (run `sqm dashboards build`): "
        "deploy/grafana/dashboards/sqm-analyst.json, deploy/grafana/dashboards/sqm-ops.json, "
        "deploy/grafana/dashboards/sqm-scorecard.json, "
        "deploy/grafana/provisioning/alerting/sqm-alerts.yaml, "
        "deploy/grafana/provisioning/alerting/sqm-notifications.yaml"
    ]

    assert runner.invoke(app, ["build", "--root", str(tmp_path)]).exit_code == 0
    fresh = runner.invoke(app, ["build", "--check", "--root", str(tmp_path)])
    assert (fresh.exit_code, fresh.stdout.strip()) == (0, "Grafana files are up to date")

    boards = tmp_path / "deploy/grafana/dashboards"
    (boards / "sqm-ops.json").write_text("{}\n")
    (boards / "old-board.json").write_text("{}\n")  # a board deleted from the code
    stale = runner.invoke(app, ["build", "--check", "--root", str(tmp_path)])
    assert stale.exit_code == 1
    assert stale.stderr.strip().endswith(
        ": deploy/grafana/dashboards/sqm-ops.json, deploy/grafana/dashboards/old-board.json"
    )

    rebuilt = runner.invoke(app, ["build", "--root", str(tmp_path)])
    assert rebuilt.stdout.strip() == (
        "updated: deploy/grafana/dashboards/sqm-ops.json, deploy/grafana/dashboards/old-board.json"
    )
    assert not (boards / "old-board.json").exists()


def test_app_mounts_as_sqm_dashboards() -> None:
    """How streams/cli.py mounts it: `cli.add_typer(app, name="dashboards")`."""
    import typer

    parent = typer.Typer()
    parent.callback()(lambda: None)
    parent.add_typer(app, name="dashboards")
    result = CliRunner().invoke(parent, ["dashboards", "build", "--check"])
    assert (result.exit_code, result.stdout.strip()) == (0, "Grafana files are up to date")
