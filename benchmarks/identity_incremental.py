"""Identity resolution: an incremental run after 1% new records against a full run, in one process. Prints Markdown.

    .venv/bin/python benchmarks/identity_incremental.py --customers 19000 --workdir /tmp/bench-identity

The person records (bronze rows of the six person sources, generated with seed 42 and ingested, as in
``identity_vs_splink.py``, whose cached landing and bronze lake this script re-uses) are split by a hash of their
record id: 1% are held back (``--share 0.001``: 0.1%, to see how the incremental run's cost grows with the
batch). Then, on one warm Sail session:

1. ``full, first run``: ``resolve_identities`` on the other 99% (trains the model, records the bronze watermark);
2. the held-back rows are appended to bronze as a new ingest run (``_ingest_run_id`` = ``bench-new-rows``);
3. ``full, same data``: a copy of that lake resolved with ``mode="full"`` (re-uses the saved model): the baseline;
4. ``incremental``: the lake resolved with ``mode="incremental"``; with several ``--local-scope-max-records``, once
   per limit, each on its own copy of the lake as it was before (how large a scope is stitched on the driver).

The ratio is (4) over (3); "scope passes" is how many times the incremental run resolved its scope (more than 1:
a new probabilistic link reached a customer outside it, and the scope was widened). Both answers are compared
record by record: same partition, same ids for the records whose id existed before.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.identity_vs_splink import (  # noqa: E402
    PERSON_SOURCES,
    bronze_for,
    code_state,
    landing_for,
)

NEW_RUN = "bench-new-rows"


def split_bronze(bronze_root: Path, lake_root: Path, share: float) -> dict:
    """Copy the bronze tables to ``lake_root`` without the held-back rows; return those rows per source."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from deltalake import DeltaTable, write_deltalake

    from spark_jobs.rules import load_rules

    rules = load_rules()
    shutil.rmtree(lake_root, ignore_errors=True)
    held = {}
    buckets = round(1 / share)
    for source in PERSON_SOURCES:
        table = DeltaTable(str(bronze_root / "bronze" / source)).to_pyarrow_table()
        ids = table.column(rules.sources[source].record_id).to_pylist()
        new = pa.array([zlib.crc32(str(i).encode()) % buckets == 0 for i in ids])
        write_deltalake(str(lake_root / "bronze" / source), table.filter(pc.invert(new)))
        rows = table.filter(new)
        held[source] = rows.set_column(
            rows.schema.get_field_index("_ingest_run_id"), "_ingest_run_id", pa.array([NEW_RUN] * rows.num_rows)
        )
    return held


def identity_map(lake_root: Path) -> dict[str, str]:
    from cdp.maintenance import read_arrow

    rows = read_arrow(str(lake_root / "gold" / "identity_map"), ["source", "source_record_id", "customer_id"])
    return {
        f"{s}:{r}": c
        for s, r, c in zip(
            *(rows.column(n).to_pylist() for n in ("source", "source_record_id", "customer_id")), strict=True
        )
    }


