"""The journey analytics marts (issue 8, item 6) next to the existing marts build, in the same run. Prints Markdown.

    .venv/bin/python benchmarks/journeys_build.py --customers 100000 --workdir /tmp/bench-journeys

Inputs are written straight into the bronze schemas like benchmarks/marts_build.py (whose per-customer volumes it
re-uses for every source but events), with Segment funnel events instead of its flat ones: per customer 1-6
sessions on web or app, each a Home page, 1-3 Product Viewed, an identify in some, and deeper steps for some
(Product Added + Cart Viewed for 35%, Checkout Started for 45% of those, Order Completed for 80% of checkouts),
30 s apart: about 16 events per customer, as the generator writes. Every event is in the identity map.

Three timed steps, each a dbt run in its own process (peak RSS over the process tree, sampled every 0.2 s):
1. baseline: `dbt build` of the whole project except the journey models (the existing marts, as `cdp build` runs);
2. journeys: `dbt build` of the journey models alone (their upstream is built by 1), full;
3. journeys again a day later, after 1% new events arrived (incremental step events and sessions).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# the same inputs, writer and peak-memory sampling as the marts benchmark
from benchmarks.marts_build import LINEAGE, SOURCE_SQL, _write, synthesize, timed  # noqa: E402
from cdp import lake as layout  # noqa: E402
from cdp.lake import Lake  # noqa: E402
from ingest.contracts import SOURCES  # noqa: E402
from marts.source_tables import OTHER_SOURCE_SCHEMAS, bronze_schema  # noqa: E402

AS_OF = "2026-01-01T00:00:00+00:00"
NEXT_DAY = "2026-01-02T00:00:00+00:00"
JOURNEYS = ["path:models/intermediate/journeys", "path:models/marts/journeys"]

# One row per session: its customer, channel, start and how deep it went (1 view .. 4 purchase).
SESSIONS_SQL = """
select customer, s, 'a' || customer || case when hash(customer, s, 'ch') % 3 = 0 then 'app' else 'web' end as visitor,
    case when hash(customer, s, 'ch') % 3 = 0 then 'app' else 'web' end as channel,
    timestamptz '{start}' + to_seconds((hash(customer, s) % {span})::bigint) as started_at,
    1 + (hash(customer, s, 'v') % 3)::int as views,
    hash(customer, s, 'id') % 4 = 0 as identifies,
    case when hash(customer, s, 'c') % 100 >= 35 then 1
         when hash(customer, s, 'k') % 100 >= 45 then 2
         when hash(customer, s, 'p') % 100 >= 80 then 3 else 4 end as depth
from range({first}, {stop}) t(customer),
lateral (select unnest(range((1 + hash(customer, 'sessions') % 6)::bigint)) as s)
"""

# The session's events in order: (type, event or page name).
EVENTS_SQL = """
with sessions as ({sessions}),
steps as (
    select *, unnest(
        [{{'type': 'page', 'name': 'Home'}}]
        || list_transform(range(views), i -> {{'type': 'track', 'name': 'Product Viewed'}})
        || case when identifies then [{{'type': 'identify', 'name': null}}] else [] end
        || case when depth >= 2 then [{{'type': 'track', 'name': 'Product Added'}},
                                      {{'type': 'track', 'name': 'Cart Viewed'}}] else [] end
        || case when depth >= 3 then [{{'type': 'track', 'name': 'Checkout Started'}}] else [] end
        || case when depth >= 4 then [{{'type': 'track', 'name': 'Order Completed'}}] else [] end
    ) as step, generate_subscripts(
        [0] || range(views) || case when identifies then [0] else [] end
        || case when depth >= 2 then [0, 0] else [] end || case when depth >= 3 then [0] else [] end
        || case when depth >= 4 then [0] else [] end, 1) as i
    from sessions
)
select 'E' || customer || '-' || s || '-' || i || '{suffix}' as messageId, step.type as type, visitor as anonymousId,
    case when identifies then 'C' || customer end as userId,
    case when step.type = 'track' then step.name end as event,
    case when step.type = 'page' then step.name end as name, null as previousId, null as groupId,
    case when step.name in ('Checkout Started', 'Order Completed')
         then '{{"order_id": "O' || customer || '-' || s || '{suffix}"}}' else '{{"sku": "SKU1"}}' end as properties,
    case when step.type = 'identify' then '{{"firstName": "First' || (customer % 997) || '"}}' end as traits,
    null as context, null as context_ip, null as context_user_agent, null as context_device_id,
    null as context_locale, null as context_timezone, channel as context_channel,
    started_at + to_seconds(30 * (i - 1)) as timestamp, null::timestamptz as sentAt, null::timestamptz as receivedAt,
    customer
