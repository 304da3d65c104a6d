"""Identity resolution against Splink 5 (DuckDB backend), side by side on the same person records, plus the same
cdp job on JVM Spark local mode. Prints a Markdown block for BENCHMARKS.md.

    .venv/bin/python benchmarks/identity_vs_splink.py --customers 2000 19000 190000 --jvm-customers 2000 \
        --workdir /tmp/bench-identity

(about 10.8k, 102k and 1.03M person records; JVM Spark only at the small size, it is about 40x slower). On a
machine shared with other work, ``--repeats 2`` runs each side twice per size in the order cdp, Splink, Splink,
cdp and reports the median time; each run's time and the machine's load average during it are listed.

Person records are the rows of the six person sources (crm_contacts, orders, pos_transactions, support_tickets,
survey_responses, consent_events; not events or messages_sent) that ``ingest`` accepted into bronze. Per size,
in one run on the same bronze tables, each side in its own process (peak RSS = the largest sum of resident memory
over the process and all its descendants, sampled every 0.1 s, or the process's own ``ru_maxrss`` if larger):

- ``cdp (Sail)``: ``resolve_identities`` on a fresh copy of the bronze lake, timed after a warm-up query (session
  start-up excluded), everything else included: reads, normalisation, stitching, EM training, scoring, stable ids,
  every output table written.
- ``Splink (DuckDB)``: from reading the bronze Delta tables to the clusters written as Parquet: build one table of
  person records cleaned with the project's own normalisers (email, phone, names, postcode) and blocked-values list,
  train (u by random sampling, lambda from deterministic rules, m by EM on two blocking rules), predict, cluster.
  Clustered at 0.9 and at 0.99 from one prediction at 0.9; the row reports the threshold with the better F1.
  Afterwards, untimed, the same model is clustered at 0.1, 0.3 and 0.5 to show how its calibration costs recall.
- ``cdp (JVM)``: the same job on JVM Spark local[2] with ``file_format="parquet"`` on Parquet copies of the bronze
  tables (no Delta jars offline), at the ``--jvm-customers`` sizes only; JVM start-up excluded.

Both answers are scored by ``spark_jobs.transforms.evaluation.evaluate`` against the generator's truth for the
records in bronze (``person_id`` as the entity). Records a side leaves unresolved count as singletons.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PERSON_SOURCES = (
    "crm_contacts",
    "orders",
    "pos_transactions",
    "support_tickets",
    "survey_responses",
    "consent_events",
)
COLUMNS = (
    "first_name",
    "last_name",
    "date_of_birth",
    "postcode",
    "city",
    "email",
    "phone",
    "customer_ref",
    "loyalty_card",
)
THRESHOLDS = (0.9, 0.99)
# Not timed, not the headline: the same model clustered at low thresholds, to show how much of Splink's recall is
# lost to its calibration on this data (a threshold picked with the truth is an upper bound, not a fair setting).
SENSITIVITY_THRESHOLDS = (0.1, 0.3, 0.5)


# --- data -------------------------------------------------------------------------------------------------------


def landing_for(workdir: Path, customers: int, seed: int) -> Path:
    from synthetic_data import generate

    landing = workdir / f"landing-{customers}-{seed}"
    if not (landing / "_ground_truth" / "record_truth.csv.gz").is_file():
        shutil.rmtree(landing, ignore_errors=True)
        generate(landing, customers, seed)
    return landing


def bronze_for(spark, workdir: Path, landing: Path, customers: int, seed: int) -> Path:
    """A lake holding only the bronze tables of the person sources (cached; copied before each run)."""
    from cdp.lake import Lake
    from ingest.job import run_ingest

    root = workdir / f"bronze-{customers}-{seed}"
    done = root / "_complete"
    if not done.exists():
        shutil.rmtree(root, ignore_errors=True)
        report = run_ingest(spark, Lake(root), landing, sources=list(PERSON_SOURCES))
        assert report.reconciles
        done.write_text("ok\n")
    return root


def bronze_tables(bronze_root: Path) -> dict:
    from deltalake import DeltaTable

    return {s: DeltaTable(str(bronze_root / "bronze" / s)).to_pyarrow_dataset().to_table() for s in PERSON_SOURCES}


def fresh_lake(bronze_root: Path, target: Path, file_format: str) -> None:
    """A lake with only the bronze tables: a Delta copy, or Parquet copies at the same paths (JVM Spark)."""
    import pyarrow.parquet as pq

    shutil.rmtree(target, ignore_errors=True)
    if file_format == "delta":
        shutil.copytree(bronze_root / "bronze", target / "bronze")
        return
    for source, table in bronze_tables(bronze_root).items():
        out = target / "bronze" / source
        out.mkdir(parents=True)
        pq.write_table(table, out / "part-0.parquet")


def truth_for(landing: Path, bronze_root: Path, out: Path) -> int:
    """The generator's truth for the person records in bronze, as Parquet (source, source_record_id, entity_id)."""
    import pandas as pd

    from spark_jobs.rules import load_rules

    rules = load_rules()
    truth = pd.read_csv(landing / "_ground_truth" / "record_truth.csv.gz", dtype=str)
    keys = pd.concat(
        [
            pd.DataFrame({"source": s, "source_record_id": t.column(rules.sources[s].record_id).to_pylist()})
            for s, t in bronze_tables(bronze_root).items()
        ]
    )
    truth = keys.merge(truth, on=["source", "source_record_id"], how="inner")
    if len(truth) != len(keys):
        raise RuntimeError(f"{len(keys) - len(truth)} bronze records have no ground truth")
    truth.rename(columns={"person_id": "entity_id"}).to_parquet(out, index=False)
    return len(truth)


