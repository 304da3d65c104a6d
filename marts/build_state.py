"""What a marts build can leave out: the dbt nodes none of whose inputs moved since the last complete build.

A node's result depends on the lake tables it reads (dbt sources, each a Delta table with a version), on the run's
``as_of`` when its code uses it, on its own last result (incremental models, marts reading back their lake table)
and on the code (the dbt project, the Python the models import, the installed dbt, DuckDB and deltalake). So after
a complete build the state records the version of every source as it was when the build started, the build's
as_of and a fingerprint of the code; the next build selects only:

- the descendants of every source whose Delta version moved (``source:bronze.orders+``), which is dbt's own
  ``source_status:fresher+`` with the table's version in place of a freshness query;
- when as_of moved, the nodes that use it and their descendants (every Python model counts: its code is opaque);
- the nodes whose lake table is gone, and their descendants.

Anything else builds everything and records a new state: no state (first build, after ``cdp erase``, which deletes
the marts folder with dbt's database), another code fingerprint, ``--full-refresh``, ``--refit-clv``, a build of a
user's ``--select``, or another dbt invocation on this lake's target since the state was written (its
``run_results.json`` holds another invocation id). The state keeps the part of dbt's graph the plan reads
(:func:`graph`, taken from the manifest dbt parsed in memory): builds write no ``manifest.json``. The state is removed
before each build and written only after a build succeeded, so a failed or interrupted build is followed by a complete
one.

Seeds are inputs too, but models read only their new source rows (the orders take each order's conversion from
seeds/currency_rates.csv once), so a complete build is not enough after a seed changed: :func:`changed_seeds` names
the seeds whose contents (dbt's checksum) differ from those of the last complete build, recorded apart from the state
(``seeds.json``, kept through a failed build until a build succeeds), and the build rebuilds their descendants from
scratch (``--full-refresh`` of ``<seed>+`` only).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cdp.lake import Lake

if TYPE_CHECKING:
    from dbt.contracts.graph.manifest import Manifest

FORMAT = 3  # bump when what the state means changes: an older state then counts as none
_STATE_FILE = "build_state.json"
_SEEDS_FILE = "seeds.json"  # seed name -> dbt's checksum of its contents, as of the last complete build
_REPO = Path(__file__).resolve().parent.parent
_PACKAGES = ("dbt-core", "dbt-duckdb", "duckdb", "deltalake", "duckdb-extension-delta")
_PROJECT_SUFFIXES = {".sql", ".yml", ".yaml", ".py", ".csv"}  # what dbt reads (models, macros, seeds, config)
_DELTA_SCAN = re.compile(r"delta_scan\('([^']+)'\)")
_COMMIT = re.compile(r"\d{20}\.json")
_IMPORT = re.compile(r"^\s*(?:from|import)\s+([A-Za-z_]\w*)", re.MULTILINE)


@dataclass(frozen=True)
class BuildState:
    fingerprint: str
    as_of: str  # ISO-8601, UTC
    sources: dict[str, str | None]  # source unique_id -> delta_version() at the build's start
    invocation_id: str = ""  # dbt's invocation of the build that wrote the state
    graph: dict[str, Any] = field(default_factory=dict)  # the build's dbt graph (:func:`graph`)
    format: int = FORMAT


@dataclass(frozen=True)
class Plan:
    """What to build: ``select`` None is everything; an empty list is nothing."""

    versions: dict[str, str | None]  # every lake table's version when the build started, by path
    as_of: str
    fingerprint: str
    select: list[str] | None
    reason: str
    graph: dict[str, Any] = field(default_factory=dict)  # the last build's, for a build that runs nothing


def state_path(lake: Lake) -> Path:
    return lake.marts_dir() / _STATE_FILE


def forget_state(lake: Lake) -> None:
    """Make the next build a complete one (call before anything else changes this lake's dbt database)."""
    state_path(lake).unlink(missing_ok=True)


def read_state(lake: Lake) -> BuildState | None:
    try:
        raw = json.loads(state_path(lake).read_text())
        state = BuildState(**raw)
    except (OSError, ValueError, TypeError):
        return None
    return state if state.format == FORMAT else None


def write_state(lake: Lake, state: BuildState) -> None:
    path = state_path(lake)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(state), indent=1, sort_keys=True))
    tmp.replace(path)


def last_invocation_id(lake: Lake) -> str:
    """The invocation id of the last dbt command that wrote this lake's target folder ("" if none)."""
    try:
        results = json.loads((lake.marts_dir() / "target" / "run_results.json").read_text())
        return str(results["metadata"]["invocation_id"])
    except (OSError, ValueError, KeyError):
        return ""


