"""Build the marts: make sure every source table exists, compile the audiences, and run dbt (dbt-duckdb) in-process.

Entry points (``cdp build``, the Dagster assets) call :func:`build_marts`; dbt itself can also be run by hand from
``dbt_project/`` with ``CDP_LAKE_ROOT`` set (after ``cdp audience compile``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from cdp import lake as layout
from cdp.lake import Lake
from marts import build_state
from marts.audiences import DBT_PROJECT, compile_audiences
from marts.run_vars import AS_OF_ENV, CLV_REFIT_ENV
from marts.schedule import build_order, record_node_seconds
from marts.source_tables import ensure_source_tables

if TYPE_CHECKING:
    from dbt.contracts.graph.manifest import Manifest


class BuildFailed(RuntimeError):
    pass


@dataclass
class BuildReport:
    as_of: datetime
    audiences: list[str]
    created_source_tables: list[str]
    results: list[tuple[str, str, float]] = field(default_factory=list)  # (node, status, seconds)
    plan: str = ""  # what the build left out and why (marts/build_state.py)
    refreshed_seeds: list[str] = field(default_factory=list)  # changed seeds whose descendants were rebuilt

    @property
    def failures(self) -> list[str]:
        return [node for node, status, _ in self.results if status not in ("success", "pass")]


def dbt_vars(lake: Lake, extra_vars: dict | None = None) -> str:
    """The ``--vars`` of every dbt invocation of this lake: only the lake root, the same on every build. dbt
    re-parses the whole project when the vars change, so as_of and clv_refit travel as environment variables
    (:func:`lake_environment`, marts/run_vars.py)."""
    return json.dumps({"lake_root": str(lake.root), **(extra_vars or {})})


def dbt_args(lake: Lake, env: str, extra_vars: dict | None = None) -> list[str]:
    """The flags every dbt invocation of this lake takes (project, profile, target, working folders, vars)."""
    work = lake.marts_dir()
    return [
        "--project-dir", str(DBT_PROJECT),
        "--profiles-dir", str(DBT_PROJECT),
        "--target", env,
        "--target-path", str(work / "target"),
        "--log-path", str(work / "logs"),
        "--vars", dbt_vars(lake, extra_vars),
    ]  # fmt: skip


@contextmanager
def lake_environment(lake: Lake, env: str, *, as_of: datetime | None = None, clv_refit: bool = False) -> Iterator[None]:
    """The environment of one dbt run: profiles.yml reads the lake root and target (the DuckDB file lives under the
    lake), the lake plugin the run's as_of and clv_refit. Restored afterwards for the caller."""
    values = {"CDP_LAKE_ROOT": str(lake.root), "CDP_ENV": env, CLV_REFIT_ENV: "true" if clv_refit else ""}
    if as_of is not None:
        values[AS_OF_ENV] = as_of.isoformat()
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def latest_as_of(lake: Lake) -> datetime | None:
    """The as_of of the newest snapshot in the trait history, or None before the first build."""
    if not lake.exists(layout.CUSTOMER_TRAIT_HISTORY):
        return None
    import pyarrow as pa
    import pyarrow.compute as pc
    from deltalake import DeltaTable

    table = DeltaTable(lake.uri(layout.CUSTOMER_TRAIT_HISTORY))
    # Not every snapshot's rows: the files' statistics (one row per file) bound the newest as_of from below
    # (Delta may truncate a timestamp statistic), and only the rows at or after that bound are read.
    files = pa.table(table.get_add_actions(flatten=True))
    newest = None
    if files.num_rows and "max.as_of" in files.column_names and files["max.as_of"].null_count == 0:
        newest = pc.max(files["max.as_of"])
    dataset = table.to_pyarrow_dataset()
    rows = dataset.to_table(columns=["as_of"], filter=None if newest is None else pc.field("as_of") >= newest)
    return pc.max(rows.column(0)).as_py() if rows.num_rows else None


def prepare(lake: Lake) -> tuple[list[str], list[str]]:
    """Source tables and generated audience models, before any dbt command; returns (created tables, audiences)."""
    lake.marts_dir().mkdir(parents=True, exist_ok=True)
    created = [t.qualified_name for t in ensure_source_tables(lake)]
    audiences = [a.name for a in compile_audiences()]
    return created, audiences