# --- side A: the cdp job ------------------------------------------------------------------------------------------


def side_cdp(engine: str, lake_root: str, file_format: str) -> dict:
    from cdp.lake import Lake
    from cdp.settings import Settings
    from cdp.spark import get_spark
    from spark_jobs.jobs.resolve import resolve_identities
    from spark_jobs.rules import load_rules

    spark = get_spark(Settings(spark_engine=engine))
    spark.range(1).count()  # warm-up: session (and JVM) start-up is not part of the job
    rules = load_rules()
    start, cpu_start = time.perf_counter(), time.process_time()
    report = resolve_identities(spark, Lake(Path(lake_root)), rules, default_region="VN", file_format=file_format)
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "cpu_seconds": time.process_time() - cpu_start,  # every thread of the process (Sail runs in it)
        "steps": report.seconds,
        "cdp_records": report.records,
        "resolved_records": report.resolved_records,
        "cdp_customers": report.customers,
        "largest_customer": report.largest_customer,
        "candidate_pairs": report.candidate_pairs,
        "refused_links": report.refused_links,
        "conflicts": report.conflicts,
        "dropped_identifiers": report.dropped_identifiers,
        "model_trained": report.model_trained,
    }


# --- side B: Splink 5 on DuckDB -----------------------------------------------------------------------------------


