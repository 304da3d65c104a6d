"""The identity rules as typed data: loaded from ``identity_rules.yaml`` (or any file a user points to).

Everything the identity job decides (which identifiers stitch, how they are cleaned, which values are blocked,
the guards against over-merging, the probabilistic model's fields and blocking rules) comes from here, and every
run records ``IdentityRules.version`` and ``fingerprint`` next to its output.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_RULES_PATH = Path(__file__).with_name("identity_rules.yaml")
Normaliser = Literal["token", "token_upper", "token_lower", "email", "phone"]
_NOT_PORTABLE = re.compile(r"\\[1-9]|\(\?[=!<]")
PERSON_ATTRIBUTES = ("first_name", "last_name", "date_of_birth", "address", "city", "postcode")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IdentifierType(_Strict):
    priority: int = Field(ge=1)
    max_per_profile: int = Field(ge=1)
    normaliser: Normaliser = "token"


class EmailProvider(_Strict):
    strip_dots: bool = False
    strip_plus_tag: bool = False
    canonical_domain: str | None = None


class Normalisation(_Strict):
    email_providers: dict[str, EmailProvider] = {}
    phone_mobile_only: bool = True
    phone_fallback_regions: tuple[str, ...] = ()


class DegreeGuard(_Strict):
    max_records: int = Field(ge=1)
    max_linked_identifiers: int = Field(ge=1)


class SourceRules(_Strict):
    record_id: str
    observed_at: str
    identifiers: dict[str, tuple[str, ...]]
    attributes: dict[str, str] = {}
    phone_region: str | None = None

    @field_validator("attributes")
    @classmethod
    def _known_attributes(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = set(value) - set(PERSON_ATTRIBUTES)
        if unknown:
            raise ValueError(f"unknown person attributes {sorted(unknown)}; known: {', '.join(PERSON_ATTRIBUTES)}")
        return value


class ComparisonLevel(_Strict):
    """One agreement level; exactly one condition is set."""

    exact: bool | None = None
    similarity: float | None = Field(None, gt=0, lt=1)  # 1 - Levenshtein distance / longer length
    same_year_month: bool | None = None
    edit_distance: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _one_condition(self) -> ComparisonLevel:
        if sum(v is not None for v in self.model_dump().values()) != 1:
            raise ValueError("a comparison level sets exactly one of exact, similarity, same_year_month, edit_distance")
        return self

    @property
    def label(self) -> str:
        if self.exact:
            return "exact"
        if self.similarity is not None:
            return f"similar>={self.similarity}"
        if self.same_year_month:
            return "same year-month"
        return f"edit distance<={self.edit_distance}"


class Comparison(_Strict):
    levels: tuple[ComparisonLevel, ...]
    tf_adjust: bool = False


class Probabilistic(_Strict):
    blocking_rules: tuple[tuple[str, ...], ...]
    training_blocking_rules: tuple[tuple[str, ...], ...]
    training_max_pairs: int = Field(ge=1000)
    comparisons: dict[str, Comparison]
    prior_match_probability: float = Field(gt=0, lt=1)
    em_max_iterations: int = Field(ge=1)
    em_tolerance: float = Field(gt=0)
    u_sample_pairs: int = Field(ge=1000)
    match_threshold: float = Field(gt=0, lt=1)

    @model_validator(mode="after")
    def _known_fields(self) -> Probabilistic:
        rules = self.blocking_rules + self.training_blocking_rules
        fields = set(self.comparisons) | {f for rule in rules for f in rule}
        unknown = fields - set(PERSON_ATTRIBUTES)
        if unknown:
            raise ValueError(f"probabilistic rules name unknown attributes {sorted(unknown)}")
        return self


class QualityGates(_Strict):
    max_customer_records: int = Field(ge=1)
    max_merge_split_share: float = Field(gt=0)
    min_matched_share: float = Field(ge=0, le=1)


class IdentityRules(_Strict):
    version: str
    identifier_types: dict[str, IdentifierType]
    normalisation: Normalisation
    blocked_values: dict[str, tuple[str, ...]] = {}
    degree_guard: DegreeGuard
    sources: dict[str, SourceRules]
    probabilistic: Probabilistic
    quality_gates: QualityGates
    fingerprint: str = ""  # sha256 of the file's text, filled by load_rules

    @model_validator(mode="after")
    def _consistent(self) -> IdentityRules:
        types = set(self.identifier_types)
        for source, rules in self.sources.items():
            unknown = set(rules.identifiers) - types
            if unknown:
                raise ValueError(f"source {source!r} names unknown identifier types {sorted(unknown)}")
        for id_type, patterns in self.blocked_values.items():
            if id_type not in types:
                raise ValueError(f"blocked_values names unknown identifier type {id_type!r}")
            for pattern in patterns:
                if _NOT_PORTABLE.search(pattern):
                    raise ValueError(
                        f"blocked_values.{id_type}: {pattern!r} uses a backreference or look-around, which Sail's "
                        "regex engine does not support"
                    )
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ValueError(f"blocked_values.{id_type}: {pattern!r} is not a valid regex: {exc}") from exc
        priorities = [t.priority for t in self.identifier_types.values()]
        if len(set(priorities)) != len(priorities):
            raise ValueError("identifier type priorities must be distinct")
        return self

    def types_by_priority(self) -> list[str]:
        return sorted(self.identifier_types, key=lambda t: self.identifier_types[t].priority)

    @property
    def tag(self) -> str:
        """What a run records: the declared version and a short fingerprint of the exact text."""
        return f"{self.version}+{self.fingerprint[:12]}"


def load_rules(path: Path | None = None) -> IdentityRules:
    path = path or DEFAULT_RULES_PATH
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read identity rules {path}: {exc.strerror or exc}") from exc
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"identity rules {path} must be a YAML mapping")
    data["fingerprint"] = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return IdentityRules.model_validate(data)
