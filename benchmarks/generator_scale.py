"""Generator scale: wall time and peak memory (RSS) of ``cdp generate`` as the number of customers grows.

    .venv/bin/python benchmarks/generator_scale.py --customers 100000 1000000

Each size runs in its own process; its memory is sampled every 0.2 s, for the main process and for the whole
process tree (the generator renders chunks in worker processes). Memory must stay flat as N grows: the generator
streams chunks of customers to rotating files.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent


def _tree_rss(process: psutil.Process) -> int:
    total = 0
    for proc in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):  # a worker that just finished
            total += proc.memory_info().rss
    return total


def measure(customers: int, seed: int, out: Path) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    code = (
        "import json, sys; from pathlib import Path; from synthetic_data import generate\n"
        "if __name__ == '__main__':\n"
        f"    s = generate(Path({str(out)!r}), {customers}, {seed})\n"
        "    print(json.dumps({'rows': s.rows, 'files': s.files}))\n"
    )
    start = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT
    )
    watched = psutil.Process(child.pid)
    peak_total = peak_main = 0
    while child.poll() is None:  # sample the whole process tree: the generator renders chunks in worker processes
        try:
            peak_main = max(peak_main, watched.memory_info().rss)
            peak_total = max(peak_total, _tree_rss(watched))
        except psutil.NoSuchProcess:
            break
        time.sleep(0.2)
    stdout, stderr = child.communicate()
    elapsed = time.perf_counter() - start
    if child.returncode != 0:
        raise RuntimeError(stderr[-3000:])
    summary = json.loads(stdout.strip().splitlines()[-1])
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {
        "customers": customers,
        "seconds": elapsed,
        "peak_rss_main_mb": peak_main / 2**20,
        "peak_rss_all_processes_mb": peak_total / 2**20,
        "rows": sum(summary["rows"].values()),
        "rows_by_source": summary["rows"],
        "bytes_on_disk": size,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", type=Path, default=ROOT / "data" / "bench")
    args = parser.parse_args()
    results = []
    for n in sorted(args.customers):
        results.append(measure(n, args.seed, args.workdir / f"generated-{n}"))
        print(json.dumps(results[-1]), flush=True)
    print(
        "\n| customers | rows (all sources) | time | rows/s | peak RSS main | peak RSS all processes | on disk |"
        "\n|---|---|---|---|---|---|---|"
    )
    for r in results:
        print(
            f"| {r['customers']:,} | {r['rows']:,} | {r['seconds']:.0f} s | {r['rows'] / r['seconds']:,.0f} | "
            f"{r['peak_rss_main_mb']:.0f} MB | {r['peak_rss_all_processes_mb']:.0f} MB | "
            f"{r['bytes_on_disk'] / 2**20:,.0f} MiB |"
        )


if __name__ == "__main__":
    main()
