"""The CX marts (survey metrics, follow-up cases, case metrics, bot hand-offs) beside the rest of the marts build.

    .venv/bin/python benchmarks/cx_build.py --customers 100000 --workdir /tmp/bench-cx

Inputs are written as the marts benchmark writes them (benchmarks/marts_build.py: bronze rows in the contract's
schema and identity-map rows, straight with DuckDB, because generating, ingesting and resolving 1M customers takes
hours on two cores), with survey answers and support tickets shaped like the generator's (synthetic_data/surveys.py,
support.py): 0.4 answers per customer over NPS, CSAT and CES with their scales, four touchpoints, five answer
channels, 40 stores for store visits; 0.25 tickets per customer over chat, bot, phone, email and store, with contact
counts and bot escalations. Answers spread over the year before as_of, so the last 30 days open cases.

Then, each in its own process, timed from start to exit with the peak RSS of the process tree (sampled every 0.2 s):
1. the whole project, ``cdp build --as-of`` (every model and test, the CX marts included);
2. the CX marts alone on the same lake, ``cdp build --select <cx models>`` (upstream already built).
From the full build's dbt run_results.json it also sums the execution time of the CX nodes against the others, so
the CX share of one build is measured in the same run as the rest.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import marts_build  # noqa: E402
from benchmarks.marts_build import timed  # noqa: E402
from cdp import lake as layout  # noqa: E402
from cdp.lake import Lake  # noqa: E402
from marts.duckdb_delta import load_delta_extension  # noqa: E402

AS_OF = marts_build.AS_OF
# The CX nodes (models, seeds and their tests): the selection of the second build, the "cx" side of the first.
CX_SELECT = (
    "cx_case_triggers cx_t_critical_values stg_cx__case_actions int_cx__case_state cx_survey_responses "
    "cx_survey_metrics cx_cases cx_case_metrics cx_bot_handoffs cx_bot_handoff_metrics int_traits__cx_scores"
)
CX_NODES = set(CX_SELECT.split())

SURVEYS = """select 'R' || customer || '-' || k as response_id,
    ['NPS', 'CSAT', 'CES'][1 + (hash(customer, k, 1) % 3)::int] as survey_type,
    -- skewed towards good scores, as the generator's planted model gives
    case (hash(customer, k, 1) % 3)::int
        when 0 then least(10, 4 + hash(customer, k, 2) % 8)
        when 1 then least(5, 1 + hash(customer, k, 2) % 6)
        else least(7, 2 + hash(customer, k, 2) % 7)
    end::integer as score,
    null as comment, 'C' || customer as customer_ref, null as email, null as phone,
    ['delivery', 'support', 'store_visit', 'checkout'][1 + (hash(customer, k, 3) % 4)::int] as touchpoint,
    ['email', 'sms', 'app', 'web', 'store'][1 + (hash(customer, k, 4) % 5)::int] as channel,
    case when hash(customer, k, 3) % 4 = 2 then 'S' || (customer % 40) end as store_id,
    timestamptz '2025-01-01' + to_seconds((hash(customer, k, 9) % 31536000)::bigint) as responded_at,
    ['vi', 'en'][1 + (customer % 2)::int] as language, null as order_id, null as ticket_id"""
TICKETS = """select 'X' || customer || '-' || k as ticket_id, 'C' || customer as customer_ref, null as email,
    null as phone, ['chat', 'chat', 'chat', 'bot', 'bot', 'phone', 'phone', 'email', 'email', 'store']
        [1 + (hash(customer, k, 5) % 10)::int] as channel,
    timestamptz '2025-01-01' + to_seconds((hash(customer, k, 11) % 31536000)::bigint) as opened_at,
    timestamptz '2025-01-01' + to_seconds((hash(customer, k, 11) % 31536000)::bigint + 30 + hash(customer, k) % 900)
        as first_response_at,
    case when customer % 33 = 0 then null
        else timestamptz '2025-01-01' + to_seconds((hash(customer, k, 11) % 31536000)::bigint + 20000) end
        as resolved_at,
    case when hash(customer, k, 6) % 10 < 6 then 1 else 2 + hash(customer, k, 6) % 3 end::integer as contact_count,
    hash(customer, k, 7) % 10 < 4 as escalated_to_human, 'help' as subject, null as body, 'vi' as language,
    null as order_id"""


def node_seconds(lake: Lake) -> tuple[float, float]:
    """(CX nodes, other nodes) execution seconds from the last dbt run's run_results.json."""
    results = json.loads((lake.marts_dir() / "target" / "run_results.json").read_text())["results"]
    cx = other = 0.0
    for r in results:
        unique_id = r["unique_id"]
        name = unique_id.split(".")[2]
        # a test is on the CX side when it tests a CX node (its id names the model)
        is_cx = name in CX_NODES or (unique_id.startswith("test.") and any(n in name for n in CX_NODES))
        if is_cx:
            cx += r["execution_time"]
        else:
            other += r["execution_time"]
    return cx, other


def counts(lake: Lake) -> dict[str, int]:
    con = duckdb.connect()
    load_delta_extension(con)
    tables = (layout.CX_SURVEY_RESPONSES, layout.CX_SURVEY_METRICS, layout.CX_CASES, layout.CX_CASE_METRICS,
              layout.CX_BOT_HANDOFFS)  # fmt: skip
    found = {}
    for t in tables:
        (rows,) = con.execute(f"select count(*) from delta_scan('{lake.uri(t)}')").fetchall()[0]
        found[t.name] = rows
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, nargs="+", default=[100_000])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench-cx"))
    args = parser.parse_args()
    marts_build.SOURCE_SQL["survey_responses"] = (0.4, SURVEYS)
    marts_build.SOURCE_SQL["support_tickets"] = (0.25, TICKETS)
    cdp = [sys.executable, "-m", "cdp.cli"]  # the code beside this script (cwd=ROOT), whatever is installed
    lines = [
        "| customers | answers | cases | full build s | peak RSS MB | CX nodes s / other nodes s (share) "
        "| CX-only build s | peak RSS MB | CX-only / full | load (1 min) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for customers in args.customers:
        lake = Lake(args.workdir / f"lake-{customers}")
        shutil.rmtree(lake.root, ignore_errors=True)
        start = time.perf_counter()
        rows = marts_build.synthesize(lake, customers)
        print(f"{customers:,} customers: inputs written in {time.perf_counter() - start:.0f} s: {rows}", flush=True)
        full, full_rss, _ = timed([*cdp, "build", "--lake", str(lake.root), "--as-of", AS_OF])
        cx_nodes, other_nodes = node_seconds(lake)
        print(f"full build {full:.1f} s, {full_rss:.0f} MB; CX nodes {cx_nodes:.1f} s, others {other_nodes:.1f} s")
        load = os.getloadavg()[0]
        cx_only, cx_rss, _ = timed([*cdp, "build", "--lake", str(lake.root), "--as-of", AS_OF, "--select", CX_SELECT])
        load = max(load, os.getloadavg()[0])
        print(f"CX-only build {cx_only:.1f} s, {cx_rss:.0f} MB", flush=True)
        found = counts(lake)
        print(found, flush=True)
        lines.append(
            f"| {customers:,} | {found['cx_survey_responses']:,} | {found['cx_cases']:,} | {full:.1f} "
            f"| {full_rss:,.0f} | {cx_nodes:.1f} / {other_nodes:.1f} ({cx_nodes / (cx_nodes + other_nodes):.0%}) "
            f"| {cx_only:.1f} | {cx_rss:,.0f} | {cx_only / full:.2f} | {load:.1f} |"
        )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
