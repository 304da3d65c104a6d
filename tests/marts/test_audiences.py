"""Audience YAML: validation with errors that name the file and field, and rules compiled to safe SQL."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import yaml

from marts.audiences import (
    AUDIENCES_DIR,
    Audience,
    AudienceError,
    compile_audiences,
    known_traits,
    load_audiences,
    rule_sql,
)

BASE = {
    "name": "vip",
    "description": "d",
    "owner": "crm",
    "purpose": "marketing",
    "channel": "email",
    "priority": 1,
    "rule": {"trait": "frequency", "op": "gte", "value": 3},
}


def _write(folder: Path, spec: dict) -> Path:
    path = folder / f"{spec['name']}.yml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def _matches(rule: dict, rows: list[dict]) -> list[int]:
    """Evaluate a compiled rule in DuckDB over rows (with an as_of column) and return the matching ids."""
    sql = rule_sql(Audience.model_validate({**BASE, "rule": rule}).rule)
    con = duckdb.connect()
    columns = list(rows[0])
    con.execute(f"create or replace table profiles ({', '.join(f'{c} {t}' for c, t in columns_types(rows))})")
    con.executemany(
        f"insert into profiles values ({', '.join('?' for _ in columns)})", [list(r.values()) for r in rows]
    )
    return [r[0] for r in con.sql(f"select id from profiles where coalesce({sql}, false) order by id").fetchall()]


def columns_types(rows: list[dict]) -> list[tuple[str, str]]:
    kinds = {int: "bigint", float: "double", str: "varchar", bool: "boolean"}
    return [(c, "timestamptz" if c.endswith("_at") or c == "as_of" else kinds[type(v)]) for c, v in rows[0].items()]


def test_shipped_audiences_compile(tmp_path):
    audiences = compile_audiences(generated=tmp_path / "generated")

    names = {a.name for a in audiences}
    assert {"high_clv_at_risk", "lapsed_buyers", "detractors_win_back", "new_customers_first_30_days"} <= names
    # One members model, a CTE per audience (a model each cost a dbt node and a table write per build).
    assert sorted(p.name for p in (tmp_path / "generated").iterdir()) == [
        "int_audiences__definitions.sql",
        "int_audiences__members.sql",
    ]
    members = (tmp_path / "generated" / "int_audiences__members.sql").read_text()
    assert all(f"aud_{n} as (" in members for n in names)


def test_rules_select_the_right_rows():
    rows = [
        {"id": 1, "frequency": 5, "segment": "loyal", "churn_risk": 0.8, "flag": True},
        {"id": 2, "frequency": 1, "segment": "lost", "churn_risk": 0.2, "flag": False},
        {"id": 3, "frequency": 3, "segment": "it's", "churn_risk": 0.5, "flag": True},
    ]
    assert _matches({"trait": "frequency", "op": "gte", "value": 3}, rows) == [1, 3]
    assert _matches({"trait": "segment", "op": "in", "value": ["loyal", "it's"]}, rows) == [1, 3]
    assert _matches({"trait": "churn_risk", "op": "between", "value": [0.3, 0.9]}, rows) == [1, 3]
    assert _matches(
        {"any": [{"trait": "flag", "op": "is_false"}, {"trait": "frequency", "op": "eq", "value": 5}]}, rows
    ) == [1, 2]
    assert _matches({"not": {"trait": "flag", "op": "is_true"}}, rows) == [2]
    assert _matches(
        {"all": [{"trait": "flag", "op": "is_true"}, {"trait": "segment", "op": "ne", "value": "loyal"}]}, rows
    ) == [3]


def test_a_quote_in_a_value_cannot_escape_the_literal():
    sql = rule_sql(
        Audience.model_validate({**BASE, "rule": {"trait": "segment", "op": "eq", "value": "x' or 1=1 --"}}).rule
    )
    assert sql == "(\"segment\" = 'x'' or 1=1 --')"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"rule": {"trait": "frequency", "op": "bigger", "value": 1}}, "rule"),
        ({"rule": {"trait": "frequency", "op": "between", "value": [1]}}, "between needs"),
        ({"rule": {"trait": "frequency", "op": "top_share", "value": 2}}, "top_share"),
        ({"purpose": "spam"}, "purpose"),
        ({"holdout_share": 1.5}, "holdout_share"),
        ({"priority": 0}, "priority"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_invalid_audiences_name_the_file_and_field(tmp_path, change, message):
    path = _write(tmp_path, {**BASE, **change})

    with pytest.raises(AudienceError) as raised:
        load_audiences(tmp_path)

    assert str(path) in str(raised.value) and message in str(raised.value)


def test_unknown_and_personal_traits_are_refused(tmp_path):
    _write(tmp_path, {**BASE, "rule": {"all": [{"trait": "email", "op": "eq", "value": "a@b.c"}]}})

    with pytest.raises(AudienceError, match="unknown trait"):
        load_audiences(tmp_path, known_traits=known_traits())


def test_documented_traits_include_traits_and_exclude_pii():
    traits = known_traits()
    assert {"frequency", "p_alive", "consent_marketing_email", "country"} <= traits
    assert not {"email", "phone", "first_name", "date_of_birth"} & traits


def test_the_file_name_is_the_audience_name(tmp_path):
    (tmp_path / "other.yml").write_text(yaml.safe_dump(BASE), encoding="utf-8")
    with pytest.raises(AudienceError, match="file name"):
        load_audiences(tmp_path)


def test_shipped_audience_files_are_valid():
    assert load_audiences(AUDIENCES_DIR, known_traits=known_traits())