def code_fingerprint(project: Path, *, extra: str = "") -> str:
    """A hash of the dbt project's files (generated audience models included), of every first-party package its
    Python models or the lake plugin import, and of the installed versions of dbt, DuckDB and deltalake."""
    digest = hashlib.sha256(f"{FORMAT}|{extra}".encode())
    files = sorted(
        p
        for p in project.rglob("*")
        if p.suffix in _PROJECT_SUFFIXES
        and not p.name.startswith(".")  # dbt's .user.yml (an anonymous id, written on first run)
        and not ({"target", "logs", "dbt_packages"} & set(p.relative_to(project).parts))
    )
    packages = {"marts"}  # the lake plugin and the Delta writes
    for file in files:
        if file.suffix == ".py":
            packages.update(_IMPORT.findall(file.read_text()))
    for name in sorted(packages):
        folder = _REPO / name
        if (folder / "__init__.py").is_file():
            files += sorted(folder.rglob("*.py"))
    for file in files:
        digest.update(str(file.relative_to(_REPO) if file.is_relative_to(_REPO) else file).encode())
        digest.update(hashlib.sha256(file.read_bytes()).digest())
    for package in _PACKAGES:
        digest.update(f"{package}=={version(package)}".encode())
    return digest.hexdigest()


def graph(manifest: Manifest) -> dict[str, Any]:
    """The part of a parsed dbt manifest that the plan reads, shaped as in dbt's ``manifest.json``: serialising the
    whole manifest to that file (twice a build) cost dbt about 1 s of CPU a build (BENCHMARKS.md, issue 5)."""
    return {
        "sources": {
            uid: {"relation_name": s.relation_name, "source_name": s.source_name, "name": s.name}
            for uid, s in manifest.sources.items()
        },
        "macros": {
            uid: {"macro_sql": m.macro_sql, "depends_on": {"macros": list(m.depends_on.macros)}}
            for uid, m in manifest.macros.items()
        },
        "nodes": {uid: _node_graph(node) for uid, node in manifest.nodes.items()},
    }


def _node_graph(node: Any) -> dict[str, Any]:
    test_metadata = getattr(node, "test_metadata", None)
    language = getattr(node, "language", None)
    return {
        "unique_id": node.unique_id,
        "name": node.name,
        "alias": node.alias,
        "resource_type": str(node.resource_type),
        "language": None if language is None else str(language),
        "raw_code": node.raw_code,
        "config": node.config.to_dict(),
        "test_metadata": None if test_metadata is None else test_metadata.to_dict(),
        "depends_on": {"macros": list(getattr(node.depends_on, "macros", []))},
    }


def _source_path(source: dict[str, Any]) -> str | None:
    found = _DELTA_SCAN.search(str(source.get("relation_name") or ""))
    return os.path.normpath(found.group(1)) if found else None


def delta_version(path: Path) -> str | None:
    """A Delta table's current version and when it was committed, e.g. ``"12@1764680000123456789"``: its newest
    commit file (a directory listing, not a log replay). The time tells a table deleted and written again apart from
    one that reached the same version number. None when there is no table."""
    log = path / "_delta_log"
    try:
        newest = max((name for name in os.listdir(log) if _COMMIT.fullmatch(name)), default=None)
        return None if newest is None else f"{int(newest[:20])}@{(log / newest).stat().st_mtime_ns}"
    except OSError:
        return None


def lake_versions(lake: Lake) -> dict[str, str | None]:
    """The version of every Delta table under the lake root (layer/table), by path: taken before a build, so a
    table that moves while dbt runs counts as moved at the next build."""
    return {os.path.normpath(lake.uri(table)): delta_version(lake.path(table)) for table in lake.tables()}


def source_versions(manifest: dict[str, Any], versions: dict[str, str | None]) -> dict[str, str | None]:
    """Each dbt source's version among ``versions`` (None: not a Delta table of this lake)."""
    found = {}
    for uid, source in manifest["sources"].items():
        path = _source_path(source)
        found[uid] = versions.get(path) if path is not None else None
    return found


def _macro_closure(manifest: dict[str, Any], names: list[str]) -> set[str]:
    seen: set[str] = set()
    stack = list(names)
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        macro = manifest["macros"].get(name)
        if macro is not None:
            stack += macro["depends_on"]["macros"]
    return seen


def as_of_nodes(manifest: dict[str, Any]) -> set[str]:
    """Nodes whose result may change with as_of alone: their code, config or test arguments name it, a macro they
    call (directly or not) does, or they are Python models (which may read it anywhere)."""
    using_macros = {
        name for name, macro in manifest["macros"].items() if "as_of" in macro.get("macro_sql", "")
    }  # the as_of() macro, and any macro reading getvariable('cdp_as_of') or var('as_of')
    found = set()
    for uid, node in manifest["nodes"].items():
        if node["resource_type"] not in ("model", "test", "seed", "snapshot"):
            continue
        text = " ".join(
            [node.get("raw_code") or "", json.dumps(node.get("config", {})), json.dumps(node.get("test_metadata"))]
        )
        macros = _macro_closure(manifest, node.get("depends_on", {}).get("macros", []))
        if node.get("language") == "python" or "as_of" in text or macros & using_macros:
            found.add(uid)
    return found


def _delta_models(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node.get("config", {}).get("materialized") == "delta"
    ]