def person_table(bronze_root: Path):
    """One row per person record, the same cleaned values the cdp job uses: its normalisers for email, phone,
    customer ref, loyalty card, names, city and postcode, and its blocked-values list (no degree guard, no
    conflict limits: those are the job's own logic). Null where a source lacks the field."""
    import inspect
    import re

    import pandas as pd

    from spark_jobs.normalise import fold_text, normalise_email, normalise_phone, normalise_postcode, normalise_token
    from spark_jobs.rules import load_rules

    rules = load_rules()
    blocked = {t: [re.compile(p) for p in ps] for t, ps in rules.blocked_values.items()}
    cache: dict[tuple, str | None] = {}
    takes_case = "case" in inspect.signature(normalise_token).parameters

    def token(raw: str, normaliser: str) -> str | None:
        case = normaliser.removeprefix("token").removeprefix("_") or "keep"  # token, token_upper, token_lower
        if takes_case:
            return normalise_token(raw, case=case)[0]
        return normalise_token(raw, upper=case == "upper")[0]  # the signature before ``case``

    def clean(kind: str, raw, hint=None) -> str | None:
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return None
        key = (kind, raw, hint)
        if key not in cache:
            if kind == "email":
                value = normalise_email(raw, rules.normalisation)[0]
            elif kind == "phone":
                value = normalise_phone(raw, hint, "VN", rules.normalisation)[0]
            elif kind in ("loyalty_card", "customer_ref"):
                value = token(raw, rules.identifier_types[kind].normaliser)
            elif kind == "postcode":
                value = normalise_postcode(raw)
            else:
                value = fold_text(raw)
            if value is not None and any(p.search(value) for p in blocked.get(kind, ())):
                value = None
            cache[key] = value
        return cache[key]

    frames = []
    for source, table in bronze_tables(bronze_root).items():
        spec = rules.sources[source]
        fields = {**{t: cols[0] for t, cols in spec.identifiers.items()}, **spec.attributes}
        n = table.num_rows
        record_ids = table.column(spec.record_id).to_pylist()
        hints = table.column(spec.phone_region).to_pylist() if spec.phone_region else [None] * n
        data = {"unique_id": [f"{source}:{r}" for r in record_ids]}
        for column in COLUMNS:
            expression = fields.get(column)
            if expression is None:
                data[column] = [None] * n
                continue
            if expression not in table.schema.names:
                raise ValueError(f"{source}.{column}: {expression!r} is not a plain bronze column")
            raw = table.column(expression).to_pylist()
            if column == "date_of_birth":
                data[column] = [d.isoformat() if d is not None else None for d in raw]
            elif column == "phone":
                data[column] = [clean("phone", v, h) for v, h in zip(raw, hints, strict=True)]
            else:
                data[column] = [clean(column, v) for v in raw]
        frames.append(pd.DataFrame(data))
    return pd.concat(frames, ignore_index=True)


def splink_settings():
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        probability_two_random_records_match=1e-4,  # re-estimated below
        blocking_rules_to_generate_predictions=[
            block_on("email"),
            block_on("phone"),
            block_on("customer_ref"),
            block_on("loyalty_card"),
            block_on("first_name", "last_name", "date_of_birth"),
            block_on("last_name", "postcode"),
        ],
        comparisons=[
            cl.ExactMatch("email"),
            cl.ExactMatch("phone"),
            cl.ExactMatch("customer_ref"),
            cl.ExactMatch("loyalty_card"),
            cl.NameComparison("first_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("last_name").configure(term_frequency_adjustments=True),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=True, datetime_format="%Y-%m-%d"),
            cl.ExactMatch("postcode"),
            cl.ExactMatch("city"),
        ],
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )


SPLINK_DETERMINISTIC_RULES = (("customer_ref",), ("loyalty_card",), ("email", "phone"))
SPLINK_DETERMINISTIC_RECALL = 0.7
SPLINK_EM_RULES = (("email",), ("phone",))
SPLINK_U_MAX_PAIRS = 1e7


