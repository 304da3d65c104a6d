"""The activation rules (``activation/rules.yaml``) as a typed, validated object.

Consent, frequency caps, quiet hours, care and relevance rules and the destinations are data: a change is a reviewed
edit of one YAML file, and every audit row records the ``version`` it was decided under.
"""

from __future__ import annotations

from datetime import datetime, time
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

RULES_PATH = Path(__file__).resolve().parent / "rules.yaml"
Channel = Literal["email", "sms", "push", "phone", "ads"]
Purpose = Literal["marketing", "personalisation", "analytics", "profiling"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ConsentRules(_Strict):
    same_instant_winner: Literal["withdrawn", "granted"] = "withdrawn"


class FrequencyCap(_Strict):
    name: str
    channel: Channel
    purposes: tuple[Purpose, ...]
    max_messages: int = Field(ge=0)
    days: int = Field(ge=1)


class QuietHours(_Strict):
    start: time
    end: time
    channels: tuple[Channel, ...]

    def is_quiet(self, local: time) -> bool:
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end  # the window wraps midnight


class CareRules(_Strict):
    promotional_purposes: tuple[Purpose, ...] = ("marketing",)
    hold_open_cases: bool = True
    hold_recent_detractors: bool = True


class Relevance(_Strict):
    age_bands: tuple[str, ...] | None = None
    genders: tuple[str, ...] | None = None
    categories: tuple[str, ...] | None = None


class FileDestination(_Strict):
    type: Literal["file"]
    format: Literal["csv", "parquet"] = "csv"
    hash_identifiers: bool = False


class WebhookDestination(_Strict):
    type: Literal["webhook"]
    url: str | None = None  # default: CDP_ACTIVATION_WEBHOOK_URL (a URL may carry a token: keep it out of YAML)
    batch_size: int = Field(500, ge=1)
    max_attempts: int = Field(5, ge=1)
    timeout_seconds: float = Field(10.0, gt=0)
    max_wait_seconds: float = Field(30.0, ge=0)


class PostgresDestination(_Strict):
    type: Literal["postgres"]
    table: str = Field("crm_audience_members", pattern=r"^[a-z_][a-z0-9_]*$")
    batch_size: int = Field(5000, ge=1)


class ScheduledExport(_Strict):
    """An export run by `cdp run` and the Dagster job after every build."""

    audience: str
    destination: str
    mode: Literal["upsert", "mirror", "diff"] = "mirror"
    # Where the export runs (CDP_ENV): the Postgres CRM is a production part, so a laptop's `cdp run` skips it.
    environments: tuple[Literal["local", "ci", "prod"], ...] = ("local", "ci", "prod")


DestinationConfig = Annotated[FileDestination | WebhookDestination | PostgresDestination, Field(discriminator="type")]


class Rules(_Strict):
    version: str
    consent: ConsentRules = ConsentRules()
    frequency_caps: tuple[FrequencyCap, ...] = ()
    quiet_hours: QuietHours | None = None
    default_time_zone: str = "UTC"
    country_time_zones: dict[str, str] = Field(default_factory=dict)
    care: CareRules = CareRules()
    campaigns: dict[str, Relevance] = Field(default_factory=dict)
    destinations: dict[str, DestinationConfig] = Field(default_factory=dict)
    exports: tuple[ScheduledExport, ...] = ()

    @model_validator(mode="after")
    def _exports_name_destinations(self) -> Rules:
        unknown = {e.destination for e in self.exports} - set(self.destinations)
        if unknown:
            raise ValueError(f"exports name unknown destinations: {', '.join(sorted(unknown))}")
        return self

    @field_validator("default_time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        _zone(value)
        return value

    @field_validator("country_time_zones")
    @classmethod
    def _known_zones(cls, value: dict[str, str]) -> dict[str, str]:
        for zone in value.values():
            _zone(zone)
        return value

    def caps_for(self, purpose: str, channel: str) -> tuple[FrequencyCap, ...]:
        return tuple(c for c in self.frequency_caps if c.channel == channel and purpose in c.purposes)

    def quiet_countries(self, send_time: datetime, channel: str) -> tuple[set[str], bool]:
        """Countries whose local time at ``send_time`` is in quiet hours, and whether the default zone is."""
        if self.quiet_hours is None or channel not in self.quiet_hours.channels:
            return set(), False
        quiet = self.quiet_hours
        countries = {
            c for c, zone in self.country_time_zones.items() if quiet.is_quiet(send_time.astimezone(_zone(zone)).time())
        }
        return countries, quiet.is_quiet(send_time.astimezone(_zone(self.default_time_zone)).time())


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


class RulesError(ValueError):
    """The rules file does not validate; the message names the file and the problem."""


def load_rules(path: Path | None = None) -> Rules:
    path = path or RULES_PATH
    try:
        return Rules.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError, ValueError) as exc:
        raise RulesError(f"{path}: {exc}") from None
