"""Settings from the environment (`SQM_*`), a `.env` file, or a YAML file; validated once.

Precedence: explicit arguments > environment > `.env` > YAML file (`SQM_CONFIG` or `--config`)
> defaults. A bad value becomes one line: `config: lateness_s: Input should be ...`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from sqm.streams.core.policy_file import Policy, PolicyError, load_policy
from sqm.streams.core.shard import HOUR_MS, ShardConfig
from sqm.streams.security_checks import check_security

# Table groups with a configurable TTL (sinks/retention.py); the archived ones are read back by
# the pipeline and must outlive its state.
TtlGroup = Literal["contacts", "windows", "alerts", "scorecard"]
ARCHIVED_TTL_GROUPS: tuple[TtlGroup, ...] = ("contacts", "windows")


class ConfigError(ValueError):
    """Invalid configuration; str() is one line for a person."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        # extra="ignore": a .env file may hold other tools' keys (docker compose's); unknown
        # keys in the YAML file are still refused by load_settings.
        env_prefix="SQM_", env_file=".env", extra="ignore", frozen=True
    )

    kafka_bootstrap: str | None = Field(
        None, description="host:port of a real Kafka; unset starts the embedded broker"
    )
    clickhouse_url: str = Field(
        "chdb://./sqm-data/store", description="chdb://DIR (in-process) or https://user:pass@host:8443/sqm"
    )
    clickhouse_user: str | None = Field(
        None, description="ClickHouse user, with clickhouse_password_file, instead of a user in "
        "clickhouse_url")
    clickhouse_password_file: Path | None = Field(
        None, description="file holding the ClickHouse password (one trailing newline is "
        "ignored); the URL must then carry no password")
    # Kafka security: applied to every Kafka client sqm makes; the embedded broker stays
    # PLAINTEXT (streams/kafka_auth.py). docs/deploy.md, "Security".
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = (
        "PLAINTEXT")
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_sasl_password_file: Path | None = None
    kafka_ssl_cafile: Path | None = Field(
        None, description="CA bundle (PEM) to verify the brokers; unset = the system's")
    kafka_ssl_certfile: Path | None = Field(None, description="client certificate (PEM), mTLS")
    kafka_ssl_keyfile: Path | None = Field(None, description="the certificate's key (PEM)")
    kafka_ssl_key_password_file: Path | None = None
    kafka_replication_factor: int = Field(
        1, ge=1, le=32767, description="replicas of the topics and changelogs sqm creates "
        "(1 with the embedded broker, whatever this says); 3 on a production cluster")
    kafka_topic_config: dict[str, str | int] = Field(
        default_factory=dict, description="topic configs (JSON mapping, e.g. "
        "{\"min.insync.replicas\": \"2\"}) for the topics sqm creates, and for Faust's "
        "changelogs except cleanup.policy")
    clickhouse_outage_s: float = Field(
        300, ge=1, description="how long writes wait out ClickHouse being unreachable (refused, "
        "timeouts, 5xx), input paused, before the worker gives up"
    )
    broker_profile: Literal["auto", "kafka", "tansu"] = Field(
        "auto", description="tansu applies the embedded broker's workarounds; auto = tansu "
        "when embedded"
    )
    input_topic: str = "sqm.events"
    by_customer_topic: str = "sqm.by-customer"
    dead_letter_topic: str = "sqm.dead-letters"
    alert_inputs_topic: str = "sqm.alert-inputs"
    alerts_topic: str = "sqm.alerts"
    alerts_config: Path | None = Field(
        None, description="alert rules YAML (docs/alerting.md); unset = the default rules"
    )
    policy_file: Path | None = Field(
        None, description="SLA policy YAML (docs/policies.md); unset = contract v1's targets"
    )
    alert_clock: Literal["wall", "event"] = Field(
        "wall", description="wall: live timer; event: the watermark (what sqm replay uses)"
    )
    alert_grace_s: float = Field(
        2, ge=0, description="live: how long behind the wall clock alerts are evaluated"
    )
    alert_tick_s: float = Field(1, gt=0, description="live: how often alerts are evaluated")
    partitions: int = Field(4, ge=1, le=1024, description="partitions of the topics sqm creates")
    app_id: str = "sqm"
    lateness_s: int = Field(3600, ge=0, description="allowed lateness in event time")
    max_future_s: int = Field(
        86400, ge=0, description="events dated further ahead of the wall clock are refused"
    )
    max_past_days: int = Field(
        3660, ge=0, description="events dated more whole days before the wall clock are "
        "refused (a placeholder date such as 1970-01-01 is no event time); 0 = no limit"
    )
    repeat_window_days: float = Field(
        7, gt=0, description="repeat-contact window, unless the policy file sets repeat.window"
    )
    state_ttl_days: float = Field(8, gt=0, description="event time a contact stays in state")
    idle_partition_s: float = Field(
        60, ge=0, description="live: an input partition silent this long (wall time) no longer "
        "holds the event clock back; 0 = never (docs/architecture.md, the event clock)"
    )
    batch_max: int = Field(5000, ge=1, description="events per processing batch at most")
    batch_within_s: float = Field(
        0.5, gt=0, description="longest wait to fill an ingest batch; the customer stage starts "
        "at most one batch per interval unless it is full")
    alert_batch_within_s: float = Field(
        0.1, gt=0, description="the alert stage starts at most one batch per interval unless "
        "it is full; its inputs come in waves, one per customer batch, so this bounds how long "
        "a wave waits behind the previous one (at the end of a replay: the last alerts)")
    ingest_processes: int = Field(
        1, ge=0, le=64, description="child processes that validate the input (the ingest "
        "stage's CPU-heavy part) beside the worker's event loop; 0 = in the event loop"
    )
    replay_alert_processes: int | None = Field(
        None, ge=0, le=64, description="`sqm replay` (direct runner): worker processes for the "
        "alert stage; 0 = in the replay's process; unset = for files over 10 MB 1 on two cores, 2 "
        "on more, else 0"
    )
    web_port: int = Field(6066, ge=1, le=65535)
    metrics_port: int = Field(
        9108, ge=0, le=65535, description="where sqm worker and sqm demo serve /metrics, "
        "/healthz and /readyz (docs/deploy.md, Monitoring the workers); 0 = not served")
    metrics_host: str = Field("0.0.0.0", description="the address the metrics port binds")
    health_stall_s: float = Field(
        30, gt=0, description="/healthz fails once the worker's event loop has not run for "
        "this long")
    progress_interval_s: float = Field(10, gt=0, description="how often a worker logs counters")
    stop_grace_s: float = Field(
        30, gt=0, description="after SIGTERM or Ctrl-C, how long a clean stop may take before "
        "the worker exits at once (a second signal: at once)"
    )
    gc_freeze_s: float = Field(
        1, ge=0, description="how often live objects are frozen out of the garbage collector's "
        "scans (streams/gc_policy.py); 0 = CPython's defaults"
    )
    gc_full_interval_s: float = Field(
        600, gt=0, description="how often a full garbage collection runs while frozen"
    )
    raw_ttl_days: int = Field(
        0, ge=0, description="days sqm.events and sqm.dead_letters keep a row (by event time, "
        "receipt time); 0 = forever; applied by `sqm migrate` (docs/schema.md, Retention)"
    )
    table_ttl_days: dict[TtlGroup, int] = Field(
        default_factory=dict, description="days each table group keeps a row (contacts, "
        "windows, alerts, scorecard); a group not named, or 0 = forever; applied by "
        "`sqm migrate`"
    )
    clickhouse_cluster: str | None = Field(
        None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="a ClickHouse cluster of "
        "remote_servers: migrations create Replicated tables ON CLUSTER and Distributed tables "
        "for reads (docs/deploy.md, Running on a ClickHouse cluster); unset = one server"
    )
    log_level: str = "WARNING"
    log_format: str = Field("json", pattern="^(json|text)$")

    @model_validator(mode="after")
    def _ttl_covers_repeat_window(self) -> Settings:
        if self.state_ttl_days < self.repeat_window_days:
            raise ValueError(
                "state_ttl_days must be at least repeat_window_days "
                "(an older contact can still make a newer one a repeat)"
            )
        return self

    @field_validator("clickhouse_user", "clickhouse_password_file", "kafka_sasl_username",
                     "kafka_sasl_password", "kafka_sasl_password_file", "kafka_ssl_cafile",
                     "kafka_ssl_certfile", "kafka_ssl_keyfile", "kafka_ssl_key_password_file",
                     mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        # docker compose passes `${VAR:-}` as an empty string: that means "not set".
        return None if value == "" else value

    @model_validator(mode="after")
    def _ttls_outlive_the_state(self) -> Settings:
        # The archive rebuilds an evicted contact from its stored events and row, and an
        # evicted window from its row: rows gone sooner than the state lets them be asked for
        # would turn corrections into fresh starts (docs/schema.md, Retention).
        need_s = self.state_ttl_days * 86400 + self.lateness_s
        for name, days in (("raw_ttl_days", self.raw_ttl_days),
                           *((f"table_ttl_days.{g}", self.table_ttl_days.get(g, 0))
                             for g in ARCHIVED_TTL_GROUPS)):
            if 0 < days * 86400 < need_s:
                raise ValueError(
                    f"{name} ({days}) must be 0 (forever) or at least state_ttl_days + "
                    f"lateness_s ({need_s / 86400:g} days): evicted contacts and windows are "
                    "read back from those rows")
        return self

    @model_validator(mode="after")
    def _security_is_consistent(self) -> Settings:
        check_security(self)
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings, dotenv_settings]
        yaml_path = os.environ.get("SQM_CONFIG")
        if yaml_path:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=yaml_path))
        return tuple(sources)

    @property
    def embedded(self) -> bool:
        return not self.kafka_bootstrap

    @property
    def tansu(self) -> bool:
        """Whether the broker is Tansu (embedded, or started by hand) and needs workarounds."""
        return self.broker_profile == "tansu" or (self.broker_profile == "auto" and self.embedded)

    def policy(self) -> Policy:
        """The SLA policy file, validated; ConfigError with one line when it is not valid."""
        if self.policy_file is None:
            return Policy.default()
        try:
            return load_policy(self.policy_file)
        except PolicyError as exc:
            raise ConfigError(str(exc)) from None

    def repeat_window_ms(self, policy: Policy) -> int:
        return policy.repeat_window_ms or int(self.repeat_window_days * 24 * HOUR_MS)

    def shard_config(self) -> ShardConfig:
        policy = self.policy()
        window_ms = self.repeat_window_ms(policy)
        ttl_ms = int(self.state_ttl_days * 24 * HOUR_MS)
        if ttl_ms < window_ms:
            raise ConfigError(
                "config: state_ttl_days must cover the repeat window "
                f"({window_ms / (24 * HOUR_MS):g} days; an older contact can still make a "
                "newer one a repeat)")
        return ShardConfig(
            policy=policy,
            lateness_ms=self.lateness_s * 1000,
            repeat_window_ms=window_ms,
            repeat_identity=policy.repeat_identity,
            state_ttl_ms=ttl_ms,
            await_progress=True,
        )

    def store_dir(self) -> Path | None:
        """The chDB data directory, absolute, or None for a ClickHouse server."""
        if not self.clickhouse_url.startswith("chdb://"):
            return None
        rest = self.clickhouse_url.removeprefix("chdb://")
        return Path(rest).expanduser().resolve()


def _check_yaml_keys(path: Path) -> None:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"config: {path} is not valid YAML{where}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config: {path} must be a mapping of setting: value")
    unknown = sorted(set(data) - set(Settings.model_fields))
    if unknown:
        raise ConfigError(f"config: {path}: unknown setting(s): {', '.join(map(str, unknown))}")


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Build and validate settings; raise ConfigError with one line on a bad value."""
    if config_file is not None:
        path = Path(config_file)
        if not path.is_file():
            raise ConfigError(f"config: file not found: {path}")
        os.environ["SQM_CONFIG"] = str(path)
    elif os.environ.get("SQM_CONFIG") and not Path(os.environ["SQM_CONFIG"]).is_file():
        raise ConfigError(f"config: file not found: {os.environ['SQM_CONFIG']} (SQM_CONFIG)")
    if os.environ.get("SQM_CONFIG"):
        _check_yaml_keys(Path(os.environ["SQM_CONFIG"]))
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**clean)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "settings"
        more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
        msg = err["msg"].removeprefix("Value error, ")  # pydantic's prefix says nothing
        raise ConfigError(f"config: {where}: {msg}{more}") from None