def _lake_path(lake: Lake, node: dict[str, Any]) -> Path:
    """Where a ``delta`` model lands (macro lake_location): <lake_root>/<lake_layer>/<alias>."""
    return lake.root / node["config"].get("lake_layer", "gold") / node["alias"]


def _missing_lake_tables(manifest: dict[str, Any], lake: Lake) -> set[str]:
    """Delta models whose lake table is gone (a skipped node would not write it again)."""
    return {node["unique_id"] for node in _delta_models(manifest) if delta_version(_lake_path(lake, node)) is None}


def _selector(manifest: dict[str, Any], uid: str) -> str:
    if uid in manifest["sources"]:
        source = manifest["sources"][uid]
        return f"source:{source['source_name']}.{source['name']}+"
    node = manifest["nodes"][uid]
    return f"{node['name']}+" if node["resource_type"] != "test" else node["name"]


def plan(lake: Lake, *, as_of: str, fingerprint: str) -> Plan:
    """What this build has to run (see the module docstring); ``as_of`` is ISO-8601 in UTC."""
    last = read_state(lake)
    versions = lake_versions(lake)

    def everything(reason: str) -> Plan:
        return Plan(versions=versions, as_of=as_of, fingerprint=fingerprint, select=None, reason=reason)

    if last is None:
        return everything("no record of a complete build")
    if last.fingerprint != fingerprint:
        return everything("the dbt project or its code changed")
    if not (lake.marts_dir() / "marts.duckdb").is_file():
        return everything("no dbt database")
    if not last.invocation_id or last.invocation_id != last_invocation_id(lake):
        return everything("another dbt command ran on this lake since the last build")
    manifest = last.graph  # this build's too: the same project when the fingerprint is the same
    now = source_versions(manifest, versions)
    moved = sorted(uid for uid, v in now.items() if v is None or uid not in last.sources or last.sources[uid] != v)
    roots = set(moved) | _missing_lake_tables(manifest, lake)
    if as_of != last.as_of:
        roots |= as_of_nodes(manifest)
    select = sorted({_selector(manifest, uid) for uid in roots})
    reason = f"sources moved: {', '.join(moved) or 'none'}; as_of {'moved' if as_of != last.as_of else 'the same'}"
    return Plan(versions=versions, as_of=as_of, fingerprint=fingerprint, select=select, reason=reason, graph=manifest)


def seed_checksums(manifest: Manifest) -> dict[str, str]:
    """Each seed's checksum of its contents, by name, from dbt's parsed project (dbt keeps only the path of a seed
    over 1 MB: its file is hashed here)."""
    from dbt.contracts.graph.nodes import SeedNode

    found = {}
    for node in manifest.nodes.values():
        if not isinstance(node, SeedNode):
            continue
        checksum = node.checksum
        if checksum.name == "path":
            data = (Path(node.root_path or ".") / node.original_file_path).read_bytes()
            found[node.name] = hashlib.sha256(data).hexdigest()
        else:
            found[node.name] = checksum.checksum
    return found


def changed_seeds(lake: Lake, checksums: dict[str, str]) -> list[str]:
    """The seeds whose contents differ from the last complete build's (new seeds included). With no record, none
    when the marts have never been built (everything is built from scratch anyway), else every seed: a lake built
    before the record existed cannot tell which seeds changed since."""
    try:
        last = json.loads((lake.marts_dir() / _SEEDS_FILE).read_text())
    except (OSError, ValueError):
        return sorted(checksums) if (lake.marts_dir() / "marts.duckdb").is_file() else []
    return sorted(name for name, checksum in checksums.items() if last.get(name) != checksum)


def seeds_recorded(lake: Lake) -> bool:
    """Whether a complete build recorded the seeds it was built from (:func:`record_seeds`)."""
    return (lake.marts_dir() / _SEEDS_FILE).is_file()


def record_seeds(lake: Lake, checksums: dict[str, str]) -> None:
    """After a successful complete build: the seed contents its marts were built from."""
    path = lake.marts_dir() / _SEEDS_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(checksums, indent=1, sort_keys=True))
    tmp.replace(path)


def record(lake: Lake, done: Plan, manifest: dict[str, Any] | None = None) -> BuildState:
    """After a successful build of ``done``: the state the next build starts from (sources at this build's start,
    mapped with this build's dbt graph, :func:`graph`; None when the build ran no dbt: the last build's)."""
    manifest = done.graph if manifest is None else manifest
    sources = source_versions(manifest, done.versions)
    # a mart that reads back its own lake table (audience memberships): this build's own write is not a change
    own = {os.path.normpath(_lake_path(lake, node)) for node in _delta_models(manifest)}
    for uid, source in manifest["sources"].items():
        path = _source_path(source)
        if path in own:
            sources[uid] = delta_version(Path(path))
    state = BuildState(
        fingerprint=done.fingerprint,
        as_of=done.as_of,
        sources=sources,
        invocation_id=last_invocation_id(lake),
        graph=manifest,
    )
    write_state(lake, state)
    return state
