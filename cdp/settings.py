"""The one configuration object.

Read it at entry points (CLI commands, Dagster resources, benchmarks) with ``Settings()``; never at import time.
Every key has a laptop default and an environment variable ``CDP_<KEY>`` (see the README's configuration table).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

Environment = Literal["local", "ci", "prod"]
SparkEngine = Literal["sail", "jvm"]
FeatureOnlineStore = Literal["sqlite", "redis"]
FeatureRegistry = Literal["file", "sql"]


def project_root() -> Path:
    """The repository root (where pyproject.toml lives), so default paths never depend on the working directory."""
    here = Path(__file__).resolve().parent.parent
    return here if (here / "pyproject.toml").exists() else Path.home() / ".cdp"


class Settings(BaseSettings):
    """Typed settings; environment variables ``CDP_*`` (and an optional ``.env`` at the repository root)."""

    model_config = SettingsConfigDict(
        env_prefix="CDP_", env_file=project_root() / ".env", env_file_encoding="utf-8", extra="ignore"
    )

    env: Environment = Field("local", description="Named environment: local, ci or prod (same names as dbt/Feast).")
    lake_root: Path = Field(
        default_factory=lambda: project_root() / "data" / "lake",
        description="Root folder of the lake; every table is a Delta table at lake_root/layer/table.",
    )
    landing_root: Path = Field(
        default_factory=lambda: project_root() / "data" / "landing",
        description="Landing zone: one folder per source (events/, orders/, ...).",
    )
    spark_engine: SparkEngine = Field("sail", description="sail (embedded Spark Connect) or jvm (Spark local mode).")
    spark_remote: str | None = Field(
        None, description="sc://host:port of a Spark Connect server; when set it wins over spark_engine."
    )
    spark_shuffle_partitions: int = Field(4, description="Shuffle partitions; small by default for laptop data.")
    as_of: datetime | None = Field(
        None, description="Observation time for anything time-dependent (ISO-8601); default: now, in UTC."
    )
    default_phone_region: str = Field("VN", description="Region for phone numbers written without a country code.")
    identity_incremental_max_new_share: float = Field(
        0.1,
        ge=0,
        description="`cdp resolve` runs incrementally while the new bronze records are at most this share of the "
        "earlier ones; above it a full run is cheaper.",
    )
    identity_local_scope_max_records: int = Field(
        200_000,
        ge=0,
        description="An incremental identity run whose scope holds at most this many records stitches it on the "
        "driver in one pass (the same rules and answer) instead of in many small Spark actions; its scope's closure "
        "also runs on the driver when the closure's edges and near links are at most this many rows; 0: always on "
        "Spark.",
    )
    max_record_bytes: int = Field(
        1_048_576, description="Landing records larger than this are quarantined (Segment's own limit is 32 KB)."
    )
    max_quarantine_rate: float = Field(
        0.01, description="Share of a run's records quarantined above which the quarantine-rate check warns."
    )
    build_unit_tests: bool = Field(
        False,
        description="`cdp build` also runs the dbt unit tests; dbt advises running them in development and CI only "
        "(their fixed inputs test the SQL, not the data), and the test suite always runs them.",
    )
    build_skip_unchanged: bool = Field(
        True,
        description="`cdp build` leaves out the dbt nodes none of whose inputs (lake tables, as_of, code) moved "
        "since the last complete build; false builds every node every time.",
    )
    build_order_by_longest_path: bool = Field(
        True,
        description="dbt's threads take first the node with the longest remaining path to the build's end, timed by "
        "the nodes' last builds (marts/schedule.py); false keeps dbt's own order (by depth in the graph).",
    )
    vacuum_retention_hours: int = Field(
        168, description="How long old Delta file versions are kept before `cdp maintain` vacuums them."
    )
    dagster_home: Path = Field(
        default_factory=lambda: project_root() / "data" / "dagster",
        description="DAGSTER_HOME used by `make dev` and `cdp` when DAGSTER_HOME is not set.",
    )
    postgres_url: str = Field(
        "postgresql://postgres@127.0.0.1:5432/postgres",
        description="Postgres for Dagster storage in prod (and later the Feast registry and the CRM destination).",
    )
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis (Feast online store in prod).")
    activation_rules: Path = Field(
        default_factory=lambda: project_root() / "activation" / "rules.yaml",
        description="Activation rules: consent, frequency caps, quiet hours, care, relevance and destinations.",
    )
    activation_webhook_url: str | None = Field(
        None, description="URL of the `webhook` activation destination (a secret when it carries a token)."
    )
    feature_project: str = Field("cdp", description="Feast project name (keys in the online store and registry).")
    feature_online_store: FeatureOnlineStore | None = Field(
        None, description="Feast online store: sqlite (under the lake) or redis (redis_url); default: sqlite if local."
    )
    feature_registry: FeatureRegistry | None = Field(
        None, description="Feast registry: file (under the lake) or sql (postgres_url); default: file if local."
    )
    feature_freshness_hours: float = Field(
        36, description="Freshness check: the online features must have been materialised within this many hours."
    )
    api_keys: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Profile API keys as JSON {sha256 of key: [scopes]}; scopes profiles:read, features:read, "
        "pii:read (`cdp api-key` makes one).",
    )
    api_host: str = Field("127.0.0.1", description="Address `cdp serve` listens on.")
    api_port: int = Field(8000, description="Port `cdp serve` listens on.")
    console_users: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="CX console users as JSON {username: {role, password_hash[, queue]}}; roles executive, "
        "cx_analyst, agent, marketer, admin (`cdp console add-user` makes an entry).",
    )
    console_session_secret: str | None = Field(
        None,
        description="Secret that signs the CX console's session cookie (a secret: 32+ random characters); unset: "
        "a random one per start, so sessions end when the server restarts.",
    )
    console_secure_cookie: bool = Field(
        False, description="Send the console's session cookie over HTTPS only (set true behind TLS)."
    )
    console_session_hours: float = Field(8, description="A console login lasts this many hours.")

    def observation_time(self) -> datetime:
        """``as_of`` as an aware UTC datetime, defaulting to now."""
        if self.as_of is None:
            return datetime.now(UTC)
        return self.as_of if self.as_of.tzinfo else self.as_of.replace(tzinfo=UTC)


def settings_markdown() -> str:
    """The configuration keys as a Markdown table, as shown in the README (a test keeps the two in step)."""
    lines = ["| environment variable | default | meaning |", "|---|---|---|"]
    for name, info in Settings.model_fields.items():
        default = info.get_default(call_default_factory=True, validated_data={})
        if isinstance(default, Path):
            default = (
                f"<repo>/{default.relative_to(project_root())}" if default.is_relative_to(project_root()) else default
            )
        shown = "now (UTC)" if name == "as_of" else ("unset" if default is None else f"`{default}`")
        lines.append(f"| `CDP_{name.upper()}` | {shown} | {info.description} |")
    return "\n".join(lines)
