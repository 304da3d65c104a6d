"""Generator scale: wall time and peak memory (RSS) of ``cdp generate`` as the number of customers grows.

    .venv/bin/python benchmarks/generator_scale.py --customers 100000 1000000

Each size runs in its own process, so its peak RSS is its own (``ru_maxrss`` of the child). Memory must stay flat
as N grows: the generator streams chunks of customers to rotating files.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def measure(customers: int, seed: int, out: Path) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    code = (
        "import json, sys; from pathlib import Path; from synthetic_data import generate; "
        f"s = generate(Path({str(out)!r}), {customers}, {seed}); "
        "print(json.dumps({'rows': s.rows, 'files': s.files}))"
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {
        "customers": customers,
        "seconds": elapsed,
        "peak_rss_mb": max(peak_kb, before) / 1024,
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
    for n in sorted(args.customers):  # smallest first: ru_maxrss of children is a running maximum
        results.append(measure(n, args.seed, args.workdir / f"generated-{n}"))
        print(json.dumps(results[-1]), flush=True)
    print("\n| customers | rows (all sources) | time | rows/s | peak RSS | on disk |\n|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['customers']:,} | {r['rows']:,} | {r['seconds']:.0f} s | {r['rows'] / r['seconds']:,.0f} | "
            f"{r['peak_rss_mb']:.0f} MB | {r['bytes_on_disk'] / 2**20:,.0f} MiB |"
        )


if __name__ == "__main__":
    main()