def side_splink(bronze_root: str, out_dir: str, thresholds: list[float]) -> dict:
    import logging

    from splink import DuckDBAPI, Linker, block_on

    logging.getLogger("splink").setLevel(logging.WARNING)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    laps: dict[str, float] = {}
    start = clock = time.perf_counter()
    cpu_start = time.process_time()  # every thread of the process (DuckDB runs in it)

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        laps[step] = round(now - clock, 2)
        clock = now

    df = person_table(Path(bronze_root))
    lap("load_and_clean")
    db_api = DuckDBAPI()
    linker = Linker(db_api.register(df), splink_settings())
    linker.training.estimate_probability_two_random_records_match(
        [block_on(*r) for r in SPLINK_DETERMINISTIC_RULES], recall=SPLINK_DETERMINISTIC_RECALL
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=SPLINK_U_MAX_PAIRS, seed=1)
    for rule in SPLINK_EM_RULES:
        linker.training.estimate_parameters_using_expectation_maximisation(block_on(*rule))
    lap("train")
    predictions = linker.inference.predict(threshold_match_probability=min(thresholds))
    pairs = predictions.as_duckdbpyrelation().count("*").fetchone()[0]
    lap("predict")
    common = time.perf_counter() - start
    common_cpu = time.process_time() - cpu_start
    by_threshold = {}
    for threshold in thresholds:
        t0, cpu0 = time.perf_counter(), time.process_time()
        clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
            predictions, threshold_match_probability=threshold
        )
        path = out / f"clusters-{threshold}.parquet"
        clusters.as_duckdbpyrelation().select("unique_id, cluster_id").write_parquet(str(path))
        by_threshold[str(threshold)] = {
            "cluster_seconds": time.perf_counter() - t0,
            "cluster_cpu_seconds": time.process_time() - cpu0,
            "path": str(path),
        }
    model = linker.misc.save_model_to_json()
    # Untimed sensitivity check (see SENSITIVITY_THRESHOLDS).
    low = linker.inference.predict(threshold_match_probability=min(SENSITIVITY_THRESHOLDS))
    sensitivity = {}
    for threshold in SENSITIVITY_THRESHOLDS:
        clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
            low, threshold_match_probability=threshold
        )
        path = out / f"sensitivity-{threshold}.parquet"
        clusters.as_duckdbpyrelation().select("unique_id, cluster_id").write_parquet(str(path))
        sensitivity[str(threshold)] = str(path)
    return {
        "records": len(df),
        "pairs_scored_above_min_threshold": pairs,
        "common_seconds": common,
        "common_cpu_seconds": common_cpu,
        "steps": laps,
        "thresholds": by_threshold,
        "sensitivity": sensitivity,
        "probability_two_random_records_match": model.get("probability_two_random_records_match"),
    }


# --- running a side in its own process, with its peak memory --------------------------------------------------------


