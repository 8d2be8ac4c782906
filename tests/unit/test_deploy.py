"""The production deployment in deploy/: checked statically, since nothing here runs Docker.

What is checked: the compose file's structure and pins, that every variable it (or the ClickHouse
users file) reads is documented in .env.example and every documented SQM_* variable is a real
setting, that the worker's environment as compose builds it plus deploy/config/sqm.yaml
validates through `load_settings`, the ClickHouse users (well-formed, least privilege), and the
worker image (non-root, `sqm` entry point, copies what the package needs).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from sqm.streams.config import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"
ENV_EXAMPLE = DEPLOY / ".env.example"
DOCKERFILE = DEPLOY / "Dockerfile"
USERS_XML = DEPLOY / "clickhouse" / "users.d" / "sqm.xml"
USERS_SH = DEPLOY / "clickhouse" / "users.sh"
ACCESS_SQL = DEPLOY / "clickhouse" / "access.sql"
CONFIG_XML = DEPLOY / "clickhouse" / "config.d" / "sqm.xml"
SQM_YAML = DEPLOY / "config" / "sqm.yaml"
DOCKERIGNORE = ROOT / ".dockerignore"

# SQM_* variables that are not sqm settings: Grafana's data source reads them (provisioning in
# deploy/grafana/), and the grafana password is also the ClickHouse server's (users.sh).
GRAFANA_DATASOURCE_VARS = frozenset(
    {"SQM_GRAFANA_CH_HOST", "SQM_GRAFANA_CH_PORT", "SQM_GRAFANA_CH_USER", "SQM_GRAFANA_CH_PASSWORD",
     "SQM_GRAFANA_PROMETHEUS_URL", "SQM_ALERT_WEBHOOK_URL"}
)
# The webhook URL is required (alerts must reach someone) and often embeds a token.
SECRETS = frozenset(
    {"CLICKHOUSE_SQM_PASSWORD", "CLICKHOUSE_MIGRATE_PASSWORD", "SQM_GRAFANA_CH_PASSWORD",
     "GRAFANA_ADMIN_PASSWORD", "SQM_ALERT_WEBHOOK_URL"}
)
# Settings the compose environment sets for the workers; the YAML file must not set them too
# (the environment would silently win).
ENV_ONLY_SETTINGS = frozenset({"kafka_bootstrap", "clickhouse_url", "partitions"})
SERVICES = {"kafka", "clickhouse", "migrate", "worker", "grafana", "prometheus"}
LONG_RUNNING = {"kafka", "clickhouse", "worker", "grafana", "prometheus"}
PROMETHEUS_YML = DEPLOY / "prometheus" / "prometheus.yml"
VERSION_TAG = re.compile(r":v?\d+(\.\d+)+")  # an exact version (not `latest`, not a bare major)
_ASSIGN = re.compile(r"^(#\s?)?([A-Z][A-Z0-9_]*)=(.*)$")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")


# --- helpers -------------------------------------------------------------------------------------


@cache
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def service(name: str) -> dict[str, Any]:
    svc = compose()["services"][name]
    assert isinstance(svc, dict)
    return svc


def strings(node: Any) -> Iterator[str]:
    """Every string value (and mapping key) in a parsed YAML document; comments are not in it."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, Mapping):
        for key, value in node.items():
            yield from strings(key)
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)


def compose_vars() -> set[str]:
    return {m for s in strings(compose()) for m in _VAR.findall(s)}


