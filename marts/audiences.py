"""Audiences as data: one YAML file per audience (``dbt_project/audiences/*.yml``), compiled into dbt models.

A rule is a tree of conditions over the columns of ``customer_traits`` and the non-personal columns of
``customers``: ``{all: [...]}``, ``{any: [...]}``, ``{not: {...}}`` or a leaf ``{trait, op, value}``. Values are
rendered as SQL literals and trait names are checked against the documented columns, so a YAML file can never
inject SQL. ``compile_audiences`` writes the members of every audience (one model, a CTE per audience) and the
definitions table under ``dbt_project/models/audiences/generated/`` (not committed; ``cdp build`` regenerates it).
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

DBT_PROJECT = Path(__file__).resolve().parent.parent / "dbt_project"
AUDIENCES_DIR = DBT_PROJECT / "audiences"
GENERATED_DIR = DBT_PROJECT / "models" / "audiences" / "generated"
_PURPOSES = ("marketing", "personalisation", "analytics", "profiling")
_CHANNELS = ("email", "sms", "push", "phone", "ads")

Scalar = str | int | float | bool | date
_COMPARISONS = {"eq": "=", "ne": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
_NO_VALUE = ("is_null", "not_null", "is_true", "is_false")


class Condition(BaseModel):
    """A leaf: ``trait`` ``op`` ``value``."""

    model_config = ConfigDict(extra="forbid")
    trait: str
    op: Literal[
        "eq",
        "ne",
        "lt",
        "lte",
        "gt",
        "gte",
        "in",
        "not_in",
        "between",
        "is_null",
        "not_null",
        "is_true",
        "is_false",
        "within_days",
        "top_share",
    ]
    value: Scalar | list[Scalar] | None = None

    @model_validator(mode="after")
    def _value_fits_op(self) -> Condition:
        if self.op in _NO_VALUE:
            if self.value is not None:
                raise ValueError(f"op {self.op} takes no value")
        elif self.op in ("in", "not_in"):
            if not isinstance(self.value, list) or not self.value:
                raise ValueError(f"op {self.op} needs a non-empty list")
        elif self.op == "between":
            if not isinstance(self.value, list) or len(self.value) != 2:
                raise ValueError("op between needs [low, high]")
        elif self.op == "top_share":
            if not isinstance(self.value, int | float) or not 0 < float(self.value) <= 1:
                raise ValueError("op top_share needs a share in (0, 1], e.g. 0.2 for the top 20%")
        elif self.op == "within_days":
            if not isinstance(self.value, int) or self.value <= 0:
                raise ValueError("op within_days needs a positive whole number of days")
        elif self.value is None or isinstance(self.value, list):
            raise ValueError(f"op {self.op} needs one value")
        return self


class All(BaseModel):
    model_config = ConfigDict(extra="forbid")
    all: list[Rule] = Field(min_length=1)


class Any_(BaseModel):
    model_config = ConfigDict(extra="forbid")
    any: list[Rule] = Field(min_length=1)


class Not(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    not_: Rule = Field(alias="not")


Rule = Annotated[All | Any_ | Not | Condition, Field(union_mode="left_to_right")]
All.model_rebuild()
Any_.model_rebuild()
Not.model_rebuild()


class Audience(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")
    description: str
    owner: str
    purpose: Literal["marketing", "personalisation", "analytics", "profiling"]
    channel: Literal["email", "sms", "push", "phone", "ads"]
    priority: int = Field(ge=1, description="1 is the highest; a person goes only to their highest per channel.")
    holdout_share: float = Field(0.0, ge=0, lt=1)
    rule: Rule
    exclusions: list[Rule] = []


class AudienceError(ValueError):
    pass


def _literal(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, date):
        return f"date '{value.isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"


def _traits(rule: Any) -> set[str]:
    if isinstance(rule, Condition):
        return {rule.trait}
    if isinstance(rule, Not):
        return _traits(rule.not_)
    children = rule.all if isinstance(rule, All) else rule.any
    return set().union(*(_traits(c) for c in children))


def _top_share_traits(rule: Any) -> set[str]:
    if isinstance(rule, Condition):
        return {rule.trait} if rule.op == "top_share" else set()
    if isinstance(rule, Not):
        return _top_share_traits(rule.not_)
    children = rule.all if isinstance(rule, All) else rule.any
    return set().union(*(_top_share_traits(c) for c in children))


def rule_sql(rule: Any) -> str:
    """A rule as a SQL boolean over ``audience_profiles`` columns (``top_share`` reads a ``__rank_<trait>`` column)."""
    if isinstance(rule, All):
        return "(" + " and ".join(rule_sql(c) for c in rule.all) + ")"
    if isinstance(rule, Any_):
        return "(" + " or ".join(rule_sql(c) for c in rule.any) + ")"
    if isinstance(rule, Not):
        return f"(not coalesce({rule_sql(rule.not_)}, false))"
    column, op, value = f'"{rule.trait}"', rule.op, rule.value
    if op in _COMPARISONS:
        return f"({column} {_COMPARISONS[op]} {_literal(value)})"  # type: ignore[arg-type]
    if op in ("in", "not_in"):
        listed = ", ".join(_literal(v) for v in value)  # type: ignore[union-attr]
        return f"({column} {'in' if op == 'in' else 'not in'} ({listed}))"
    if op == "between":
        low, high = value  # type: ignore[misc]
        return f"({column} between {_literal(low)} and {_literal(high)})"
    if op == "within_days":
        return f"({column} > as_of - interval ({int(value)}) day and {column} <= as_of)"  # type: ignore[arg-type]
    if op == "top_share":
        return f'("__rank_{rule.trait}" <= {float(value)})'  # type: ignore[arg-type]
    return {
        "is_null": f"({column} is null)",
        "not_null": f"({column} is not null)",
        "is_true": f"({column} is true)",
        "is_false": f"({column} is false)",
    }[op]


def load_audiences(directory: Path = AUDIENCES_DIR, *, known_traits: set[str] | None = None) -> list[Audience]:
    """Every ``*.yml`` under ``directory``, validated; an error names the file and the field."""
    audiences: list[Audience] = []
    for path in sorted(directory.glob("*.yml")):
        try:
            audience = Audience.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
            raise AudienceError(f"{path}: {problems}") from None
        except yaml.YAMLError as exc:
            raise AudienceError(f"{path}: not valid YAML: {exc}") from None
        if path.stem != audience.name:
            raise AudienceError(f"{path}: the file name must be the audience name ({audience.name}.yml)")
        if known_traits is not None:
            used = _traits(audience.rule).union(*(_traits(r) for r in audience.exclusions))
            unknown = sorted(used - known_traits)
            if unknown:
                raise AudienceError(
                    f"{path}: unknown trait(s) {', '.join(unknown)}; traits are the columns of customer_traits and "
                    "the non-personal columns of customers (README, 'Trait definitions')"
                )
        audiences.append(audience)
    return audiences


def known_traits(project: Path = DBT_PROJECT) -> set[str]:
    """Columns an audience may use: documented columns of customer_traits and customers not marked ``pii``."""
    spec = yaml.safe_load((project / "models" / "marts" / "_marts.yml").read_text(encoding="utf-8"))
    traits = set()
    for model in spec["models"]:
        if model["name"] in ("customer_traits", "customers"):
            for column in model.get("columns", []):
                if not column.get("config", {}).get("meta", {}).get("pii"):
                    traits.add(column["name"])
    return traits


_HEADER = "-- generated from dbt_project/audiences/ by `cdp build` (marts/audiences.py); do not edit\n"


def holdout_draw(key_sql: str) -> str:
    """SQL for ``md5_number(key) % 10000``, each person's stable draw in 0..9999, computed from the two 64-bit halves
    of the 128-bit hash: (high * 2^64 + low) mod 10000 = ((high mod 10000) * (2^64 mod 10000) + low mod 10000)
    mod 10000, with 2^64 mod 10000 = 1616. The same value, but DuckDB's UHUGEINT modulo is a bit-by-bit division
    (about 9 s of CPU per million keys, most of the members query at 1M customers); this costs about 1 s."""
    hashed = f"md5_number({key_sql})"
    return (
        f"((({hashed} >> 64)::ubigint % 10000) * 1616"
        f" + ({hashed} & 18446744073709551615::uhugeint)::ubigint % 10000) % 10000"
    )


def _member_query(audience: Audience) -> str:
    """The members of one audience: a select over audience_profiles (with the percent ranks its top-share rules
    compare against)."""
    ranked = sorted(_top_share_traits(audience.rule).union(*(_top_share_traits(r) for r in audience.exclusions)))
    rank_columns = "".join(
        f',\n            percent_rank() over (order by "{t}" desc nulls last) as "__rank_{t}"' for t in ranked
    )
    exclusions = " or ".join(rule_sql(r) for r in audience.exclusions) or "false"
    return f"""select
        '{audience.name}' as audience_name,
        customer_id,
        -- a stable pseudo-random draw per audience and person decides the holdout
        ({holdout_draw(f"'{audience.name}:' || customer_id")}) < {round(audience.holdout_share * 10000)} as is_holdout
    from (
        select *{rank_columns}
        from {{{{ ref('audience_profiles') }}}}
    ) as profiles
    where coalesce({rule_sql(audience.rule)}, false)
        and not coalesce({exclusions}, false)"""


def _definitions_model(audiences: list[Audience]) -> str:
    columns = "name, description, owner, purpose, channel, priority, holdout_share, rule_json, exclusions_json"
    if not audiences:
        return _HEADER + (
            "select null::varchar as name, null::varchar as description, null::varchar as owner, "
            "null::varchar as purpose, null::varchar as channel, null::integer as priority, "
            "null::double as holdout_share, null::varchar as rule_json, null::varchar as exclusions_json where false\n"
        )
    rows = []
    for a in audiences:
        rule = json.dumps(a.model_dump(mode="json", by_alias=True)["rule"], sort_keys=True)
        exclusions = json.dumps(a.model_dump(mode="json", by_alias=True)["exclusions"], sort_keys=True)
        values: list[Scalar] = [
            a.name,
            a.description,
            a.owner,
            a.purpose,
            a.channel,
            a.priority,
            float(a.holdout_share),
            rule,
            exclusions,
        ]
        rows.append("(" + ", ".join(_literal(v) for v in values) + ")")
    return (
        _HEADER
        + "select name, description, owner, purpose, channel, priority::integer as priority,\n"
        + "    holdout_share::double as holdout_share, rule_json, exclusions_json\n"
        + "from (values\n    "
        + ",\n    ".join(rows)
        + f"\n) as definitions({columns})\n"
    )


def _members_model(audiences: list[Audience]) -> str:
    """Every audience's members in one model, one CTE per audience (``aud_<name>``): a model per audience cost a
    dbt node each (rendering, a transaction, a table) in every build, for a table only this union read."""
    if not audiences:
        return _HEADER + (
            "select null::varchar as audience_name, null::varchar as customer_id, null::boolean as is_holdout "
            "where false\n"
        )
    ctes = ",\n\n".join(f"aud_{a.name} as (\n    {_member_query(a)}\n)" for a in audiences)
    union = "\nunion all\n".join(f"select * from aud_{a.name}" for a in audiences)
    return f"{_HEADER}\nwith {ctes}\n\n{union}\n"


def compile_audiences(
    directory: Path = AUDIENCES_DIR, generated: Path = GENERATED_DIR, project: Path = DBT_PROJECT
) -> list[Audience]:
    """Validate every audience file and (re)write the generated dbt models; return the audiences."""
    audiences = load_audiences(directory, known_traits=known_traits(project))
    generated.mkdir(parents=True, exist_ok=True)
    for stale in generated.glob("*.sql"):
        stale.unlink()
    (generated / "int_audiences__members.sql").write_text(_members_model(audiences), encoding="utf-8")
    (generated / "int_audiences__definitions.sql").write_text(_definitions_model(audiences), encoding="utf-8")
    return audiences


def traits_markdown(project: Path = DBT_PROJECT) -> str:
    """The trait definitions table of the README, from the documented columns of customer_traits."""
    spec = yaml.safe_load((project / "models" / "marts" / "_marts.yml").read_text(encoding="utf-8"))
    model = next(m for m in spec["models"] if m["name"] == "customer_traits")
    lines = ["| trait | type | definition |", "|---|---|---|"]
    lines += [f"| `{c['name']}` | {c.get('data_type', '')} | {c.get('description', '')} |" for c in model["columns"]]
    return "\n".join(lines)
