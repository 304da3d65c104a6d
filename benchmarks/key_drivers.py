"""CX key drivers: the analysis (cx/key_drivers.py) on the survey responses of N generated customers, next to a plain
OLS fit of the same scores on the same drivers, in one run.

    .venv/bin/python benchmarks/key_drivers.py --customers 100000 --replicates 200 --workdir /tmp/bench-key-drivers

The landing zone is generated once into the work folder (re-used when its planted.json says the same customers and
seed). Timed, per survey type and in total, median of ``--repeats``:

- baseline: one OLS fit of the score on the design matrix (numpy least squares), what a plain regression costs;
- point: the analysis without intervals (interval regression + PMVD and LMG over every driver subset);
- full: the analysis with ``--replicates`` bootstrap resamples (what the dbt model runs).

Reading the landing files and building the driver matrix are timed once, apart. Load (``uptime``) is printed before
and after: the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import time
from pathlib import Path

import numpy as np

from cx.key_driver_landing import load_landing_inputs
from cx.key_drivers import SURVEY_TYPES, AnalysisSettings, analyse_drivers, build_driver_matrix, design_matrix
from synthetic_data import generate
from synthetic_data.schema import TRUTH_DIR


def landing_zone(workdir: Path, customers: int, seed: int) -> Path:
    landing = workdir / f"landing-{customers}-{seed}"
    planted = landing / TRUTH_DIR / "planted.json"
    if planted.is_file():
        generator = json.loads(planted.read_text(encoding="utf-8"))["generator"]
        if generator["customers"] == customers and generator["seed"] == seed:
            return landing
    started = time.perf_counter()
    generate(landing, customers, seed=seed)
    print(f"generated {customers:,} customers in {time.perf_counter() - started:.0f} s")
    return landing


def ols_baseline(rows) -> None:
    usable = rows[rows["excluded"].isna()]
    x, _ = design_matrix(usable)
    design = np.column_stack([np.ones(len(usable)), x])
    np.linalg.lstsq(design, usable["score"].to_numpy(float), rcond=None)


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--replicates", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3, help="runs of the baseline and point fits (median)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench-key-drivers"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)

    print("load before:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    print(f"cpus: {os.cpu_count()}")
    landing = landing_zone(args.workdir, args.customers, args.seed)

    started = time.perf_counter()
    inputs = load_landing_inputs(landing)
    read_s = time.perf_counter() - started
    started = time.perf_counter()
    matrix = build_driver_matrix(*inputs)
    matrix_s = time.perf_counter() - started
    print(f"read landing files {read_s:.1f} s; driver matrix {matrix_s:.2f} s for {len(matrix):,} responses")

    point_settings = AnalysisSettings(replicates=0)
    full_settings = AnalysisSettings(replicates=args.replicates)
    header = f"{'survey':6} {'responses':>9} {'OLS s':>8} {'point s':>8} {'x OLS':>7} {'full s':>8} {'x OLS':>8}"
    print(header)
    totals = {"ols": 0.0, "point": 0.0, "full": 0.0}
    for survey_type in SURVEY_TYPES:
        rows = matrix[matrix["survey_type"] == survey_type]
        used = int(rows["excluded"].isna().sum())
        ols_s = timed(lambda rows=rows: ols_baseline(rows), args.repeats)
        point_s = timed(lambda rows=rows, s=survey_type: analyse_drivers(rows, s, point_settings), args.repeats)
        started = time.perf_counter()
        table = analyse_drivers(rows, survey_type, full_settings)
        full_s = time.perf_counter() - started
        totals["ols"] += ols_s
        totals["point"] += point_s
        totals["full"] += full_s
        print(f"{survey_type:6} {used:>9,} {ols_s:>8.3f} {point_s:>8.2f} {point_s / ols_s:>7.0f} {full_s:>8.1f} "
              f"{full_s / ols_s:>8.0f}")  # fmt: skip
        top = table.sort_values("importance_rank").head(3)
        print("        top:", ", ".join(f"{r.driver} {r.importance:.3f}" for r in top.itertuples()))
    ols, point, full = totals["ols"], totals["point"], totals["full"]
    n = len(matrix)
    print(f"{'total':6} {n:>9,} {ols:>8.3f} {point:>8.2f} {point / ols:>7.0f} {full:>8.1f} {full / ols:>8.0f}")
    print(f"bootstrap: {args.replicates} replicates, {totals['full'] / max(args.replicates, 1) * 1000:.0f} ms each "
          "(all survey types)")  # fmt: skip
    print(f"peak memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    print("load after:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
