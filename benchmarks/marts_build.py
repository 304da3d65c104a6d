"""The dbt marts build (issue 5): a full build, then a build after 1% new orders, for N customers. Prints Markdown.

    .venv/bin/python benchmarks/marts_build.py --customers 100000 1000000 --workdir /tmp/bench-marts

The marts read bronze tables and the identity map. Generating, ingesting and resolving 1M customers through the
whole pipeline takes hours on two cores, so this script writes those inputs directly, in the bronze schemas of the
landing contract (``marts.source_tables.bronze_schema``), with DuckDB: per customer, as many rows of each source as
the generator averages (orders 1.3, POS 0.3, CRM 0.9, consent 2.3, messages 9, surveys 0.4, tickets 0.25, events 16
of which 1.1 identify calls), identity-map rows for every record and email/phone identifiers for the person records.

Each build is ``cdp build --as-of ...`` in its own process (dbt seeds, every model, every test, every Delta write),
timed from start to exit, with its CPU seconds (user + system, the process and its children); peak RSS is the
largest sum over the process tree, sampled every 0.2 s. Then 1% new orders (and their identity-map rows) arrive with
a later ingest time, and the same command runs again a day later; the ratios are the second build's wall and CPU
seconds over the first's, in the same run. The wall ratio moves with the host's speed and load; the CPU ratio less.

Before the timed builds the script builds a lake of 1,000 customers once, untimed: PyTensor compiles the CLV models'
C code on a machine's first fit (about 30 s, cached in ``~/.pytensor``), which would inflate the full build alone and
flatter the ratio.

``--baseline CHECKOUT`` compares two codes' steady next-day builds on the lake such a run left (see
``compare_incremental``); ``--baseline-settings CDP_X=VALUE`` compares this code with itself under other settings.
With ``--first-next-day`` either compares the first next-day builds after the full build instead, on copies of the
lake a run with ``--keep-full-build`` kept as the full build left it.

``--dbt-floor N`` also times, N times, dbt's own floor for the next-day build's nodes (``dbt_floor``: the same graph of
models and tests doing no work) and sets it against the full build: what no dbt build of those nodes can go under.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import duckdb
import psutil
import pyarrow as pa
import yaml
from deltalake import write_deltalake

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from cdp import lake as layout  # noqa: E402
from cdp.lake import Lake  # noqa: E402
from ingest.contracts import SOURCES  # noqa: E402
from marts.audiences import DBT_PROJECT  # noqa: E402
from marts.source_tables import OTHER_SOURCE_SCHEMAS, bronze_schema  # noqa: E402

AS_OF = "2026-01-01T00:00:00+00:00"
# nodes recomputed in full by every build before they were made incremental (read from run_results when present)
FOLLOWED_NODES = (
    "int_cx__text_analyses", "int_cx__key_driver_estimates", "customer_contact_history", "customer_consent_history",
    "int_contacts__messages", "int_consent__events", "customer_consent_ranges", "int_consent__latest",
    "int_traits__contact_pressure",
)  # fmt: skip
NEXT_DAY = "2026-01-02T00:00:00+00:00"
# the 1% new orders before the next-day build, and before the day after a --baseline warm-up build
NEW_ORDERS = {"ingested_at": "2026-01-01T12:00:00+00:00", "suffix": "1"}
LATER_NEW_ORDERS = {"ingested_at": "2026-01-03T12:00:00+00:00", "suffix": "2"}
LINEAGE = (
    "[]::struct(field varchar, reason varchar)[] as _problems, 'bench' as _source_file, 1::bigint as _row_number, "
    "'x' as _file_checksum, 'bench' as _ingest_run_id"
)

# Per source: rows per customer and the SQL select over `draws(customer, k)` that makes them.
SOURCE_SQL = {
    "orders": (
        1.3,
        """select 'O' || customer || '-' || k as order_id, 'C' || customer as customer_ref,
            'p' || customer || '@mail.test' as email, '+8490' || lpad(customer::varchar, 7, '0') as phone,
            ['web', 'app', 'store'][1 + (hash(customer, k) % 3)::int] as channel,
            case when hash(customer, k) % 3 = 2 then 'S' || (customer % 40) end as store_id,
            timestamptz '2025-01-01' + to_days((hash(k, customer) % 360)::int) as ordered_at,
            ['delivered', 'delivered', 'delivered', 'paid', 'cancelled', 'refunded'][1 + (hash(customer) % 6)::int]
                as status,
            case when customer % 5 = 0 then 'USD' else 'VND' end as currency,
            (case when customer % 5 = 0 then 20 + hash(customer, k) % 200 else 100000 + (hash(customer, k) % 90) * 10000
             end)::decimal(18, 2) as total_amount,
            null::timestamptz as promised_delivery_at, null::timestamptz as delivered_at,
            null::varchar as returned_store_id,
            [{'sku': 'SKU' || (hash(k) % 500),
              'category': ['fashion', 'beauty', 'home', 'sports'][1 + (hash(k) % 4)::int],
              'quantity': 1, 'unit_price': 100000::decimal(18, 2)}] as lines""",
    ),
    "pos_transactions": (
        0.3,
        """select 'T' || customer || '-' || k as transaction_id, 'S' || (customer % 40) as store_id,
            'L' || customer as loyalty_card_id, '+8490' || lpad(customer::varchar, 7, '0') as phone,
            timestamptz '2025-01-01' + to_days((hash(k, customer) % 360)::int) as occurred_at,
            (50000 + (hash(customer, k) % 50) * 10000)::decimal(18, 2) as amount, 'VND' as currency,
            null::struct(sku varchar, category varchar, quantity integer, unit_price decimal(18, 2))[] as items""",
    ),
    "crm_contacts": (
        0.9,
        """select 'K' || customer || '-' || k as contact_id, 'First' || (customer % 997) as first_name,
            'Last' || (customer % 1999) as last_name, 'p' || customer || '@mail.test' as email,
            '+8490' || lpad(customer::varchar, 7, '0') as phone,
            date '1960-01-01' + to_days((hash(customer) % 15000)::int) as date_of_birth,
            ['female', 'male'][1 + (customer % 2)::int] as gender, customer || ' Street' as address_line1,
            null as address_line2, 'City' || (customer % 50) as city, lpad((customer % 99999)::varchar, 5, '0')
            as postcode, null as state, 'VN' as country, timestamptz '2024-06-01' as created_at,
            timestamptz '2025-01-01' + to_days((hash(customer, k) % 300)::int) as updated_at""",
    ),
    "consent_events": (
        2.3,
        """select 'N' || customer || '-' || k as consent_id, 'C' || customer as customer_ref, null as email,
            null as phone, ['marketing', 'personalisation', 'analytics'][1 + (hash(customer, k) % 3)::int] as purpose,
            ['email', 'sms', 'push'][1 + (hash(k, customer) % 3)::int] as channel,
            case when hash(customer, k, 7) % 6 = 0 then 'withdrawn' else 'granted' end as status,
            'web_form' as source, 'v1' as policy_version,
            timestamptz '2025-01-01' + to_days((hash(customer, k, 3) % 360)::int) as occurred_at""",
    ),
    "messages_sent": (
        9.0,
        """select 'M' || customer || '-' || k as message_id, 'CMP' || (k % 7) as campaign_id,
            ['email', 'sms', 'push'][1 + (hash(customer, k) % 3)::int] as channel,
            'p' || customer || '@mail.test' as recipient,
            timestamptz '2025-11-01' + to_days((hash(customer, k, 5) % 61)::int) as sent_at,
            case when k % 4 = 0 then 'transactional' else 'marketing' end as purpose""",
    ),
    "survey_responses": (
        0.4,
        """select 'R' || customer || '-' || k as response_id, ['NPS', 'CSAT', 'CES'][1 + (k % 3)::int] as survey_type,
            case k % 3 when 0 then hash(customer) % 11 when 1 then 1 + hash(customer) % 5 else 1 + hash(customer) % 7
            end::integer as score, null as comment, 'C' || customer as customer_ref, null as email, null as phone,
            'delivery' as touchpoint, 'email' as channel, null as store_id,
            timestamptz '2025-01-01' + to_days((hash(customer, k, 9) % 360)::int) as responded_at, 'vi' as language,
            null as order_id, null as ticket_id""",
    ),
    "support_tickets": (
        0.25,
        """select 'X' || customer || '-' || k as ticket_id, 'C' || customer as customer_ref, null as email,
            null as phone, 'chat' as channel,
            timestamptz '2025-01-01' + to_days((hash(customer, k, 11) % 360)::int) as opened_at,
            null::timestamptz as first_response_at,
            case when customer % 7 = 0 then null else timestamptz '2025-12-31' end as resolved_at,
            1 as contact_count, false as escalated_to_human, 'help' as subject, null as body, 'vi' as language,
            null as order_id""",
    ),
    "events": (
        16.0,
        """select 'E' || customer || '-' || k as messageId,
            case when k % 15 = 0 then 'identify' else 'track' end as type, 'a' || customer as anonymousId,
            'C' || customer as userId, case when k % 15 <> 0 then 'Product Viewed' end as event, null as name,
            null as previousId, null as groupId, null as properties,
            case when k % 15 = 0 then '{"firstName": "First' || (customer % 997) || '"}' end as traits,
            null as context, null as context_ip, null as context_user_agent, null as context_device_id,
            null as context_locale, null as context_timezone, 'web' as context_channel,
            timestamptz '2025-01-01' + to_seconds((hash(customer, k) % 31536000)::bigint) as timestamp,
            null::timestamptz as sentAt, null::timestamptz as receivedAt""",
    ),
}
RECORD_ID = {name: contract.record_id for name, contract in SOURCES.items()}
PERSON_SOURCES = ("orders", "pos_transactions", "crm_contacts", "consent_events", "survey_responses", "support_tickets")


def _write(con: duckdb.DuckDBPyConnection, lake: Lake, table: layout.Table, sql: str, schema: pa.Schema) -> int:
    arrow = con.sql(sql).to_arrow_table()
    arrow = pa.Table.from_arrays([arrow.column(f.name).cast(f.type) for f in schema], schema=schema)
    write_deltalake(lake.uri(table), arrow, mode="append")
    return arrow.num_rows


def synthesize(lake: Lake, customers: int, *, first: int = 0, only: tuple[str, ...] | None = None,
               ingested_at: str = "2025-12-31T23:00:00+00:00", suffix: str = "") -> dict[str, int]:  # fmt: skip
    """Write bronze rows and identity-map rows (and email/phone identifiers) for customers first..first+N."""
    con = duckdb.connect()
    rows: dict[str, int] = {}
    for source, (per_customer, select) in SOURCE_SQL.items():
        if only is not None and source not in only:
            continue
        # k draws per customer: floor(rate) each, plus one more for a fraction of customers
        con.execute(
            f"""create or replace table draws as
            select customer, k from range({first}, {first + customers}) t(customer),
            lateral (select unnest(range(({int(per_customer)} + (hash(customer, '{source}') % 100 <
                     {round((per_customer % 1) * 100)})::int)::bigint)) as k)"""
        )
        if suffix:  # new records get new ids
            con.execute(f"update draws set k = k + 1000000 * {suffix}")
        body = f"select *, {LINEAGE}, timestamptz '{ingested_at}' as _ingested_at from ({select} from draws)"
        schema = bronze_schema(SOURCES[source])
        rows[source] = _write(con, lake, layout.bronze(source), body, schema)
        record = RECORD_ID[source]
        time_column = {"orders": "ordered_at", "pos_transactions": "occurred_at", "crm_contacts": "updated_at",
                       "consent_events": "occurred_at", "messages_sent": "sent_at", "survey_responses": "responded_at",
                       "support_tickets": "opened_at", "events": "timestamp"}[source]  # fmt: skip
        idmap = f"""select 'cus_' || lpad(printf('%x', customer), 16, '0') as customer_id, '{source}' as source,
            {record} as source_record_id, 'customer_ref' as matched_by, 1.0::double as match_probability,
            {time_column} as observed_at, 'bench' as rule_version, 'bench' as run_id,
            timestamptz '{ingested_at}' as assigned_at
            from ({select.replace("select ", "select customer, ", 1)} from draws)"""
        _write(con, lake, layout.IDENTITY_MAP, idmap, OTHER_SOURCE_SCHEMAS[layout.IDENTITY_MAP])
        if source in PERSON_SOURCES:
            identifiers = f"""select 0::bigint as node, '{source}:' || {record} as record_key, '{source}' as source,
                {record} as source_record_id, {time_column} as observed_at, id_type, raw_value, null as region_hint,
                raw_value as value, null as drop_reason, 'used' as status, 'bench' as run_id
                from (select customer, {record}, {time_column},
                        'p' || customer || '@mail.test' as email, '+8490' || lpad(customer::varchar, 7, '0') as phone
                      from ({select.replace("select ", "select customer, ", 1)} from draws))
                unpivot (raw_value for id_type in (email, phone))"""
            _write(
                con, lake, layout.IDENTITY_IDENTIFIERS, identifiers, OTHER_SOURCE_SCHEMAS[layout.IDENTITY_IDENTIFIERS]
            )
    return rows


def _tree_rss(process: psutil.Process) -> int:
    total = 0
    for proc in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += proc.memory_info().rss
    return total


class Timed(NamedTuple):
    seconds: float  # wall
    peak_mb: float  # peak RSS over the process tree
    cpu_seconds: float  # user + system of the process and every descendant it waited for


def timed(command: list[str], env: dict[str, str] | None = None) -> Timed:
    """Run a command in its own process. CPU seconds move less with the host's load than wall seconds do: a ratio
    of two builds' CPU seconds is the steadier figure when the machine is shared."""
    start = time.perf_counter()
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT, env=env)
    watched, peak = psutil.Process(child.pid), 0
    while child.poll() is None:
        with contextlib.suppress(psutil.NoSuchProcess):
            peak = max(peak, _tree_rss(watched))
        time.sleep(0.2)
    output, _ = child.communicate()
    seconds = time.perf_counter() - start
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if child.returncode != 0:
        raise RuntimeError(output[-4000:])
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return Timed(seconds, peak / 2**20, cpu)


