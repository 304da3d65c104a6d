"""The exports' DuckDB connections (marts.duckdb_delta.lake_connection, tested in tests/marts/test_lake_connection.py):
a connection (cursor) per export whose views and temp tables no other export sees, also when exports on two lakes
overlap or run in threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import activation.inputs as inputs
from activation.destinations import FileDrop
from activation.export import export_audience
from activation.rules import load_rules
from cdp.lake import Lake
from tests.activation.conftest import SEND_AT, ActivationLake

RULES = load_rules()
AUDIENCES = [("spring_sale", "marketing", "email", 10)]


def _lake(root: Path, withdrawn: set[str]) -> ActivationLake:
    """c1..c4 in spring_sale, all granted a month ago; the ``withdrawn`` ones withdrew yesterday."""
    a = ActivationLake(Lake(root))
    people = ["c1", "c2", "c3", "c4"]
    for c in people:
        a.consent(c, "granted", SEND_AT - timedelta(days=30))
    for c in sorted(withdrawn):
        a.consent(c, "withdrawn", SEND_AT - timedelta(days=1))
    a.write(people, AUDIENCES, [("spring_sale", c) for c in people])
    return a


def test_interleaved_exports_of_two_lakes_each_read_their_own_lake(tmp_path: Path) -> None:
    one = _lake(tmp_path / "one", withdrawn={"c1"})
    two = _lake(tmp_path / "two", withdrawn={"c2", "c3"})
    # Inputs of both loaded before either decides: the views of the second must not replace the first's.
    loaded_one = inputs.load_inputs(one.lake, RULES, "spring_sale", SEND_AT)
    loaded_two = inputs.load_inputs(two.lake, RULES, "spring_sale", SEND_AT)
    withdrawn = "select customer_id from consent_events where status = 'withdrawn' order by 1"
    assert loaded_one.con.execute(withdrawn).fetchall() == [("c1",)]
    assert loaded_two.con.execute(withdrawn).fetchall() == [("c2",), ("c3",)]
    loaded_one.con.close()
    loaded_two.con.close()


def test_exports_in_threads_give_what_they_give_one_at_a_time(tmp_path: Path) -> None:
    lakes = {n: _lake(tmp_path / f"t{n}", withdrawn={f"c{n}"}).lake for n in (1, 2, 3, 4)}

    def run(n: int, folder: str) -> tuple[dict[str, int], list[str]]:
        drop = FileDrop("files", lakes[n].exports_dir() / folder)
        report = export_audience(lakes[n], RULES, "spring_sale", drop, send_time=SEND_AT, dry_run=folder == "dry")
        return report.counts, sorted(p.name.split("-", 3)[-1] for p in (drop.folder / "spring_sale").glob("*"))

    alone = {n: run(n, "dry") for n in lakes}
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = dict(zip(lakes, pool.map(run, lakes, ["files"] * len(lakes)), strict=True))
    assert {n: counts for n, (counts, _) in together.items()} == {n: counts for n, (counts, _) in alone.items()}
    for counts, files in together.values():
        assert counts == {"eligible": 3, "consent_withdrawn": 1}
        assert len(files) == 1 and files[0].endswith("-upsert.csv")
