"""Grafana's JSON Schemas, read from ../shared/grafana-jsonschema/ relative to the repository
root (they ship in no package; see that folder's README). Tests using them skip, with the
reason, when the folder is absent.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest
from jsonschema import Draft7Validator

from sqm.dashboards.build import PROJECT_ROOT

SCHEMA_DIR = PROJECT_ROOT / ".." / "shared" / "grafana-jsonschema"
needs_schemas = pytest.mark.skipif(
    not SCHEMA_DIR.is_dir(),
    reason=f"Grafana JSON Schemas not found at {SCHEMA_DIR} (../shared/grafana-jsonschema "
    "relative to the repository root); schema validation skipped",
)


@cache
def _schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        (SCHEMA_DIR / f"{name}.jsonschema.json").read_text(encoding="utf-8")
    )
    return loaded


def errors(schema: str, definition: str | None, instance: object) -> list[str]:
    document = _schema(schema)
    if definition is not None:
        document = {"$ref": f"#/definitions/{definition}", "definitions": document["definitions"]}
    validator = Draft7Validator(document)
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    ]