def timed_build(lake: Lake, as_of: str, code: Path | None = None, settings: dict[str, str] | None = None) -> Timed:
    """``cdp build`` in its own process. ``code``: another checkout whose packages (its own dbt project included)
    come first on PYTHONPATH, e.g. a baseline commit's; ``settings``: environment variables of the build
    (``CDP_...`` settings)."""
    env = {**os.environ, **(settings or {}), **({"PYTHONPATH": str(code)} if code else {})}
    command = [str(Path(sys.executable).with_name("cdp")), "build", "--lake", str(lake.root), "--as-of", as_of]
    started = time.time()
    run = timed(command, env)
    _last_build_span[lake.root] = (started, started + run.seconds)
    return run


_last_build_span: dict[Path, tuple[float, float]] = {}  # lake root -> (start, end) of its last timed build, epoch s


def run_results(lake: Lake) -> dict:
    """The lake's last dbt invocation's run_results.json: ``results`` (one per node), ``elapsed_time``, ..."""
    return json.loads((lake.marts_dir() / "target" / "run_results.json").read_text())


def build_phases(lake: Lake) -> str:
    """Where the wall time of the lake's last timed ``cdp build`` went, from its process span, dbt's file log and
    run_results.json: before dbt (interpreter, imports, latest_as_of, source tables, audiences, plan, dbt's import),
    dbt's start (project and partial parse, relation cache) to its first node, the nodes, and after dbt (dbt's
    end, DuckDB's checkpoint when the database closes at exit, interpreter exit)."""
    from datetime import UTC, datetime, timedelta

    started, ended = _last_build_span[lake.root]
    work = lake.marts_dir()
    nodes = run_results(lake)["results"]
    timings = [t for r in nodes for t in r["timing"] if t.get("started_at") and t.get("completed_at")]
    if not timings:
        return "phases: no node ran"

    def stamp(text: str) -> float:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()

    first_node = min(stamp(t["started_at"]) for t in timings)
    last_node = max(stamp(t["completed_at"]) for t in timings)
    # dbt's file log stamps lines with the local time of day (UTC on these machines) and no date
    day = datetime.fromtimestamp(started, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    dbt_start = None
    for line in (work / "logs" / "dbt.log").read_text(errors="replace").splitlines():
        if "Running with dbt=" not in line:
            continue
        clock = line.split("[0m", 1)[-1].split(" ", 1)[0]
        at = datetime.combine(day.date(), datetime.strptime(clock, "%H:%M:%S.%f").time(), UTC)
        if at.timestamp() < started - 60:
            at += timedelta(days=1)  # the build crossed midnight
        if started <= at.timestamp() <= ended and dbt_start is None:
            dbt_start = at.timestamp()  # a complete build's parse invocation comes before its build
    dbt_start = first_node if dbt_start is None else dbt_start
    return (
        f"phases (s): before dbt {dbt_start - started:.1f}, dbt's start to its first node "
        f"{first_node - dbt_start:.1f}, "
        f"nodes {last_node - first_node:.1f}, after the last node (dbt's end, DuckDB's checkpoint at close, exit) "
        f"{ended - last_node:.1f}; process {ended - started:.1f}"
    )


@dataclass(frozen=True)
class Variant:
    """A way to build: this checkout or another (``code``), with some settings (environment variables) or none."""

    label: str
    code: Path | None = None
    settings: dict[str, str] = field(default_factory=dict)


def compare_incremental(
    workdir: Path, customers: int, baseline: Variant, rounds: int, *, first_next_day: bool = False
) -> list[str]:
    """On the lake a normal run left in ``workdir`` (full build, 1% new orders, next-day build), the steady state of
    this checkout against ``baseline`` (another checkout, or this one with other settings), alternating which goes
    first, each on a fresh copy of that lake: a warm-up build a day later (each code's own saved parse and build
    state in place: a change to a macro alters many nodes' checksums, and the first build after it is a complete
    one), then the same 1% new orders and the timed build of the day after.

    ``first_next_day``: instead, the first next-day build after the full build, on copies of the lake as the full
    build left it (kept by a normal run with ``--keep-full-build``), with the normal run's new orders and no warm-up;
    with another checkout, its first build on the lake may parse more than a steady one."""
    lake = Lake(workdir / f"lake-{customers}")
    # each build runs on a fresh copy at the lake's own path (dbt's saved parse is per lake root)
    pristine = workdir / f"lake-{customers}-{'full' if first_next_day else 'pristine'}"
    if first_next_day and not pristine.exists():
        raise SystemExit(f"{pristine} is missing: run this script with --keep-full-build first")
    if not pristine.exists():
        lake.root.rename(pristine)
    lines = [
        "| round | code | warm-up build s | timed build s | CPU s | peak RSS MB | dbt |",
        "|---|---|---|---|---|---|---|",
    ]
    this = Variant("this checkout")
    for round_ in range(1, rounds + 1):
        for variant in (this, baseline) if round_ % 2 else (baseline, this):
            shutil.rmtree(lake.root, ignore_errors=True)
            shutil.copytree(pristine, lake.root)
            if first_next_day:
                warm_up, new_orders, as_of = None, NEW_ORDERS, NEXT_DAY
            else:
                warm_up = timed_build(lake, "2026-01-03T00:00:00+00:00", variant.code, variant.settings)
                new_orders, as_of = LATER_NEW_ORDERS, "2026-01-04T00:00:00+00:00"
            synthesize(lake, customers // 100, only=("orders",), **new_orders)
            run = timed_build(lake, as_of, variant.code, variant.settings)
            kept = workdir / f"run_results-{round_}-{'this' if variant is this else 'baseline'}.json"
            shutil.copyfile(lake.marts_dir() / "target" / "run_results.json", kept)  # for a timeline of the build
            lines.append(
                f"| {round_} | {variant.label} | {f'{warm_up.seconds:.1f}' if warm_up else '-'} | {run.seconds:.1f} "
                f"| {run.cpu_seconds:.1f} | {run.peak_mb:,.0f} | {slowest_nodes(lake, 6)}; {build_phases(lake)} |"
            )
            print(lines[-1], flush=True)
    return lines


def slowest_nodes(lake: Lake, count: int = 10) -> str:
    """The last dbt invocation's slowest nodes (run_results.json) and whether dbt could parse only what changed."""
    work, results = lake.marts_dir(), run_results(lake)
    nodes = sorted(((r["execution_time"], r["unique_id"].split(".")[-1]) for r in results["results"]), reverse=True)
    log = (work / "logs" / "dbt.log").read_text(errors="replace")
    last = log.rfind("Running with dbt=")
    # a complete cdp build parses in a dbt invocation of its own just before the build (marts/build.py,
    # parse_project); a build that leaves nodes out parses in the build's own invocation
    previous = log.rfind("Running with dbt=", 0, last)
    last_run = log[previous if previous >= 0 and "Performance info:" in log[previous:last] else last :]
    reparsed = "full parse" if "Unable to do partial parsing" in last_run else "partial parse"
    top = ", ".join(f"{name} {seconds:.1f}" for seconds, name in nodes[:count])
    summed = sum(t for t, _ in nodes)
    # the nodes issue 5 follows whether or not they are among the slowest
    followed = ", ".join(f"{name} {seconds:.1f}" for seconds, name in sorted(nodes, key=lambda n: n[1])
                         if name in FOLLOWED_NODES)  # fmt: skip
    return f"dbt {results['elapsed_time']:.1f} s ({reparsed}), node times summed {summed:.1f} s: {top}; {followed}"


def parse_cost(workdir: Path, repeats: int) -> list[str]:
    """``dbt parse`` on an empty lake, each in its own process, for a new as_of each time: as_of in the environment
    (this code) against as_of in ``--vars`` (before: a new var value makes dbt re-parse the whole project). The first
    parse of each way absorbs the switch between them and is left out."""
    from datetime import datetime, timedelta

    from marts.build import dbt_args, lake_environment, prepare

    lake = Lake(workdir / "lake-parse")
    shutil.rmtree(lake.root, ignore_errors=True)
    prepare(lake)
    dbt = str(Path(sys.executable).with_name("dbt"))
    start, lines = datetime.fromisoformat(AS_OF), []
    for label, in_vars in (("as_of in the environment (DuckDB variable)", False), ("as_of in --vars (before)", True)):
        seconds = []
        for i in range(repeats + 1):
            as_of = start + timedelta(days=len(lines) * 100 + i)
            extra = {"as_of": as_of.isoformat()} if in_vars else None
            with lake_environment(lake, "local", as_of=as_of):
                elapsed = timed([dbt, "parse", *dbt_args(lake, "local", extra)]).seconds
            if i:
                seconds.append(elapsed)
        lines.append(f"| {label} | {repeats} | {statistics.median(seconds):.1f} | {min(seconds):.1f} |")
    return ["| `dbt parse`, new as_of each time, own process | runs | median s | min s |", "|---|---|---|---|", *lines]


def dbt_floor(lake: Lake, workdir: Path, repeats: int = 3) -> list[Timed]:
    """The least any dbt build of the lake's last build's node set can cost: the same models and tests, in the same
    graph, as empty work (each model ``select 1``: a view where ours is a staging view, else a DuckDB table; each test
    a query over its first parent that returns no row), built by dbt-duckdb with the profile's threads in its own
    process after an untimed first build (so that the timed ones, like a next-day build, parse partially).
    The floor of dbt itself: its start, per-node overhead and end, with no data and no Delta write."""
    built = {r["unique_id"] for r in run_results(lake)["results"]}
    graph = json.loads((lake.marts_dir() / "target" / "graph_summary.json").read_text())["linked"]
    parents: dict[str, list[str]] = {}
    for node in graph.values():
        for child in node.get("succ", []):
            parents.setdefault(graph[str(child)]["name"], []).append(node["name"])
    project = workdir / "dbt-floor"
    shutil.rmtree(project, ignore_errors=True)
    (project / "models").mkdir(parents=True)
    (project / "tests").mkdir()

    def refs(unique_id: str) -> list[str]:
        return [p.split(".")[2] for p in parents.get(unique_id, []) if p in built and p.startswith("model.")]

    def depends_on(models: list[str]) -> str:
        return "".join(f"-- depends_on: {{{{ ref('{m}') }}}}\n" for m in models)

    for unique_id in sorted(built):
        kind, _, name = unique_id.split(".")[:3]
        if kind == "model":
            materialized = "view" if name.startswith("stg_") else "table"
            body = f"{{{{ config(materialized='{materialized}') }}}}\n{depends_on(refs(unique_id))}select 1 as id\n"
            (project / "models" / f"{name}.sql").write_text(body)
        elif kind == "test":
            first, *rest = refs(unique_id) or [None]
            source = f"{{{{ ref('{first}') }}}}" if first else "(select 1 as id)"
            body = f"{depends_on(rest)}select * from {source} where id is null\n"
            (project / "tests" / f"{name}.sql").write_text(body)
    (project / "dbt_project.yml").write_text(
        "name: floor\nversion: '1.0.0'\nprofile: floor\nconfig-version: 2\n"
        "flags: {log_level_file: info, send_anonymous_usage_stats: false}\n"
    )
    threads = yaml.safe_load((DBT_PROJECT / "profiles.yml").read_text())["cdp"]["outputs"]["local"]["threads"]
    (project / "profiles.yml").write_text(
        f"floor:\n  target: local\n  outputs:\n    local:\n      type: duckdb\n"
        f"      path: {project / 'floor.duckdb'}\n      threads: {threads}\n"
    )
    dbt = str(Path(sys.executable).with_name("dbt"))
    command = [dbt, "build", "--project-dir", str(project), "--profiles-dir", str(project)]
    timed(command)  # the first build: full parse, every relation created
    return [timed(command) for _ in range(repeats)]


def warm_up(workdir: Path, customers: int = 1_000) -> float:
    """A full build of a small lake, untimed in the results: the first one on a machine compiles PyTensor's C code."""
    lake = Lake(workdir / "lake-warm-up")
    shutil.rmtree(lake.root, ignore_errors=True)
    synthesize(lake, customers)
    seconds = timed_build(lake, AS_OF).seconds
    shutil.rmtree(lake.root, ignore_errors=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, nargs="+", default=[100_000])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench-marts"))
    parser.add_argument("--parse-only", type=int, metavar="N", help="only time dbt's parse, N times each way")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="a checkout to compare this one's steady next-day build with, on the lake a "
        "normal run of this script left in --workdir",
    )
    parser.add_argument(
        "--baseline-settings",
        nargs="+",
        metavar="CDP_X=VALUE",
        help="compare with this checkout under these settings instead of another checkout (as --baseline)",
    )
    parser.add_argument("--rounds", type=int, default=2, help="with --baseline: timed builds of each side")
    parser.add_argument(
        "--first-next-day",
        action="store_true",
        help="with --baseline: compare the first next-day builds after the full build (needs --keep-full-build)",
    )
    parser.add_argument(
        "--keep-full-build", action="store_true", help="keep a copy of the lake as the full build left it"
    )
    parser.add_argument(
        "--dbt-floor",
        type=int,
        metavar="N",
        default=0,
        help="also time dbt's floor for the next-day build's nodes N times (see dbt_floor), against the full build",
    )
    args = parser.parse_args()
    if args.baseline or args.baseline_settings:
        settings = dict(item.split("=", 1) for item in args.baseline_settings or [])
        label = f"baseline {args.baseline or 'this checkout'}"
        if settings:
            label += f" with {' '.join(args.baseline_settings)}"
        baseline = Variant(label, args.baseline, settings)
        compared = compare_incremental(
            args.workdir, args.customers[0], baseline, args.rounds, first_next_day=args.first_next_day
        )
        print("\n".join(compared))
        return
    if args.parse_only:
        print("\n".join(parse_cost(args.workdir, args.parse_only)))
        return
    lines = [
        "| customers | bronze rows | full build s (CPU s) | peak RSS MB | new orders | next-day build s (CPU s) "
        "| peak RSS MB | next day / full: wall (CPU) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    floor_lines: list[str] = []
    print(f"warm-up build of 1,000 customers: {warm_up(args.workdir):.1f} s", flush=True)
    for customers in args.customers:
        lake = Lake(args.workdir / f"lake-{customers}")
        shutil.rmtree(lake.root, ignore_errors=True)
        start = time.perf_counter()
        rows = synthesize(lake, customers)
        print(f"{customers:,} customers: inputs written in {time.perf_counter() - start:.0f} s: {rows}", flush=True)
        full = timed_build(lake, AS_OF)
        print(
            f"full build {full.seconds:.1f} s, {full.cpu_seconds:.1f} CPU s, {full.peak_mb:.0f} MB; "
            f"{slowest_nodes(lake)}; {build_phases(lake)}",
            flush=True,
        )
        if args.keep_full_build:
            kept = args.workdir / f"lake-{customers}-full"
            shutil.rmtree(kept, ignore_errors=True)
            shutil.copytree(lake.root, kept)
        new_orders = synthesize(lake, customers // 100, only=("orders",), **NEW_ORDERS)["orders"]
        next_day = timed_build(lake, NEXT_DAY)
        print(
            f"next-day build {next_day.seconds:.1f} s, {next_day.cpu_seconds:.1f} CPU s, {next_day.peak_mb:.0f} MB; "
            f"{slowest_nodes(lake)}; {build_phases(lake)}",
            flush=True,
        )
        if args.dbt_floor:
            floors = dbt_floor(lake, args.workdir, args.dbt_floor)
            wall = statistics.median(f.seconds for f in floors)
            cpu = statistics.median(f.cpu_seconds for f in floors)
            floor_lines.append(
                f"| {customers:,} | {len(run_results(lake)['results'])} "
                f"| {', '.join(f'{f.seconds:.1f} ({f.cpu_seconds:.1f})' for f in floors)} "
                f"| {wall / full.seconds:.3f} ({cpu / full.cpu_seconds:.3f}) "
                f"| {0.15 * full.seconds:.1f} ({0.15 * full.cpu_seconds:.1f}) |"
            )
        lines.append(
            f"| {customers:,} | {sum(rows.values()):,} | {full.seconds:.1f} ({full.cpu_seconds:.1f}) "
            f"| {full.peak_mb:,.0f} | {new_orders:,} | {next_day.seconds:.1f} ({next_day.cpu_seconds:.1f}) "
            f"| {next_day.peak_mb:,.0f} | {next_day.seconds / full.seconds:.3f} "
            f"({next_day.cpu_seconds / full.cpu_seconds:.3f}) |"
        )
    print("\n".join(lines))
    if floor_lines:
        print(
            "\n".join(
                [
                    "",
                    "| customers | next-day nodes | dbt's floor for them, s (CPU s) | floor / full: wall (CPU) "
                    "| 15% of the full build, s (CPU s) |",
                    "|---|---|---|---|---|",
                    *floor_lines,
                ]
            )
        )


if __name__ == "__main__":
    main()