def _tree_rss(process) -> int:
    import psutil

    total = 0
    try:
        members = [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    for member in members:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += member.memory_info().rss
    return total


def run_side(workdir: Path, name: str, arguments: list[str]) -> dict:
    import psutil

    log = workdir / f"{name}.log"
    command = [sys.executable, __file__, *arguments]
    with open(log, "w") as stderr, open(workdir / f"{name}.out", "w+") as stdout:
        # PYTHONPATH: Python workers (JVM Spark) import this checkout's packages, not another one on sys.path.
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr, cwd=ROOT, env=env)
        watched = psutil.Process(process.pid)
        peak = 0
        loads: list[float] = []  # the machine's 1-minute load average, once a second: other work shares the cores
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak
            ticks = 0
            while not stop.is_set():
                peak = max(peak, _tree_rss(watched))
                if ticks % 10 == 0:
                    loads.append(os.getloadavg()[0])
                ticks += 1
                stop.wait(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = process.wait()
        stop.set()
        sampler.join()
        stdout.seek(0)
        text = stdout.read()
    if code != 0:
        tail = log.read_text()[-4000:]
        return {"failed": True, "returncode": code, "error": tail}
    result = json.loads(text.strip().splitlines()[-1])
    result["peak_rss_mb"] = max(peak, result.pop("self_maxrss_bytes", 0)) / 2**20
    result["load"] = {"min": min(loads), "mean": sum(loads) / len(loads), "max": max(loads)} if loads else None
    return result


def child_main(args: argparse.Namespace) -> None:
    if args.side == "cdp":
        result = side_cdp(args.engine, args.lake, args.format)
    else:
        result = side_splink(args.lake, args.out, args.thresholds)
    result["self_maxrss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps(result))


# --- accuracy -----------------------------------------------------------------------------------------------------


def accuracy(spark, truth_path: Path, predicted) -> dict:
    from dataclasses import asdict

    from spark_jobs.transforms.evaluation import evaluate

    truth = spark.read.parquet(str(truth_path))
    return asdict(evaluate(predicted, truth))


def cdp_predicted(spark, lake_root: Path, file_format: str):
    from cdp import lake as tables
    from cdp.lake import Lake

    path = Lake(lake_root).uri(tables.IDENTITY_MAP)
    return spark.read.format(file_format).load(path).select("source", "source_record_id", "customer_id")


def splink_predicted(spark, path: str):
    from pyspark.sql import functions as F

    clusters = spark.read.parquet(path)
    parts = F.split("unique_id", ":", 2)
    return clusters.select(
        parts[0].alias("source"), parts[1].alias("source_record_id"), F.col("cluster_id").alias("customer_id")
    )


# --- the benchmark ------------------------------------------------------------------------------------------------


def bench_size(spark, args, customers: int) -> list[dict]:
    workdir = args.workdir
    landing = landing_for(workdir, customers, args.seed)
    bronze_root = bronze_for(spark, workdir, landing, customers, args.seed)
    truth_path = workdir / f"truth-{customers}-{args.seed}.parquet"
    records = truth_for(landing, bronze_root, truth_path)
    tag = f"{customers}-{args.seed}"
    rows = []

    def row(engine: str, result: dict, predicted=None, **extra) -> dict:
        entry = {"customers": customers, "records": records, "engine": engine, **extra, **result}
        if not result.get("failed") and predicted is not None:
            distinct = predicted.select("source", "source_record_id").distinct().count()
            entry["predicted_rows"], entry["predicted_distinct_records"] = predicted.count(), distinct
            entry["accuracy"] = accuracy(spark, truth_path, predicted)
        rows.append(entry)
        print(json.dumps(entry, default=str), file=sys.stderr, flush=True)
        return entry

    # cdp on Sail and Splink on DuckDB, ``--repeats`` times each, alternating which goes first (cdp, Splink,
    # Splink, cdp, ...) so that load from other work falls on both sides alike; the median time is reported.
    lake = workdir / f"run-{tag}-sail"
    out = workdir / f"splink-{tag}"
    cdp_runs: list[dict] = []
    splink_runs: list[dict] = []
    for attempt in range(args.repeats):
        for side in ("cdp", "splink") if attempt % 2 == 0 else ("splink", "cdp"):
            if side == "cdp":
                fresh_lake(bronze_root, lake, "delta")
                command = ["--side", "cdp", "--engine", "sail", "--lake", str(lake)]
                cdp_runs.append(run_side(workdir, f"cdp-sail-{tag}-{attempt}", command))
            else:
                shutil.rmtree(out, ignore_errors=True)
                command = ["--side", "splink", "--lake", str(bronze_root), "--out", str(out)]
                command += ["--thresholds", *map(str, THRESHOLDS)]
                splink_runs.append(run_side(workdir, f"splink-{tag}-{attempt}", command))

    failed = next((r for r in cdp_runs if r.get("failed")), None)
    if failed:
        row("cdp (Sail)", failed)
    else:
        timed = _repeated(cdp_runs, [r["seconds"] for r in cdp_runs], [r["cpu_seconds"] for r in cdp_runs])
        row("cdp (Sail)", timed, cdp_predicted(spark, lake, "delta"))

    failed = next((r for r in splink_runs if r.get("failed")), None)
    if failed:
        row("Splink (DuckDB)", failed)
    else:
        result = splink_runs[-1]  # its outputs are the ones on disk
        sensitivity = {
            t: accuracy(spark, truth_path, splink_predicted(spark, path))["pairwise_f1"]
            for t, path in result.pop("sensitivity").items()
        }
        best = None
        for threshold, part in result.pop("thresholds").items():
            scored = accuracy(spark, truth_path, splink_predicted(spark, part["path"]))
            parts = [r["thresholds"][threshold] for r in splink_runs[:-1]] + [part]
            times = [r["common_seconds"] + t["cluster_seconds"] for r, t in zip(splink_runs, parts, strict=True)]
            cpus = [r["common_cpu_seconds"] + t["cluster_cpu_seconds"] for r, t in zip(splink_runs, parts, strict=True)]
            candidate = {**_repeated(splink_runs, times, cpus), "threshold": float(threshold), "accuracy": scored}
            print(json.dumps({"splink_threshold": threshold, **candidate}, default=str), file=sys.stderr)
            if best is None or scored["pairwise_f1"] > best["accuracy"]["pairwise_f1"]:
                best = candidate
            result.setdefault("by_threshold", {})[threshold] = {
                "seconds": candidate["seconds"],
                "pairwise_f1": scored["pairwise_f1"],
                "bcubed_f1": scored["bcubed_f1"],
            }
        assert best is not None
        best["by_threshold"] = result["by_threshold"]
        best["sensitivity_pairwise_f1"] = sensitivity
        rows.append({"customers": customers, "records": records, "engine": "Splink (DuckDB)", **best})

    # cdp on JVM Spark, Parquet copies of the same bronze tables
    if customers in (args.jvm_customers or []):
        lake = workdir / f"run-{tag}-jvm"
        fresh_lake(bronze_root, lake, "parquet")
        result = run_side(
            workdir,
            f"cdp-jvm-{tag}",
            ["--side", "cdp", "--engine", "jvm", "--lake", str(lake), "--format", "parquet"],
        )
        row("cdp (JVM local[2])", result, None if result.get("failed") else cdp_predicted(spark, lake, "parquet"))
    return rows


def _median(values: list[float]) -> float:
    ordered, middle = sorted(values), len(values) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def _repeated(runs: list[dict], seconds: list[float], cpu_seconds: list[float]) -> dict:
    """The last run's result with the median time and CPU time over all runs, and each run's times and load."""
    each = [
        {"seconds": t, "cpu_seconds": c, "load": r.get("load")}
        for t, c, r in zip(seconds, cpu_seconds, runs, strict=True)
    ]
    return {**runs[-1], "seconds": _median(seconds), "cpu_seconds": _median(cpu_seconds), "runs": each}


def code_state() -> str:
    """The commit measured, and whether the identity code had uncommitted changes."""

    def git(*arguments: str) -> str:
        run = subprocess.run(["git", *arguments], capture_output=True, text=True, cwd=ROOT)
        return run.stdout.strip() if run.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD")
    if not commit:
        return "code: not a git checkout"
    dirty = git("status", "--porcelain", "--", "spark_jobs", "cdp", "ingest")
    return f"code: commit {commit}" + (" with uncommitted changes under spark_jobs/cdp/ingest" if dirty else "")


def markdown(rows: list[dict], command: str, state: str) -> str:
    lines = [
        f"Machine: {os.cpu_count()} cores; {state}. Command:",
        "",
        "```bash",
        command,
        "```",
        "",
        "| person records | engine | seconds | CPU seconds | records/s | peak RSS MB | pairwise P | pairwise R "
        "| pairwise F1 | B-cubed F1 | throughput vs Splink |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    splink = {r["records"]: r for r in rows if r["engine"].startswith("Splink") and not r.get("failed")}
    for r in rows:
        if r.get("failed"):
            lines.append(f"| {r['records']:,} | {r['engine']} | failed (exit {r['returncode']}) | | | | | | | | |")
            continue
        a = r["accuracy"]
        rate = r["records"] / r["seconds"]
        base = splink.get(r["records"])
        ratio = f"{rate / (base['records'] / base['seconds']):.2f}x" if base else "n/a"
        engine = r["engine"] + (f", threshold {r['threshold']}" if "threshold" in r else "")
        cpu = f"{r['cpu_seconds']:.1f}" if "cpu_seconds" in r else ""
        lines.append(
            f"| {r['records']:,} | {engine} | {r['seconds']:.1f} | {cpu} | {rate:,.0f} | {r['peak_rss_mb']:,.0f} | "
            f"{a['pairwise_precision']:.4f} | {a['pairwise_recall']:.4f} | {a['pairwise_f1']:.4f} | "
            f"{a['bcubed_f1']:.4f} | {ratio} |"
        )
    lines.append("")
    for r in rows:
        runs = r.get("runs") or ([{"seconds": r["seconds"], "load": r["load"]}] if r.get("load") else [])
        if r.get("failed"):
            continue
        if runs:
            each = "; ".join(
                f"{run['seconds']:.1f} s"
                + (f" (CPU {run['cpu_seconds']:.1f} s)" if "cpu_seconds" in run else "")
                + f" at load {run['load']['mean']:.1f} ({run['load']['min']:.1f}-{run['load']['max']:.1f})"
                for run in runs
                if run.get("load")
            )
            median = " (median shown)" if len(runs) > 1 else ""
            lines.append(
                f"- {r['records']:,} records, {r['engine']}: {each}{median}; load = the machine's 1-minute load "
                f"average during the run, {os.cpu_count()} cores."
            )
    for r in rows:
        if r.get("failed"):
            lines.append(f"- {r['records']:,} records, {r['engine']} failed: {r['error'].strip().splitlines()[-1]}")
        elif r["engine"].startswith("cdp"):
            lines.append(
                f"- {r['records']:,} records, {r['engine']}: steps {r['steps']}; {r['candidate_pairs']:,} candidate "
                f"pairs; {r['resolved_records']:,} records resolved to {r['cdp_customers']:,} customers."
            )
        else:
            others = ", ".join(f"{t}: F1 {v['pairwise_f1']:.4f}" for t, v in r["by_threshold"].items())
            low = ", ".join(f"{t}: {f1:.4f}" for t, f1 in r["sensitivity_pairwise_f1"].items())
            lines.append(
                f"- {r['records']:,} records, {r['engine']}: steps {r['steps']}; "
                f"{r['pairs_scored_above_min_threshold']:,} pairs at >= {min(THRESHOLDS)}; by threshold {others}; "
                f"lambda {r['probability_two_random_records_match']:.3g}. Untimed, same model, pairwise F1 at "
                f"lower thresholds {low}."
            )
    for records in sorted({r["records"] for r in rows}):
        sail = next((r for r in rows if r["records"] == records and r["engine"] == "cdp (Sail)"), None)
        jvm = next((r for r in rows if r["records"] == records and r["engine"].startswith("cdp (JVM")), None)
        if sail and jvm and not sail.get("failed") and not jvm.get("failed"):
            lines.append(
                f"- {records:,} records, cdp job: Sail {sail['seconds']:.1f} s, JVM local[2] {jvm['seconds']:.1f} s: "
                f"JVM takes {jvm['seconds'] / sail['seconds']:.1f}x the Sail time (Sail/JVM = "
                f"{sail['seconds'] / jvm['seconds']:.2f})."
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, nargs="+", default=[19_000])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench-identity"))
    parser.add_argument(
        "--jvm-customers", type=int, nargs="*", help="sizes at which to also run JVM Spark (default: the smallest)"
    )
    parser.add_argument("--no-jvm", action="store_true")
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="runs of cdp (Sail) and Splink per size, alternating which goes first; the median time is shown",
    )
    parser.add_argument("--side", choices=["cdp", "splink"], help=argparse.SUPPRESS)
    parser.add_argument("--engine", default="sail", help=argparse.SUPPRESS)
    parser.add_argument("--lake", help=argparse.SUPPRESS)
    parser.add_argument("--format", default="delta", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--thresholds", type=float, nargs="+", default=list(THRESHOLDS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        child_main(args)
        return
    if args.no_jvm:
        args.jvm_customers = []
    elif args.jvm_customers is None:
        args.jvm_customers = [min(args.customers)]
    args.workdir.mkdir(parents=True, exist_ok=True)

    from cdp.settings import Settings
    from cdp.spark import get_spark

    spark = get_spark(Settings())
    rows = []
    for customers in args.customers:
        rows.extend(bench_size(spark, args, customers))
    out = args.workdir / "results.json"
    out.write_text(json.dumps(rows, indent=2, default=str))
    print(json.dumps(rows, indent=2, default=str))
    print()
    command = " ".join([".venv/bin/python", "benchmarks/identity_vs_splink.py", *sys.argv[1:]])
    print(markdown(rows, command, code_state()))


if __name__ == "__main__":
    main()