def partition(found: dict[str, str]) -> set[frozenset[str]]:
    groups: dict[str, set[str]] = {}
    for record, customer in found.items():
        groups.setdefault(customer, set()).add(record)
    return {frozenset(g) for g in groups.values()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=19000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--share", type=float, default=0.01, help="share of person records that arrive later")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench-identity"))
    parser.add_argument(
        "--local-scope-max-records",
        type=int,
        nargs="+",
        default=[200_000],
        help="driver-stitching limits to compare: one incremental run per value, each on its own copy of the lake",
    )
    args = parser.parse_args()

    from deltalake import write_deltalake

    from cdp.lake import Lake
    from cdp.settings import Settings
    from cdp.spark import get_spark
    from spark_jobs.jobs.resolve import resolve_identities
    from spark_jobs.rules import load_rules

    spark = get_spark(Settings())
    args.workdir.mkdir(parents=True, exist_ok=True)
    landing = landing_for(args.workdir, args.customers, args.seed)
    bronze_root = bronze_for(spark, args.workdir, landing, args.customers, args.seed)
    lake_root, twin_root = args.workdir / "incremental-lake", args.workdir / "incremental-twin"
    held = split_bronze(bronze_root, lake_root, args.share)
    rules = load_rules()
    spark.range(1).count()  # warm-up: session start-up is not part of any run

    rows = []

    def timed(label: str, root: Path, **kwargs) -> None:
        load_before = os.getloadavg()[0]
        start = time.perf_counter()
        report = resolve_identities(spark, Lake(root), rules, default_region="VN", **kwargs)
        seconds = time.perf_counter() - start
        rows.append(
            {
                "run": label,
                "seconds": seconds,
                "mode": report.mode,
                "records": report.records,
                "new": report.new_records,
                "scope": report.scope_records,
                "passes": report.scope_passes,
                "customers": report.customers,
                "steps": report.seconds,
                "load": f"{load_before:.2f} / {os.getloadavg()[0]:.2f}",
            }
        )
        print(
            f"{label}: {seconds:.1f} s, {report.mode}, scope {report.scope_records:,} in {report.scope_passes} passes",
            file=sys.stderr,
        )

    held_percent = f"{args.share * 100:g}%"  # the labels name the share: 1% by default
    timed(f"full, first run ({100 - args.share * 100:g}%)", lake_root, mode="full")
    for source, table in held.items():
        write_deltalake(str(lake_root / "bronze" / source), table, mode="append")
    new_records = sum(t.num_rows for t in held.values())
    shutil.rmtree(twin_root, ignore_errors=True)
    shutil.copytree(lake_root, twin_root)
    limits, copies = args.local_scope_max_records, [lake_root]
    for limit in limits[1:]:  # the same lake before its incremental run, once per further limit
        copy = args.workdir / f"incremental-lake-{limit}"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(lake_root, copy)
        copies.append(copy)
    timed("full, same data (100%)", twin_root, mode="full")
    for limit, root in zip(limits, copies, strict=True):
        label = f"incremental (+{held_percent})" + (f", driver limit {limit:,}" if len(limits) > 1 else "")
        timed(label, root, mode="incremental", local_scope_max_records=limit)

    reference = identity_map(twin_root)
    after = identity_map(lake_root)
    same_partition = partition(after) == partition(reference)
    differing = sum(1 for k, v in after.items() if reference.get(k) != v)
    for root in copies[1:]:  # every limit must give the same answer
        other = identity_map(root)
        same_partition &= partition(other) == partition(reference)
        differing += sum(1 for k, v in other.items() if reference.get(k) != v)

    full = rows[1]["seconds"]
    print(f"## Identity: incremental run ({args.customers:,} customers, {new_records:,} new bronze rows)\n")
    print("```bash")
    print(" ".join(["$", ".venv/bin/python", *sys.argv]))
    print("```\n")
    print(f"{code_state()}; {os.cpu_count()} cores; load average (1 min) before / after each run.\n")
    print(
        "| run | mode | seconds | records | new records | records resolved (scope) | scope passes | customers | load "
        "| steps (s) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        steps = ", ".join(f"{k} {v}" for k, v in r["steps"].items())
        print(
            f"| {r['run']} | {r['mode']} | {r['seconds']:.1f} | {r['records']:,} | {r['new']:,} | {r['scope']:,} | "
            f"{r['passes']} | {r['customers']:,} | {r['load']} | {steps} |"
        )
    for r in rows[2:]:
        print(f"\n{r['run']} / full on the same data: **{r['seconds'] / full:.2f}**")
    print(
        f"\nsame partition as the full run: {same_partition}; records with another customer_id than in the full run: "
        f"{differing:,} of {len(after):,} (new ids that clash with an earlier one are salted with the run id)"
    )


if __name__ == "__main__":
    main()