def run_dbt(
    lake: Lake,
    command: list[str],
    *,
    as_of: datetime,
    env: str = "local",
    clv_refit: bool = False,
    extra_vars: dict | None = None,
    progress: Callable[[str, str], None] | None = None,
    manifest: Manifest | None = None,
    write_json: bool = True,
    order_by_longest_path: bool = True,
) -> list[tuple[str, str, float]]:
    """Run one dbt command (e.g. ``["build"]``) against ``lake``; raise BuildFailed naming the failed nodes.
    ``manifest``: dbt's graph parsed by :func:`parse_project` for this run. ``write_json`` False: dbt parses (only
    what changed) and writes no ``manifest.json``. Either way ``run_results.json`` is written.
    ``order_by_longest_path``: dbt's threads take the node with the longest remaining path first, timed by the
    nodes' last builds (marts/schedule.py); False keeps dbt's own order (by depth). The nodes' times are recorded."""
    from dbt.artifacts.schemas.run import RunExecutionResult
    from dbt.cli.main import dbtRunner

    def on_event(event) -> None:
        if progress is not None and event.info.name == "NodeFinished":
            node = event.data.node_info
            progress(node.unique_id, node.node_status)

    # --quiet: dbt's own lines on stdout only for errors (callers show progress from the events; the file log in
    # <lake>/_marts/logs keeps every line): printing two lines per node cost about 3% of a 100k next-day build's CPU
    args = [*command, *dbt_args(lake, env, extra_vars), "--quiet"]
    own_results = manifest is not None or not write_json
    if own_results:
        args.append("--no-write-json")
    order = build_order(lake, longest_path=order_by_longest_path)
    with lake_environment(lake, env, as_of=as_of, clv_refit=clv_refit), order:
        result = dbtRunner(manifest=manifest, callbacks=[on_event]).invoke(args)
    if own_results and isinstance(result.result, RunExecutionResult):
        # dbt's own run_results.json (its invocation id marks the build, marts/build_state.py; benchmarks read it)
        result.result.write(str(lake.marts_dir() / "target" / "run_results.json"))
    results = []
    if result.result is not None and hasattr(result.result, "results"):
        results = [(r.node.unique_id, str(r.status), float(r.execution_time or 0)) for r in result.result.results]
        record_node_seconds(lake, results, full_refresh="--full-refresh" in command)
    if not result.success:
        failed = [f"{node} ({status})" for node, status, _ in results if status not in ("success", "pass")]
        detail = "; ".join(failed) or str(result.exception)
        raise BuildFailed(f"dbt {' '.join(command)} failed: {detail}. Logs: {lake.marts_dir() / 'logs'}")
    return results


def parse_project(lake: Lake, *, as_of: datetime, env: str = "local") -> Manifest:
    """dbt's parsed project for a build of ``lake`` (partial parse: only what changed since the last one), kept in
    memory for the build itself (:func:`run_dbt`) and its plan, and not written to ``manifest.json``."""
    from dbt.cli.main import dbtRunner
    from dbt.contracts.graph.manifest import Manifest

    with lake_environment(lake, env, as_of=as_of):
        result = dbtRunner().invoke(["parse", *dbt_args(lake, env), "--quiet", "--no-write-json"])
    if not result.success or not isinstance(result.result, Manifest):
        raise BuildFailed(f"dbt parse failed: {result.exception}. Logs: {lake.marts_dir() / 'logs'}")
    return result.result


def build_command(
    *, select: str | None = None, exclude: str | None = None, full_refresh: bool = False, unit_tests: bool = False
) -> list[str]:
    """The ``dbt build`` command of a build. Unit tests are left out unless asked for: dbt advises running them in
    development and CI only (they test the SQL on fixed inputs, which a production build does not change)."""
    command = ["build"]
    if select:
        command += ["--select", select]
    if exclude:
        command += ["--exclude", exclude]
    if full_refresh:
        command.append("--full-refresh")
    if not unit_tests:
        command += ["--exclude-resource-type", "unit_test"]
    return command


def run_unit_tests(lake: Lake, *, as_of: datetime, env: str = "local") -> list[tuple[str, str, float]]:
    """Every dbt unit test of the project against ``lake`` (built before: unit tests read their inputs' column
    types from the built relations); raise BuildFailed naming the failed ones."""
    prepare(lake)
    return run_dbt(lake, ["test", "--select", "test_type:unit"], as_of=as_of, env=env)


