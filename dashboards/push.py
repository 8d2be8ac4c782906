"""Uploads the boards to a running Grafana through its HTTP API (`sqm dashboards push`).

For Grafanas that cannot read our provisioning files (e.g. Grafana Cloud). The boards go into
the folder the file provider would use (uid `sqm`, title `SQM`), created if missing, and
overwrite any earlier version with the same uid. Alert rules stay file-provisioned.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from sqm.dashboards.alerts import FOLDER, FOLDER_UID
from sqm.sinks.grafana import GrafanaError, GrafanaTarget, call, connect

__all__ = ["push_dashboards"]

_NOT_FOUND = 404


def push_dashboards(target: GrafanaTarget, boards: Mapping[str, dict[str, Any]]) -> list[str]:
    """Create or overwrite each board (uid → dashboard JSON); return the uids pushed."""
    pushed = []
    with connect(target) as api:
        try:
            call(target, f"read folder {FOLDER_UID}", lambda: api.folder.get_folder(FOLDER_UID))
        except GrafanaError as ex:
            if ex.status != _NOT_FOUND:
                raise
            call(
                target,
                f"create folder {FOLDER_UID}",
                lambda: api.folder.create_folder(FOLDER, uid=FOLDER_UID),
            )
        for uid, board in boards.items():
            payload = {
                "dashboard": board,
                "folderUid": FOLDER_UID,
                "overwrite": True,  # code is the source of truth, whatever was edited in the UI
                "message": "sqm dashboards push",
            }
            save = functools.partial(api.dashboard.update_dashboard, payload)
            call(target, f"save dashboard {uid}", save)
            pushed.append(uid)
    return pushed
