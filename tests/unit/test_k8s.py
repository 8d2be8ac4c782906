"""The Kubernetes manifests in deploy/k8s/, checked statically (no cluster runs here).

Every manifest parses and has its required fields, kustomization.yaml lists them all, the
probes use the health endpoints' paths and port, every SQM_* variable is a setting, the image
and its arguments match deploy/Dockerfile, the ConfigMap holds deploy/config/sqm.yaml and
validates, and `kubectl kustomize` renders the set when kubectl is installed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from sqm.streams.config import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
SQM_YAML = ROOT / "deploy" / "config" / "sqm.yaml"
HEALTH_PORT = 9108
REQUIRED = {
    "Namespace": [],
    "ConfigMap": ["data"],
    "Secret": ["stringData"],
    "Job": ["spec.template.spec.containers"],
    "Deployment": ["spec.replicas", "spec.selector.matchLabels", "spec.template.spec.containers"],
    "Service": ["spec.selector", "spec.ports"],
    "PodDisruptionBudget": ["spec.selector.matchLabels", "spec.maxUnavailable"],
}


@cache
def manifests() -> dict[str, dict[str, Any]]:
    """file name -> the one document it holds, kustomization.yaml excepted."""
    out = {}
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        docs = list(yaml.safe_load_all(path.read_text()))
        assert len(docs) == 1, path.name
        out[path.name] = docs[0]
    return out


def of_kind(kind: str) -> dict[str, Any]:
    (found,) = [m for m in manifests().values() if m["kind"] == kind]
    return found


def dig(node: Any, dotted: str) -> Any:
    for key in dotted.split("."):
        assert isinstance(node, dict) and key in node, dotted
        node = node[key]
    return node


def containers() -> list[dict[str, Any]]:
    return [c for kind in ("Deployment", "Job")
            for c in dig(of_kind(kind), "spec.template.spec.containers")]


def test_every_manifest_parses_with_its_required_fields() -> None:
    assert {m["kind"] for m in manifests().values()} == set(REQUIRED)
    for name, m in manifests().items():
        assert m["apiVersion"] and m["metadata"]["name"], name
        for field in REQUIRED[m["kind"]]:
            assert dig(m, field), (name, field)


def test_kustomization_lists_every_manifest_but_the_secret_template() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert kustomization["namespace"] == of_kind("Namespace")["metadata"]["name"] == "sqm"
    templates = {"secret.example.yaml", "kafka-secret.example.yaml"}
    assert set(kustomization["resources"]) == set(manifests()) - templates


def test_selectors_match_the_pod_labels() -> None:
    labels = dig(of_kind("Deployment"), "spec.template.metadata.labels")
    for kind, path in (("Deployment", "spec.selector.matchLabels"), ("Service", "spec.selector"),
                       ("PodDisruptionBudget", "spec.selector.matchLabels")):
        assert dig(of_kind(kind), path).items() <= labels.items(), kind


def test_probes_use_the_health_endpoints() -> None:
    (worker,) = dig(of_kind("Deployment"), "spec.template.spec.containers")
    assert worker["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": HEALTH_PORT}
    assert worker["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": HEALTH_PORT}
    assert worker["startupProbe"]["httpGet"] == {"path": "/healthz", "port": HEALTH_PORT}
    env = {e["name"]: e.get("value") for e in worker["env"]}
    assert env["SQM_METRICS_PORT"] == str(HEALTH_PORT)
    assert worker["ports"] == [{"name": "metrics", "containerPort": HEALTH_PORT}]
    (port,) = of_kind("Service")["spec"]["ports"]
    assert (port["port"], port["targetPort"]) == (HEALTH_PORT, "metrics")


def test_env_names_are_settings_and_secrets_exist() -> None:
    # SQM_CONFIG is no field: Settings reads it to find the YAML file (streams/config.py).
    fields = {f"SQM_{name.upper()}" for name in Settings.model_fields} | {"SQM_CONFIG"}
    secrets = {m["metadata"]["name"]: m for m in manifests().values() if m["kind"] == "Secret"}
    for c in containers():
        for e in c["env"]:
            assert e["name"] in fields, e["name"]
            if ref := e.get("valueFrom", {}).get("secretKeyRef"):
                assert ref["key"] in secrets[ref["name"]]["stringData"], ref["key"]


def test_image_and_arguments_match_the_dockerfile() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r'^ENTRYPOINT \["sqm"\]$', text, re.M)
    user = re.findall(r"^USER (\d+):(\d+)$", text, re.M)[-1]
    args = {"Deployment": ["worker"], "Job": ["migrate"]}
    for kind, expected in args.items():
        spec = dig(of_kind(kind), "spec.template.spec")
        (c,) = spec["containers"]
        assert c["image"] == "sqm-worker:local"  # compose's default tag; overridden by kustomize
        assert "command" not in c, "keep the image's entrypoint"
        assert c["args"] == expected
        ctx = spec["securityContext"]
        assert (str(ctx["runAsUser"]), str(ctx["runAsGroup"])) == user
        assert ctx["runAsNonRoot"] is True
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        mounts = {m["mountPath"] for m in c["volumeMounts"]}
        assert {"/etc/sqm", "/home/sqm"} <= mounts  # the config and a writable WORKDIR
        assert c["resources"]["limits"]["memory"] and c["resources"]["requests"]["memory"]
    grace = dig(of_kind("Deployment"), "spec.template.spec.terminationGracePeriodSeconds")
    assert grace > load_settings().stop_grace_s


def test_the_job_migrates_as_the_migrator_and_workers_write_as_the_writer() -> None:
    def url_key(kind: str) -> str:
        (c,) = dig(of_kind(kind), "spec.template.spec.containers")
        (url,) = [e for e in c["env"] if e["name"] == "SQM_CLICKHOUSE_URL"]
        return str(url["valueFrom"]["secretKeyRef"]["key"])

    urls = manifests()["secret.example.yaml"]["stringData"]
    assert urls[url_key("Job")].startswith("https://sqm_migrate:")
    assert urls[url_key("Deployment")].startswith("https://sqm:")


def test_configmap_is_the_compose_sqm_yaml_and_validates(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    data = of_kind("ConfigMap")["data"]["sqm.yaml"]
    assert data == SQM_YAML.read_text()  # comments included: one file, two places
    path = tmp_path / "sqm.yaml"
    path.write_text(data)
    monkeypatch.setenv("SQM_CONFIG", str(path))
    load_settings()


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_kustomize_renders_the_set() -> None:
    done = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    kinds = [d["kind"] for d in yaml.safe_load_all(done.stdout)]
    assert sorted(kinds) == sorted(set(REQUIRED) - {"Secret"})