@cache
def env_example() -> tuple[dict[str, str], set[str]]:
    """(active assignments, every documented name: active or commented-out `# NAME=...`)."""
    active: dict[str, str] = {}
    documented: set[str] = set()
    for line in ENV_EXAMPLE.read_text().splitlines():
        m = _ASSIGN.match(line)
        if m:
            documented.add(m.group(2))
            if not m.group(1):
                active[m.group(2)] = m.group(3)
    return active, documented


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?err}`, nested; `$$`."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("$$", i):
            out.append("$")
            i += 2
        elif text.startswith("${", i):
            depth, j = 1, i + 2
            while depth:
                if text.startswith("${", j):
                    depth, j = depth + 1, j + 2
                    continue
                depth -= text[j] == "}"
                j += 1
            out.append(_resolve(text[i + 2 : j - 1], env))
            i = j
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _resolve(expr: str, env: Mapping[str, str]) -> str:
    m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])(.*))?", expr, re.S)
    assert m, f"not a compose variable expression: ${{{expr}}}"
    name, op, arg = m.groups()
    value = env.get(name)
    if op == ":-":
        return value if value else interpolate(arg, env)
    if op == "-":
        return value if value is not None else interpolate(arg, env)
    if op in (":?", "?"):
        if not value if op == ":?" else value is None:
            raise LookupError(f"{name}: {arg}")
        return str(value)
    return value or ""


def example_env() -> dict[str, str]:
    """deploy/.env as an operator would write it: the example plus the three secrets."""
    env = dict(env_example()[0])
    env.update({name: f"secret-{i}" for i, name in enumerate(sorted(SECRETS))})
    return env


def compose_default(name: str) -> str | None:
    """The `${NAME:-default}` default used in the compose file (None if it has none)."""
    found = {
        m.group(1)
        for s in strings(compose())
        for m in re.finditer(r"\$\{" + name + r":-((?:[^{}]|\$\{[^}]*\})*)\}", s)
    }
    assert len(found) <= 1, f"{name} has different defaults in the compose file: {found}"
    return found.pop() if found else None


def service_env(name: str, env: Mapping[str, str]) -> dict[str, str]:
    raw = service(name).get("environment", {})
    assert isinstance(raw, dict), f"{name}: use the mapping form of `environment`"
    return {k: interpolate(str(v), env) for k, v in raw.items()}


@cache
def users_xml() -> ET.Element:
    return ET.parse(USERS_XML).getroot()


def user(name: str) -> ET.Element:
    node = users_xml().find(f"users/{name}")
    assert node is not None, f"no ClickHouse user {name!r} in {USERS_XML.name}"
    return node


_SQM_USER = re.compile(r'^\s*sqm_user_sql (\w+) (\w+) "\$\{(\w+):-\}"$', re.M)


def sql_users() -> dict[str, tuple[str, str]]:
    """ClickHouse user -> (its role, the variable its password comes from), from users.sh."""
    return {u: (role, var) for u, role, var in _SQM_USER.findall(USERS_SH.read_text())}


def password_var(name: str) -> str:
    """The environment variable ClickHouse user `name` takes its password from."""
    assert name in sql_users(), f"no ClickHouse user {name!r} in {USERS_SH.name}"
    return sql_users()[name][1]


def from_env_vars() -> set[str]:
    return {var for _, var in sql_users().values()}


def role_grants(role: str) -> list[str]:
    """The privileges access.sql grants `role`, e.g. ["SELECT, INSERT ON sqm.*"]."""
    return re.findall(rf"^GRANT (.+) TO {role};$", ACCESS_SQL.read_text(), re.M)


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    joined: list[str] = []
    buf = ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            buf += stripped[:-1] + " "
            continue
        joined.append(buf + stripped)
        buf = ""
    result = []
    for item in joined:
        word, _, rest = item.partition(" ")
        result.append((word.upper(), rest.strip()))
    return result


def dockerfile_from_images() -> list[str]:
    args: dict[str, str] = {}
    images = []
    for word, rest in dockerfile_instructions():
        if word == "ARG" and "=" in rest:
            key, _, value = rest.partition("=")
            args[key] = value
        elif word == "FROM":
            image = rest.split()[0]
            images.append(re.sub(r"\$\{?(\w+)\}?", lambda m: args[m.group(1)], image))
    return images


def copied_sources() -> list[str]:
    sources: list[str] = []
    for word, rest in dockerfile_instructions():
        if word == "COPY" and not rest.startswith("--from"):
            parts = [p for p in shlex.split(rest) if not p.startswith("--")]
            sources += parts[:-1]
    return sources


# --- docker-compose.yml --------------------------------------------------------------------------


def test_compose_has_the_services() -> None:
    assert set(compose()["services"]) == SERVICES


def test_images_are_pinned_to_exact_versions() -> None:
    env = example_env()
    for name, svc in compose()["services"].items():
        image = interpolate(svc["image"], env)
        assert not image.endswith(":latest"), f"{name}: {image}"
        if "build" in svc:
            assert ":" in image, f"{name}: tag the built image ({image})"
        else:
            assert VERSION_TAG.search(image), f"{name}: pin an exact version, not {image!r}"
    assert service("kafka")["image"].startswith("apache/kafka:")
    assert service("clickhouse")["image"].startswith("clickhouse/clickhouse-server:")
    assert service("grafana")["image"].startswith("grafana/grafana:")  # OSS, not -enterprise


def test_no_fixed_container_names_and_ports_only_on_the_bind_address() -> None:
    for name, svc in compose()["services"].items():
        assert "container_name" not in svc, f"{name}: a fixed name breaks --scale and projects"
        for port in svc.get("ports", []):
            assert isinstance(port, str) and port.startswith("${HOST_BIND_ADDRESS:-127.0.0.1}:"), (
                f"{name}: publish {port!r} on HOST_BIND_ADDRESS (localhost by default)"
            )


def test_worker_scales() -> None:
    worker = service("worker")
    assert worker["command"] == ["worker"]
    assert "build" in worker
    # Replicas of one service must not collide on the host.
    assert "ports" not in worker
    assert "container_name" not in worker
    assert "hostname" not in worker
    assert worker["restart"] in ("unless-stopped", "always")


def test_worker_is_unprivileged_and_can_write_its_scratch_directory() -> None:
    worker = service("worker")
    assert worker["read_only"] is True
    assert worker["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in worker["security_opt"]
    # Faust creates its data directory in the working directory: it must be writable.
    workdirs = [rest for word, rest in dockerfile_instructions() if word == "WORKDIR"]
    assert workdirs[-1] in worker["tmpfs"]
    for name in SERVICES:
        assert "no-new-privileges:true" in service(name).get("security_opt", []), name


def test_migrate_runs_once_before_the_workers() -> None:
    migrate, worker = service("migrate"), service("worker")
    assert migrate["command"] == ["migrate"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["clickhouse"]["condition"] == "service_healthy"
    deps = worker["depends_on"]
    assert deps["migrate"]["condition"] == "service_completed_successfully"
    assert deps["kafka"]["condition"] == "service_healthy"
    assert deps["clickhouse"]["condition"] == "service_healthy"
    # Same image and settings for both, so the schema migrated is the one the workers expect.
    assert migrate["image"] == worker["image"]
    assert migrate["build"] == worker["build"]
    # ... except the ClickHouse user: the migrator may change the schema, the writer not.
    env = example_env()
    migrate_env, worker_env = service_env("migrate", env), service_env("worker", env)
    assert urlsplit(migrate_env.pop("SQM_CLICKHOUSE_URL")).username == "sqm_migrate"
    assert urlsplit(worker_env.pop("SQM_CLICKHOUSE_URL")).username == "sqm"
    assert migrate_env == worker_env


def test_restart_policies_and_healthchecks() -> None:
    for name in LONG_RUNNING:
        assert service(name)["restart"] in ("unless-stopped", "always"), name
    for name in LONG_RUNNING:
        check = service(name)["healthcheck"]
        assert check["test"][0] in ("CMD", "CMD-SHELL") and len(check["test"]) > 1, name
        assert {"interval", "timeout", "retries"} <= set(check), name


def test_data_lives_in_named_volumes() -> None:
    declared = set(compose()["volumes"])
    wanted = {
        "kafka": "/var/lib/kafka/data",
        "clickhouse": "/var/lib/clickhouse",
        "grafana": "/var/lib/grafana",
        "prometheus": "/prometheus",
    }
    for name, target in wanted.items():
        mounts = {v.split(":")[1]: v.split(":")[0] for v in service(name)["volumes"]}
        assert target in mounts, f"{name}: no volume at {target}"
        assert mounts[target] in declared, f"{name}: {target} is not a named volume"


def test_kafka_is_a_single_kraft_node_reachable_by_the_workers() -> None:
    env = service_env("kafka", example_env())
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert not any("ZOOKEEPER" in key for key in env)
    assert env["CLUSTER_ID"]
    listeners = dict(item.split("://") for item in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    assert set(listeners) | {env["KAFKA_CONTROLLER_LISTENER_NAMES"]} == {
        name for name, _ in (m.split(":") for m in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"]
                             .split(","))
    }
    # The workers' default bootstrap is what the broker advertises on its internal listener.
    bootstrap = service_env("worker", example_env())["SQM_KAFKA_BOOTSTRAP"]
    assert listeners[env["KAFKA_INTER_BROKER_LISTENER_NAME"]] == bootstrap
    # Topics get sqm's partition count, never the broker default of 1.
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert env["KAFKA_NUM_PARTITIONS"] == service_env("worker", example_env())["SQM_PARTITIONS"]


def test_worker_healthcheck_asks_the_liveness_endpoint(tmp_path: Path) -> None:
    """The check's own command, run here against a real metrics server: exit 0 on 200, not 0 on
    503 (no Docker: the image's `python` is this interpreter)."""
    from prometheus_client import CollectorRegistry

    from sqm.streams.engine.faust.health import Answer
    from sqm.streams.observe.server import MetricsServer, wsgi_app

    worker = service("worker")
    check = worker["healthcheck"]
    assert check["test"][:3] == ["CMD", "python", "-c"], "the image has python, not curl"
    assert "/healthz" in check["test"][3]
    assert {"interval", "timeout", "retries", "start_period"} <= set(check)
    assert worker["expose"] == [str(Settings.model_fields["metrics_port"].default)]
    alive = {"ok": True}
    server = MetricsServer("127.0.0.1", 0, wsgi_app(
        CollectorRegistry(), lambda: Answer(alive["ok"], "x"), lambda: Answer(True, "ready")))
    try:
        def run() -> int:
            env = {"PATH": os.environ.get("PATH", ""), "SQM_METRICS_PORT": str(server.port)}
            return subprocess.run([sys.executable, *check["test"][2:]], env=env,
                                  capture_output=True, timeout=30, check=False).returncode
        assert run() == 0
        alive["ok"] = False
        assert run() != 0
    finally:
        server.close()


def test_prometheus_scrapes_every_worker_replica() -> None:
    prometheus = service("prometheus")
    assert prometheus["image"].startswith("prom/prometheus:")
    assert "./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in prometheus["volumes"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    config = yaml.safe_load(PROMETHEUS_YML.read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    sd = jobs["sqm-worker"]["dns_sd_configs"]
    # Compose's DNS: the service name resolves to every replica; the port is the workers'.
    assert sd == [{"names": ["worker"], "type": "A", "port": 9108, "refresh_interval": "30s"}]
    assert Settings.model_fields["metrics_port"].default == 9108
    # Grafana (the other helper's data source) reads it at http://prometheus:9090.
    assert prometheus["ports"] == ["${HOST_BIND_ADDRESS:-127.0.0.1}:${PROMETHEUS_PORT:-9090}:9090"]


def test_grafana_gets_the_plugin_provisioning_and_datasource_env() -> None:
    grafana = service("grafana")
    env = service_env("grafana", example_env())
    plugin = re.fullmatch(
        r"grafana-clickhouse-datasource (\d+\.\d+\.\d+)", env["GF_INSTALL_PLUGINS"]
    )
    assert plugin, "install the ClickHouse data source plugin at a pinned version"
    assert set(env) >= GRAFANA_DATASOURCE_VARS
    assert "./grafana/provisioning:/etc/grafana/provisioning:ro" in grafana["volumes"]
    assert "./grafana/dashboards:/var/lib/grafana/dashboards/sqm:ro" in grafana["volumes"]
    # The data source logs in as a read-only user the bundled ClickHouse actually defines.
    assert password_var(env["SQM_GRAFANA_CH_USER"]) == "SQM_GRAFANA_CH_PASSWORD"
    assert env["SQM_GRAFANA_CH_HOST"] == "clickhouse"


def test_default_clickhouse_url_is_the_bundled_writer() -> None:
    env = example_env()
    url = urlsplit(service_env("worker", env)["SQM_CLICKHOUSE_URL"])
    assert (url.scheme, url.hostname, url.port, url.path) == ("http", "clickhouse", 8123, "/sqm")
    assert url.password == env[password_var(str(url.username))]


def test_deploy_files_mounted_from_compose_exist() -> None:
    mounted = [
        v.split(":")[0]
        for name in SERVICES
        for v in service(name).get("volumes", [])
        if v.startswith("./") and not v.startswith("./grafana/")  # deploy/grafana: not ours
    ]
    assert mounted
    for source in mounted:
        assert (DEPLOY / source).is_file(), source
    ch = service("clickhouse")["volumes"]
    assert "./clickhouse/users.d/sqm.xml:/etc/clickhouse-server/users.d/sqm.xml:ro" in ch
    assert "./clickhouse/config.d/sqm.xml:/etc/clickhouse-server/config.d/sqm.xml:ro" in ch


def test_build_context_is_the_repository_root() -> None:
    build = service("worker")["build"]
    context = (DEPLOY / build["context"]).resolve()
    assert context == ROOT
    assert (context / build["dockerfile"]).resolve() == DOCKERFILE


def compose_cli() -> list[str] | None:
    """A Docker Compose v2 CLI, if this machine has one (it needs no Docker engine for `config`)."""
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True,
                                 timeout=30, check=False).returncode == 0:
        return [docker, "compose"]
    return None


def test_docker_compose_accepts_the_file(tmp_path: Path) -> None:
    cli = compose_cli()
    if cli is None:
        pytest.skip("no Docker Compose CLI on this machine")
    env_file = tmp_path / "env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in example_env().items()))
    done = subprocess.run(
        [*cli, "--project-directory", str(DEPLOY), "-f", str(COMPOSE), "--env-file",
         str(env_file), "config", "--format", "json"],
        capture_output=True, text=True, timeout=60, check=False,
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)},  # no stray SQM_* vars
    )
    assert done.returncode == 0 and done.stdout.strip(), done.stderr
    resolved = json.loads(done.stdout)
    assert set(resolved["services"]) == SERVICES
    # Compose's own interpolation agrees with the one these tests use.
    for name in ("worker", "clickhouse", "grafana", "kafka"):
        assert resolved["services"][name]["environment"] == service_env(name, example_env())


# --- .env.example --------------------------------------------------------------------------------


def test_every_variable_is_documented() -> None:
    _, documented = env_example()
    used = compose_vars() | from_env_vars()
    assert not used - documented, f"document in .env.example: {sorted(used - documented)}"
    assert not documented - used, f"documented but unused: {sorted(documented - used)}"


def test_every_sqm_variable_is_a_setting_or_a_datasource_variable() -> None:
    settings = {f"SQM_{name.upper()}" for name in Settings.model_fields}
    _, documented = env_example()
    unknown = {v for v in documented if v.startswith("SQM_")} - settings - GRAFANA_DATASOURCE_VARS
    assert not unknown, f"not fields of streams.config.Settings: {sorted(unknown)}"
    # And the SQM_* names the workers receive are settings (plus SQM_CONFIG, the file).
    for name in service_env("worker", example_env()):
        assert name in settings | {"SQM_CONFIG"}, name


def test_every_variable_has_a_comment() -> None:
    lines = ENV_EXAMPLE.read_text().splitlines()
    for i, line in enumerate(lines):
        m = _ASSIGN.match(line)
        if m and not m.group(1):
            assert i and lines[i - 1].startswith("#"), f"explain {m.group(2)} in a comment above it"


def test_example_values_match_the_compose_defaults() -> None:
    active, _ = env_example()
    for name, value in active.items():
        if name in SECRETS:
            assert value == "", f"{name}: never ship a password in the example"
            continue
        default = compose_default(name)
        assert default is not None, f"{name}: give it a default in the compose file"
        assert default == value, f"{name}: .env.example says {value!r}, compose {default!r}"


def test_secrets_are_required() -> None:
    # An empty ClickHouse password would mean "no password": compose must refuse to start.
    required = {
        m.group(1) for s in strings(compose()) for m in re.finditer(r"\$\{(\w+):\?", s)
    }
    assert required >= SECRETS | from_env_vars()
    env = example_env()
    env.pop("CLICKHOUSE_SQM_PASSWORD")
    with pytest.raises(LookupError):
        service_env("clickhouse", env)


def test_worker_environment_and_yaml_validate(monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    # The worker container: compose's environment (from the example .env) plus the YAML file.
    for name in list(os.environ):
        if name.startswith("SQM_"):
            monkeypatch.delenv(name)
    env = service_env("worker", example_env())
    assert env.pop("SQM_CONFIG") == "/etc/sqm/sqm.yaml"
    assert "./config/sqm.yaml:/etc/sqm/sqm.yaml:ro" in service("worker")["volumes"]
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SQM_CONFIG", str(SQM_YAML))  # recorded, so teardown restores it
    monkeypatch.chdir(tmp_path)  # no stray .env in the working directory
    settings = load_settings(SQM_YAML)
    assert not settings.embedded
    assert settings.kafka_bootstrap == "kafka:19092"
    assert settings.store_dir() is None
    assert settings.partitions == int(env["SQM_PARTITIONS"])


# --- deploy/config/sqm.yaml ----------------------------------------------------------------------


def test_yaml_loads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("SQM_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SQM_CONFIG", str(SQM_YAML))  # load_settings sets it; teardown undoes
    monkeypatch.chdir(tmp_path)
    settings = load_settings(SQM_YAML)
    data = yaml.safe_load(SQM_YAML.read_text())
    assert data and set(data) <= set(Settings.model_fields)
    for key, value in data.items():
        assert getattr(settings, key) == value, key


def test_yaml_leaves_endpoints_and_partitions_to_the_environment() -> None:
    data = yaml.safe_load(SQM_YAML.read_text())
    assert not set(data) & ENV_ONLY_SETTINGS


# --- ClickHouse server config --------------------------------------------------------------------


def test_clickhouse_xml_is_well_formed() -> None:
    assert users_xml().tag == "clickhouse"
    assert ET.parse(CONFIG_XML).getroot().tag == "clickhouse"


def test_users_and_their_roles() -> None:
    assert sql_users() == {
        "sqm": ("sqm_writer", "CLICKHOUSE_SQM_PASSWORD"),
        "sqm_migrate": ("sqm_migrator", "CLICKHOUSE_MIGRATE_PASSWORD"),
        "grafana": ("sqm_grafana", "SQM_GRAFANA_CH_PASSWORD"),
    }
    assert not users_xml().findall("users/*[password]"), "users are SQL now (users.sh)"


def test_grafana_user_is_read_only_on_sqm() -> None:
    assert role_grants("sqm_grafana") == ["SELECT ON sqm.*"]
    profile = re.search(r"^CREATE SETTINGS PROFILE OR REPLACE sqm_reader SETTINGS (.+) TO (.+);$",
                        ACCESS_SQL.read_text(), re.M)
    assert profile is not None
    assert "readonly = 1" in profile.group(1)
    assert "sqm_grafana" in profile.group(2).split(", ")


def test_writer_is_confined_to_database_sqm_and_has_no_ddl() -> None:
    assert role_grants("sqm_writer") == ["SELECT, INSERT, SHOW TABLES ON sqm.*"]
    (ddl,) = [g for g in role_grants("sqm_migrator") if g.endswith("ON sqm.*")]
    assert {"CREATE TABLE", "ALTER", "INSERT"} <= set(ddl.removesuffix(" ON sqm.*").split(", "))


def test_users_script_runs_first_access_then_users_at_every_start() -> None:
    ch = service("clickhouse")
    assert "./clickhouse/access.sql:/docker-entrypoint-initdb.d/10-access.sql:ro" in ch["volumes"]
    assert "./clickhouse/users.sh:/docker-entrypoint-initdb.d/20-users.sh:ro" in ch["volumes"]
    assert ch["environment"]["CLICKHOUSE_ALWAYS_RUN_INITDB_SCRIPTS"] == "1"
    assert os.access(USERS_SH, os.X_OK), "executable: the entrypoint runs it, not sources it"
    assert users_xml().findtext("users/default/access_management") == "1"


def test_default_user_is_local_only() -> None:
    networks = user("default").find("networks")
    assert networks is not None and networks.attrib.get("replace") == "replace"
    assert {ip.text for ip in networks.iterfind("ip")} <= {"::1", "127.0.0.1"}


# --- worker image --------------------------------------------------------------------------------


def test_image_is_python_311_slim() -> None:
    images = dockerfile_from_images()
    assert len(images) >= 1 and len(set(images)) == 1, images  # build and run on one base
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", images[0]), images[0]


def test_image_runs_sqm_as_non_root() -> None:
    instructions = dockerfile_instructions()
    last_stage = instructions[max(i for i, (w, _) in enumerate(instructions) if w == "FROM"):]
    users = [rest for word, rest in last_stage if word == "USER"]
    assert users, "set a USER in the final stage"
    assert users[-1].split(":")[0] not in ("root", "0")
    entrypoint = [json.loads(rest) for word, rest in last_stage if word == "ENTRYPOINT"]
    cmd = [json.loads(rest) for word, rest in last_stage if word == "CMD"]
    assert entrypoint[-1] == ["sqm"]
    assert cmd[-1] == ["worker"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["sqm"] == "sqm.streams.cli:main"


def test_image_installs_the_project_from_what_it_copies() -> None:
    sources = copied_sources()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = set(pyproject["tool"]["setuptools"]["package-dir"].values())  # the folders
    assert "pyproject.toml" in sources
    assert packages <= set(sources), f"COPY every package: {sorted(packages - set(sources))}"
    for source in sources:
        if not any(ch in source for ch in "*?["):
            assert (ROOT / source).exists(), source
    assert any(w == "RUN" and "pip install ." in rest for w, rest in dockerfile_instructions())


def test_dockerignore_allows_exactly_what_the_image_copies() -> None:
    patterns = [
        line.strip() for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", "start from nothing and allow what the build needs"
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    wanted = {s for s in copied_sources() if not any(ch in s for ch in "*?[")}
    assert wanted <= allowed, sorted(wanted - allowed)


# --- deploy/grafana (another engineer's files): the contract with this compose file --------------


def test_grafana_provisioning_uses_only_variables_compose_provides() -> None:
    provisioning = DEPLOY / "grafana" / "provisioning"
    files = sorted(provisioning.rglob("*.y*ml")) if provisioning.is_dir() else []
    if not files:
        pytest.skip("deploy/grafana/provisioning is not there yet")
    provided = set(service("grafana")["environment"])
    for path in files:
        text = path.read_text()
        for name in re.findall(r"\$\{?(SQM_[A-Z0-9_]+)", text):
            assert name in provided, f"{path.relative_to(ROOT)} reads ${name}, compose omits it"
        for doc in yaml.safe_load_all(text):
            for provider in (doc or {}).get("providers", []) or []:
                where = (provider.get("options") or {}).get("path")
                if where:
                    assert where == "/var/lib/grafana/dashboards/sqm", path


def test_cluster_example_config_defines_what_the_cluster_form_needs() -> None:
    """deploy/clickhouse/cluster/sqm-cluster.xml: the cluster docs/deploy.md names, the macros
    the Replicated tables' Keeper path uses (sinks/cluster.py), Keeper, replication left to the
    replicated tables, and a shared secret so shards apply the caller's row policies."""
    root = ET.parse(DEPLOY / "clickhouse" / "cluster" / "sqm-cluster.xml").getroot()
    cluster = root.find("remote_servers/sqm_cluster")
    assert cluster is not None and cluster.find("secret") is not None
    shards = cluster.findall("shard")
    assert len(shards) >= 2
    assert all(s.findtext("internal_replication") == "true" for s in shards)
    assert all(len(s.findall("replica")) >= 2 for s in shards)
    assert {m.tag for m in root.iterfind("macros/*")} == {"shard", "replica"}
    assert len(root.findall("zookeeper/node")) == 3
    assert root.findtext("user_directories/replicated/zookeeper_path")  # access on every server
    assert root.findtext("custom_settings_prefixes") == "SQL_"
    assert "SQM_CLICKHOUSE_CLUSTER=sqm_cluster" in (ROOT / "docs" / "deploy.md").read_text()
