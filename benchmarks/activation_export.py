"""Activation export: a 1M-member audience with consent, caps, quiet hours, care rules and audit, against the same
export without any checks, in one run.

    .venv/bin/python benchmarks/activation_export.py --members 1000000 --workdir /tmp/bench-activation

The lake is synthesised directly (DuckDB -> Delta): customers and traits, three email audiences (the exported one
holds every customer; the others overlap it), bronze consent events (about 1.6 per person, some withdrawn) and
messages_sent (about 2 per person over 30 days), all linked through gold.identity_map, and the marts a build makes
of them for activation (gold.customer_consent_history, gold.customer_contact_history: the same rows with their
customer_id, in the dbt models' order; gold.customer_consent_ranges by the dbt model's own query, whose time is
printed as part of the build, not of the export), which the export reads.

- baseline: read the current members, join their email/phone/name, write one CSV (what an export without checks
  does);
- checked: ``activation.export.export_audience`` to the same CSV file drop, in mirror mode: decisions for every
  member, ``audit.activation_decisions`` (one row per member), the sync records and the deliveries log; the consent
  gate reads the ranges in force at send time;
- checked, events gate: the same with the ranges table moved aside, so the gate aggregates every consent event (the
  export before the ranges existed); its decisions must be the same, count for count.

Then one person is erased from the same lake (every table deleted from, vacuumed and its log truncated) and the
erasure's time, rows deleted, old files removed and export files rewritten are printed.

Each repeat starts from the same lake (the checked run's audit and sync state are removed between repeats, so each
checked run is a first full sync). Runs are interleaved; the table shows medians. Each checked export prints its
stages as wall/CPU seconds (inputs, decide, audit rows, plan while the audit is written, audit wait, deliver), and
the JSON gives their medians (``checked_stages``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.csv as pacsv
from deltalake import write_deltalake

from activation.consent_ranges import ranges_query
from activation.destinations import FileDrop
from activation.erasure import erase, resolve
from activation.export import SyncReport, export_audience
from activation.rules import load_rules
from cdp import lake as layout
from cdp.lake import Lake
from marts.duckdb_delta import lake_connection

SEND_AT = datetime(2026, 1, 5, 3, 0, tzinfo=UTC)  # 10:00 in Ho Chi Minh City


def synthesise(lake: Lake, members: int, seed: int) -> None:
    con = lake_connection()  # a connection to the process's database: what it makes here is temp, its own
    con.execute(f"select setseed({1 / (seed + 1)})")
    con.execute(f"create temp table people as select 'cus_' || lpad(i::varchar, 8, '0') as customer_id, i "
                f"from range({members}) t(i)")  # fmt: skip

    def write(table: layout.Table, sql: str) -> None:
        write_deltalake(lake.uri(table), con.sql(sql).to_arrow_reader(), mode="overwrite")

    write(layout.CUSTOMERS, """
        select customer_id, 'First' || i as first_name, 'Last' || i as last_name,
               'person' || i || '@example.com' as email, '+8490' || lpad(i::varchar, 7, '0') as phone,
               case when i % 10 = 0 then 'US' when i % 10 = 1 then null else 'VN' end as country
        from people""")  # fmt: skip
    write(layout.CUSTOMER_TRAITS, """
        select customer_id, ['18_24','25_34','35_44','45_54'][1 + i % 4] as age_band, 'female' as gender,
               'beauty' as preferred_category, (i % 97 = 0)::int as open_cases, i % 89 = 0 as is_recent_detractor
        from people""")  # fmt: skip
    write(
        layout.AUDIENCES,
        """
        select * from (values ('big_sale', 'marketing', 'email', 30), ('vip', 'marketing', 'email', 10),
                              ('winback', 'marketing', 'email', 50)) t(name, purpose, channel, priority)""",
    )
    write(layout.AUDIENCE_MEMBERSHIPS, """
        select a || '-' || customer_id as membership_id, a as audience_name, customer_id,
               timestamptz '2026-01-01' as entered_at, null::timestamptz as exited_at, null::varchar as exit_reason,
               hash(a || customer_id) % 20 = 0 as is_holdout
        from people, (values ('big_sale'), ('vip'), ('winback')) v(a)
        where a = 'big_sale' or (a = 'vip' and i % 7 = 0) or (a = 'winback' and i % 3 = 0)""")  # fmt: skip
    con.execute("""
        create temp table consents as
        select 'CNS-' || i || '-' || k as consent_id, customer_id, 'marketing' as purpose, 'email' as channel,
               case when k = 1 and i % 5 = 0 then 'withdrawn' else 'granted' end as status,
               timestamptz '2025-06-01' + to_days((k * 30 + i % 60)::int) as occurred_at
        from people, range(2) r(k) where k = 0 or i % 3 < 2""")  # fmt: skip
    con.execute("""
        create temp table messages as
        select 'MSG-' || i || '-' || k as message_id, customer_id, 'email' as channel,
               'person' || i || '@example.com' as recipient,
               timestamptz '2026-01-05 03:00' - to_hours((1 + (i * 7 + k * 13) % 720)::int) as sent_at,
               case when k = 2 then 'transactional' else 'marketing' end as purpose
        from people, range(3) r(k) where k < 2 or i % 2 = 0""")  # fmt: skip
    write(layout.bronze("consent_events"),
          "select consent_id, purpose, channel, status, occurred_at from consents")  # fmt: skip
    write(layout.bronze("messages_sent"),
          "select message_id, channel, recipient, sent_at, purpose from messages")  # fmt: skip
    # What the dbt models customer_consent_history and customer_contact_history make of them (same order).
    write(layout.CUSTOMER_CONSENT_HISTORY, """
        select customer_id, purpose, channel, status, status = 'granted' as is_granted, occurred_at, consent_id,
               timestamptz '2026-01-05' as ingested_at
        from consents order by purpose, channel, customer_id""")  # fmt: skip
    write(layout.CUSTOMER_CONTACT_HISTORY, """
        select customer_id, channel, purpose, sent_at, message_id, null::varchar as campaign_id,
               timestamptz '2026-01-05' as ingested_at
        from messages order by channel, sent_at""")  # fmt: skip
    # What the dbt model customer_consent_ranges makes of the history (its query; a build's cost, printed).
    started = time.perf_counter()
    con.execute(f"create temp view history as select * from delta_scan('{lake.uri(layout.CUSTOMER_CONSENT_HISTORY)}')")
    write(layout.CUSTOMER_CONSENT_RANGES, ranges_query("history") + " order by purpose, channel, customer_id")
    print(f"consent ranges mart built in {time.perf_counter() - started:.2f} s")
    write(layout.IDENTITY_MAP, """
        select customer_id, 'consent_events' as source, consent_id as source_record_id from consents
        union all select customer_id, 'messages_sent', message_id from messages""")  # fmt: skip
    con.close()  # its temp tables go with it: the process's database holds nothing of them during the runs


def baseline(lake: Lake, out: Path) -> int:
    """The same export without checks: current members with their identifiers, one CSV."""
    con = lake_connection()
    members = f"delta_scan('{lake.uri(layout.AUDIENCE_MEMBERSHIPS)}')"
    customers = f"delta_scan('{lake.uri(layout.CUSTOMERS)}')"
    table = con.sql(
        f"select m.customer_id, c.email, c.phone, c.first_name, c.last_name from {members} m "
        f"join {customers} c using (customer_id) where m.audience_name = 'big_sale' and m.exited_at is null "
        "order by m.customer_id"
    ).to_arrow_table()
    out.parent.mkdir(parents=True, exist_ok=True)
    pacsv.write_csv(table, out)
    con.close()
    return table.num_rows


def stages(report: SyncReport) -> str:
    """Wall and CPU seconds per stage of one export."""
    return ", ".join(f"{k} {v:.2f}/{report.cpu_seconds[k]:.2f} s" for k, v in report.seconds.items())


def reset_activation(lake: Lake) -> None:
    for table in (layout.ACTIVATION_DECISIONS, layout.ACTIVATION_SYNCS, layout.ACTIVATION_DELIVERIES):
        shutil.rmtree(lake.path(table), ignore_errors=True)
    shutil.rmtree(lake.exports_dir(), ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench-activation"))
    args = parser.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    lake = Lake(args.workdir / "lake")
    started = time.perf_counter()
    synthesise(lake, args.members, args.seed)
    print(f"synthesised {args.members:,} customers in {time.perf_counter() - started:.1f} s")
    rules = load_rules()
    # One untimed warm-up of each, so neither pays the first imports and the extension's first load.
    baseline(lake, args.workdir / "baseline" / "big_sale.csv")
    export_audience(lake, rules, "big_sale", FileDrop("files", lake.exports_dir() / "files"), send_time=SEND_AT)
    base_times, checked_times, base_cpu, checked_cpu = [], [], [], []
    report: SyncReport | None = None
    checked_reports: list[SyncReport] = []
    events_times: list[float] = []
    events_cpu: list[float] = []
    ranges, aside = lake.path(layout.CUSTOMER_CONSENT_RANGES), args.workdir / "ranges-aside"

    def events_gate() -> None:
        """The checked export with the consent gate over every event (the ranges moved aside), same decisions."""
        reset_activation(lake)
        ranges.rename(aside)
        try:
            started, cpu = time.perf_counter(), time.process_time()
            old = export_audience(lake, rules, "big_sale", FileDrop("files", lake.exports_dir() / "files"),
                                  send_time=SEND_AT)  # fmt: skip
            events_times.append(time.perf_counter() - started)
            events_cpu.append(time.process_time() - cpu)
        finally:
            aside.rename(ranges)
        print(f"checked, events gate {events_times[-1]:.2f} s / {events_cpu[-1]:.2f} s CPU ({stages(old)})")
        assert report is None or old.counts == report.counts, (old.counts, report.counts)

    for repeat in range(args.repeats):
        if repeat % 2 == 1:  # alternate which checked export runs first
            events_gate()
        # CPU seconds of every thread of this process (DuckDB's and the Delta writer's): on a shared machine the
        # wall time mostly measures the other work, the CPU time what each export costs.
        started, cpu = time.perf_counter(), time.process_time()
        rows = baseline(lake, args.workdir / "baseline" / "big_sale.csv")
        base_times.append(time.perf_counter() - started)
        base_cpu.append(time.process_time() - cpu)
        reset_activation(lake)
        started, cpu = time.perf_counter(), time.process_time()
        report = export_audience(
            lake, rules, "big_sale", FileDrop("files", lake.exports_dir() / "files"), send_time=SEND_AT
        )
        checked_times.append(time.perf_counter() - started)
        checked_cpu.append(time.process_time() - cpu)
        checked_reports.append(report)
        print(f"baseline {base_times[-1]:.2f} s / {base_cpu[-1]:.2f} s CPU ({rows:,} rows), "
              f"checked {checked_times[-1]:.2f} s / {checked_cpu[-1]:.2f} s CPU ({stages(report)})")  # fmt: skip
        if repeat % 2 == 0:
            events_gate()
    assert report is not None
    result = {
        "members": report.members,
        "sent": report.upserts,
        "counts": report.counts,
        "baseline_s": round(statistics.median(base_times), 2),
        "checked_s": round(statistics.median(checked_times), 2),
        "ratio": round(statistics.median(checked_times) / statistics.median(base_times), 2),
        "baseline_runs": [round(t, 2) for t in base_times],
        "checked_runs": [round(t, 2) for t in checked_times],
        "baseline_cpu_s": round(statistics.median(base_cpu), 2),
        "checked_cpu_s": round(statistics.median(checked_cpu), 2),
        "cpu_ratio": round(statistics.median(checked_cpu) / statistics.median(base_cpu), 2),
        "baseline_cpu_runs": [round(t, 2) for t in base_cpu],
        "checked_cpu_runs": [round(t, 2) for t in checked_cpu],
        # Per stage of the checked export (ranges gate), medians: wall and CPU seconds (the plan's CPU includes the
        # audit writer's, which runs beside it).
        "checked_stages": {
            stage: {
                "wall": round(statistics.median(r.seconds[stage] for r in checked_reports), 2),
                "cpu": round(statistics.median(r.cpu_seconds[stage] for r in checked_reports), 2),
            }
            for stage in report.seconds
        },
        "events_gate_s": round(statistics.median(events_times), 2),
        "events_gate_ratio": round(statistics.median(events_times) / statistics.median(base_times), 2),
        "events_gate_cpu_s": round(statistics.median(events_cpu), 2),
        "events_gate_cpu_ratio": round(statistics.median(events_cpu) / statistics.median(base_cpu), 2),
        "events_gate_runs": [round(t, 2) for t in events_times],
        "events_gate_cpu_runs": [round(t, 2) for t in events_cpu],
    }
    # Erasure of one person in the same lake (by customer id: the synthetic lake has no identifier graph).
    started = time.perf_counter()
    receipt = erase(lake, resolve(lake, customer_id="cus_00000042"), lookup="customer_id", run_by="benchmark")
    result["erasure"] = {
        "seconds": round(time.perf_counter() - started, 2),
        "tables": len(receipt.tables),
        "rows_deleted": receipt.rows_deleted,
        "old_files_removed": receipt.files_vacuumed,
        "export_files_rewritten": receipt.export_files_rewritten,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