from steps
"""


def write_events(
    lake: Lake, first: int, customers: int, *, start: str, span_seconds: int, ingested_at: str, suffix: str = ""
) -> int:
    """Funnel sessions' events for customers first..first+N, and their identity-map rows."""
    con = duckdb.connect()
    sessions = SESSIONS_SQL.format(start=start, span=span_seconds, first=first, stop=first + customers)
    con.execute(f"create table events as {EVENTS_SQL.format(sessions=sessions, suffix=suffix)}")
    schema = bronze_schema(SOURCES["events"])
    body = f"select * exclude (customer), {LINEAGE}, timestamptz '{ingested_at}' as _ingested_at from events"
    rows = _write(con, lake, layout.bronze("events"), body, schema)
    idmap = """select 'cus_' || lpad(printf('%x', customer), 16, '0') as customer_id, 'events' as source,
        messageId as source_record_id, 'customer_ref' as matched_by, 1.0::double as match_probability,
        timestamp as observed_at, 'bench' as rule_version, 'bench' as run_id from events"""
    _write(con, lake, layout.IDENTITY_MAP, idmap, OTHER_SOURCE_SCHEMAS[layout.IDENTITY_MAP])
    return rows


def child(lake_root: str, as_of: str, command: list[str]) -> None:
    """Run in the timed subprocess: prepare the lake as `cdp build` does, then one dbt command."""
    from datetime import datetime

    from marts.build import prepare, run_dbt

    lake = Lake(Path(lake_root))
    prepare(lake)
    run_dbt(lake, command, as_of=datetime.fromisoformat(as_of))


def timed_dbt(lake: Lake, as_of: str, command: list[str]) -> tuple[float, float]:
    """The dbt command in a child process of this script: (seconds, peak RSS in MB over the process tree)."""
    run = timed([sys.executable, __file__, "--child", str(lake.root), as_of, json.dumps(command)])
    return run.seconds, run.peak_mb


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], json.loads(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, nargs="+", default=[100_000])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench-journeys"))
    parser.add_argument(
        "--reuse-inputs", action="store_true", help="re-use the inputs a run wrote before its incremental step"
    )
    args = parser.parse_args()
    lines = [
        "| customers | events | baseline marts build s | MB | journeys build s | MB | journeys / baseline "
        "| new events | journeys incremental s | MB | incremental / full |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for customers in args.customers:
        lake = Lake(args.workdir / f"lake-{customers}")
        inputs = lake.root / "_bench_inputs.json"  # present while bronze holds only the first inputs
        if args.reuse_inputs and inputs.exists():
            rows = json.loads(inputs.read_text())
            # start from the inputs again: no dbt database, no mart (the identity map is an input)
            shutil.rmtree(lake.marts_dir(), ignore_errors=True)
            for table in lake.tables():
                if table.layer == layout.Layer.GOLD and table != layout.IDENTITY_MAP:
                    shutil.rmtree(lake.path(table))
        else:
            shutil.rmtree(lake.root, ignore_errors=True)
            start = time.perf_counter()
            rows = synthesize(lake, customers, only=tuple(s for s in SOURCE_SQL if s != "events"))
            rows["events"] = write_events(
                lake, 0, customers, start="2025-01-01", span_seconds=365 * 86400,
                ingested_at="2025-12-31T23:00:00+00:00",
            )  # fmt: skip
            inputs.write_text(json.dumps(rows))
            print(f"{customers:,} customers: inputs written in {time.perf_counter() - start:.0f} s: {rows}", flush=True)
        exclude = ["build", "--exclude", *JOURNEYS]
        baseline, baseline_mb = timed_dbt(lake, AS_OF, exclude)
        print(f"baseline marts build {baseline:.1f} s, {baseline_mb:.0f} MB", flush=True)
        journeys, journeys_mb = timed_dbt(lake, AS_OF, ["build", "--select", *JOURNEYS])
        print(f"journeys build {journeys:.1f} s, {journeys_mb:.0f} MB", flush=True)
        # 1% of customers come back the last day of the year: their events arrive with a later ingest time
        inputs.unlink()
        new_events = write_events(
            lake, 0, customers // 100, start="2025-12-31T12:00:00+00:00", span_seconds=43_200,
            ingested_at="2026-01-01T12:00:00+00:00", suffix="-new",
        )  # fmt: skip
        again, again_mb = timed_dbt(lake, NEXT_DAY, ["build", "--select", *JOURNEYS])
        print(f"journeys incremental build {again:.1f} s, {again_mb:.0f} MB", flush=True)
        lines.append(
            f"| {customers:,} | {rows['events']:,} | {baseline:.1f} | {baseline_mb:,.0f} | {journeys:.1f} "
            f"| {journeys_mb:,.0f} | {journeys / baseline:.2f} | {new_events:,} | {again:.1f} | {again_mb:,.0f} "
            f"| {again / journeys:.2f} |"
        )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