def build_marts(
    lake: Lake,
    *,
    as_of: datetime,
    env: str = "local",
    select: str | None = None,
    full_refresh: bool = False,
    refit_clv: bool = False,
    unit_tests: bool = False,
    skip_unchanged: bool = True,
    order_by_longest_path: bool = True,
    progress: Callable[[str, str], None] | None = None,
) -> BuildReport:
    """Seed, run and test the whole dbt project (or ``select``) as of ``as_of``; marts land in the lake as Delta.
    ``refit_clv`` refits the CLV models even when the last fit is recent enough to re-use; ``unit_tests`` runs the
    dbt unit tests too (settings.build_unit_tests; :func:`run_unit_tests` runs them alone). ``skip_unchanged``
    (settings.build_skip_unchanged) leaves out the nodes none of whose inputs moved since the last complete build
    (marts/build_state.py); their results are the ones that build left. ``order_by_longest_path``
    (settings.build_order_by_longest_path): dbt's threads take the nodes in the order of marts/schedule.py. A
    complete build also rebuilds from scratch the descendants of the seeds whose contents changed since the last
    complete build (``refreshed_seeds``)."""
    latest = latest_as_of(lake)
    if latest is not None and as_of < latest:
        # Membership history moves forward only: an older as_of would close stays before they were opened.
        raise BuildFailed(
            f"as_of {as_of.isoformat()} is before the last build's {latest.isoformat()}: build as of that time or "
            "later (earlier views are in gold.customer_trait_history and gold.audience_memberships)"
        )
    created, audiences = prepare(lake)
    plan = None
    if select is None:  # a complete build: what it may leave out, and the state it records for the next one
        fingerprint = build_state.code_fingerprint(DBT_PROJECT, extra=f"{env}|{lake.root}")
        plan = build_state.plan(lake, as_of=as_of.astimezone(UTC).isoformat(), fingerprint=fingerprint)
        if full_refresh or refit_clv or not skip_unchanged:
            plan = replace(plan, select=None, reason="asked to build everything")
    build_state.forget_state(lake)  # until this build succeeds, the next one builds everything
    results: list[tuple[str, str, float]] = []
    graph = None  # the dbt graph of this build, when it runs dbt
    seeds: dict[str, str] | None = None  # the seeds' checksums, when this complete build parsed the project
    refreshed: list[str] = []
    if plan is not None and plan.select and build_state.seeds_recorded(lake):
        # A build that leaves nodes out runs on the same code as the last complete build (the fingerprint covers
        # the project, its seeds included), so that build's graph is this one's and no seed changed since its seed
        # record: one dbt invocation parses (only what changed) and builds, without the separate parse's start.
        graph = plan.graph
        results = run_dbt(
            lake,
            build_command(select=" ".join(plan.select), unit_tests=unit_tests),
            as_of=as_of,
            env=env,
            progress=progress,
            write_json=False,
            order_by_longest_path=order_by_longest_path,
        )
    elif plan is None or plan.select != []:
        chosen = select if plan is None or plan.select is None else " ".join(plan.select)
        manifest = parse_project(lake, as_of=as_of, env=env)
        graph = build_state.graph(manifest)

        def build(command: list[str]) -> list[tuple[str, str, float]]:
            return run_dbt(
                lake,
                command,
                as_of=as_of,
                env=env,
                clv_refit=refit_clv,
                progress=progress,
                manifest=manifest,
                order_by_longest_path=order_by_longest_path,
            )

        if plan is not None:
            seeds = build_state.seed_checksums(manifest)
            refreshed = [] if full_refresh else build_state.changed_seeds(lake, seeds)
        if refreshed:
            # Models read only their new source rows, so a changed seed (a corrected currency rate) reaches the
            # rows built before only when its descendants are built from scratch: the rest of the plan first (their
            # inputs), then those descendants with --full-refresh, which keeps the lake's histories (README).
            descendants = " ".join(f"{name}+" for name in refreshed)
            results = build(build_command(select=chosen, exclude=descendants, unit_tests=unit_tests))
            results += build(build_command(select=descendants, full_refresh=True, unit_tests=unit_tests))
        else:
            results = build(build_command(select=chosen, full_refresh=full_refresh, unit_tests=unit_tests))
    if plan is not None:
        build_state.record(lake, plan, graph)
        if seeds is not None:
            build_state.record_seeds(lake, seeds)
    reason = plan.reason if plan is not None else f"--select {select}"
    if refreshed:
        reason += (
            f"; seeds changed since the last build: {', '.join(refreshed)} (their descendants rebuilt from scratch)"
        )
    return BuildReport(
        as_of=as_of,
        audiences=audiences,
        created_source_tables=created,
        results=results,
        plan=reason,
        refreshed_seeds=refreshed,
    )


def manifest_path() -> Path:
    """dbt's manifest for the Dagster code location, parsed again whenever a project file is newer than it."""
    from dbt.cli.main import dbtRunner

    target = DBT_PROJECT / "target"
    manifest = target / "manifest.json"
    compile_audiences()
    sources = [
        p for p in DBT_PROJECT.rglob("*") if p.suffix in (".sql", ".yml", ".py", ".csv") and "target" not in p.parts
    ]
    if not manifest.exists() or max(p.stat().st_mtime for p in sources) > manifest.stat().st_mtime:
        args = ["parse", "--project-dir", str(DBT_PROJECT), "--profiles-dir", str(DBT_PROJECT), "--quiet"]
        result = dbtRunner().invoke([*args, "--target-path", str(target)])
        if not result.success:
            raise BuildFailed(f"dbt parse failed: {result.exception}")
    return manifest
