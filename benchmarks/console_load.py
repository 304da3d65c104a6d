"""CX console under load: page latency for N concurrent logged-in users against `cdp serve`, next to the profile API's
``GET /v1/health`` under the same concurrency in the same run (the floor: routing, one online-store read).

    .venv/bin/python benchmarks/console_load.py --lake data/lake --users 20 --requests 50

The lake must be built (`cdp demo` or `cdp run`). The script starts `cdp serve` in its own process on a free port
with one console user per role (hashes made here), then runs, each with ``--users`` concurrent clients (httpx,
asyncio, keep-alive): a warm-up round, the floor, the console pages, the floor again. Each console user logs in
through the form and then cycles over its role's pages (executive: metrics, drivers, journeys, segments; analyst:
metrics, verbatims; agent: queue and a case page; marketer: audiences and an audience's dry run; admin: users,
metrics). Prints Markdown for BENCHMARKS.md with p50/p95/p99 per page, overall, and the machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from console.access import ROLES  # noqa: E402
from console.users import hash_password  # noqa: E402

PAGES: dict[str, list[str]] = {
    "executive": ["/console/metrics", "/console/drivers", "/console/journeys", "/console/segments"],
    "cx_analyst": ["/console/metrics", "/console/verbatims"],
    "agent": ["/console/cases", "{case}"],
    "marketer": ["/console/audiences", "{audience}"],
    "admin": ["/console/users", "/console/metrics"],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


async def login(client: httpx.AsyncClient, role: str) -> None:
    page = await client.get("/console/login")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    answer = await client.post(
        "/console/login", data={"username": role, "password": f"bench-{role}-pw", "csrf_token": token}
    )
    if answer.status_code != 303:
        raise SystemExit(f"login as {role} failed: {answer.status_code}")


async def resolve_placeholders(base: str) -> dict[str, str]:
    """A case page and an audience page to load (the first case in the queue, the first audience)."""
    async with httpx.AsyncClient(base_url=base) as client:
        await login(client, "admin")
        cases = (await client.get("/console/api/cases")).json().get("cases") or []
        audiences = (await client.get("/console/api/audiences")).json()["audiences"]
    found = {}
    if cases:
        found["{case}"] = f"/console/cases/{cases[0]['case_id']}"
    if audiences:
        found["{audience}"] = f"/console/audiences/{audiences[0]['audience_name']}"
    return found


async def console_user(base: str, role: str, paths: list[str], requests: int, timings: dict[str, list[float]]) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=600) as client:
        await login(client, role)
        for i in range(requests):
            path = paths[i % len(paths)]
            started = time.perf_counter()
            answer = await client.get(path)
            elapsed = time.perf_counter() - started
            if answer.status_code != 200:
                raise SystemExit(f"{role} {path}: {answer.status_code} {answer.text[:200]}")
            timings.setdefault(path, []).append(elapsed)


async def health_user(base: str, requests: int, timings: list[float]) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=600) as client:
        for _ in range(requests):
            started = time.perf_counter()
            answer = await client.get("/v1/health")
            timings.append(time.perf_counter() - started)
            if answer.status_code != 200:
                raise SystemExit(f"/v1/health: {answer.status_code} {answer.text[:200]} (materialise the features)")


async def console_round(base: str, users: int, requests: int, placeholders: dict[str, str]) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {}
    tasks = []
    for i in range(users):
        role = ROLES[i % len(ROLES)]
        paths = [placeholders.get(p, p) for p in PAGES[role] if p in placeholders or not p.startswith("{")]
        tasks.append(console_user(base, role, paths, requests, timings))
    await asyncio.gather(*tasks)
    return timings


async def health_round(base: str, users: int, requests: int) -> list[float]:
    timings: list[float] = []
    await asyncio.gather(*(health_user(base, requests, timings) for _ in range(users)))
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lake", type=Path, required=True, help="A built lake (cdp demo / cdp run).")
    parser.add_argument("--users", type=int, default=20, help="Concurrent users.")
    parser.add_argument("--requests", type=int, default=50, help="Requests per user per round.")
    args = parser.parse_args()

    users = {role: {"role": role, "password_hash": hash_password(f"bench-{role}-pw")} for role in ROLES}
    port = free_port()
    env = {**os.environ, "CDP_CONSOLE_USERS": json.dumps(users), "CDP_CONSOLE_SESSION_SECRET": os.urandom(24).hex()}
    server = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "cdp"), "serve", "--lake", str(args.lake), "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{base}/console/login", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"cdp serve did not start: {server.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            time.sleep(0.5)
        placeholders = asyncio.run(resolve_placeholders(base))
        asyncio.run(console_round(base, args.users, 2, placeholders))  # warm-up: caches and charts drawn once
        asyncio.run(health_round(base, args.users, 5))
        load_before = load()
        floor = asyncio.run(health_round(base, args.users, args.requests))
        started = time.perf_counter()
        pages = asyncio.run(console_round(base, args.users, args.requests, placeholders))
        console_seconds = time.perf_counter() - started
        floor += asyncio.run(health_round(base, args.users, args.requests))
        load_after = load()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    every = [t for values in pages.values() for t in values]
    print(f"{args.users} concurrent users, {args.requests} requests each per round; lake {args.lake}")
    print(f"load average before: {load_before}; after: {load_after}\n")
    print("| what | requests | p50 ms | p95 ms | p99 ms |")
    print("|---|---|---|---|---|")
    for path, values in sorted(pages.items()):
        name = path.rsplit("/", 1)[0] + "/{id}" if path.count("/") > 2 else path
        print(
            f"| `{name}` | {len(values)} | {statistics.median(values) * 1e3:.0f} | "
            f"{percentile(values, 95) * 1e3:.0f} | {percentile(values, 99) * 1e3:.0f} |"
        )
    print(
        f"| **all console pages** | {len(every)} | {statistics.median(every) * 1e3:.0f} | "
        f"{percentile(every, 95) * 1e3:.0f} | {percentile(every, 99) * 1e3:.0f} |"
    )
    print(
        f"| `/v1/health` (floor) | {len(floor)} | {statistics.median(floor) * 1e3:.0f} | "
        f"{percentile(floor, 95) * 1e3:.0f} | {percentile(floor, 99) * 1e3:.0f} |"
    )
    print(
        f"\np95 ratio console / floor: {percentile(every, 95) / percentile(floor, 95):.1f}x; "
        f"console throughput {len(every) / console_seconds:.0f} pages/s"
    )


if __name__ == "__main__":
    main()
