"""The ``cdp`` command line: generate demo data, ingest, run the pipeline, inspect and maintain the lake.

Every command that reads the landing zone or the lake takes ``--landing`` / ``--lake`` and defaults to the
configuration (``CDP_LANDING_ROOT`` / ``CDP_LAKE_ROOT``). Later stages add their commands here.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table as RichTable

from cdp.lake import Lake
from cdp.settings import Settings
from cx.cli import cx_app

app = typer.Typer(help="Customer data platform on a Delta lake.", no_args_is_help=True, pretty_exceptions_enable=False)
console = Console()

LandingOption = Annotated[
    Path | None, typer.Option("--landing", help="Landing zone folder [default: CDP_LANDING_ROOT]")
]
LakeOption = Annotated[Path | None, typer.Option("--lake", help="Lake root folder [default: CDP_LAKE_ROOT]")]


def _settings(landing: Path | None = None, lake: Path | None = None) -> Settings:
    overrides: dict[str, Any] = {}
    if landing is not None:
        overrides["landing_root"] = landing.resolve()
    if lake is not None:
        overrides["lake_root"] = lake.resolve()
    return Settings(**overrides)


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug details.")] = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


@app.command()
def generate(
    customers: Annotated[int, typer.Option(min=1, help="Number of true persons to generate.")] = 2_000,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives byte-identical files.")] = 42,
    out: Annotated[Path | None, typer.Option(help="Landing folder to write [default: CDP_LANDING_ROOT]")] = None,
) -> None:
    """Generate a realistic, messy landing zone for every source, with a ground-truth folder beside it."""
    from synthetic_data import generate as generate_landing

    settings = _settings(landing=out)
    with _progress() as progress:
        task = progress.add_task("generating customers", total=customers)
        summary = generate_landing(
            settings.landing_root,
            customers,
            seed,
            default_region=settings.default_phone_region,
            progress=lambda n: progress.advance(task, n),
        )
    table = RichTable("source", "files", "rows", "planted bad rows", title=f"Landing zone {summary.out_dir}")
    for source in sorted(summary.rows):
        table.add_row(
            source,
            str(summary.files.get(source, 0)),
            f"{summary.rows[source]:,}",
            str(summary.planted_bad_rows.get(source, 0)),
        )
    console.print(table)
    console.print(f"Ground truth (never read by the pipeline): {summary.truth_dir}")


def _ingest(settings: Settings, sources: list[str] | None):
    from cdp.spark import get_spark
    from ingest.job import IngestAlreadyRunning, run_ingest

    spark = get_spark(settings)
    with _progress() as progress:
        task = progress.add_task("ingesting", total=len(sources) if sources else None)

        def step(source: str, done: int, total: int) -> None:
            label = "ingest done" if source == "done" else f"ingested {source}"
            progress.update(task, total=total, completed=done, description=label)

        try:
            return run_ingest(
                spark,
                Lake(settings.lake_root),
                settings.landing_root,
                sources=sources,
                max_record_bytes=settings.max_record_bytes,
                progress=step,
                default_phone_region=settings.default_phone_region,
            )
        except IngestAlreadyRunning as exc:
            console.print(f"[red]{exc}[/]")
            raise typer.Exit(1) from None


def _print_report(report) -> None:
    if not report.files:
        console.print("Nothing new in the landing zone.")
        return
    table = RichTable(
        "source",
        "files",
        "rejected files",
        "skipped",
        "records in",
        "accepted",
        "quarantined",
        "suppressed",
        title=f"Ingest run {report.run_id}",
    )
    for source, files in sorted(report.by_source().items()):
        table.add_row(
            source,
            str(sum(f.status == "ingested" for f in files)),
            str(sum(f.status == "rejected" for f in files)),
            str(sum(f.status == "skipped_duplicate" for f in files)),
            f"{sum(f.records_in for f in files):,}",
            f"{sum(f.accepted for f in files):,}",
            f"{sum(f.quarantined for f in files):,}",
            f"{sum(f.suppressed for f in files):,}",
        )
    console.print(table)
    for outcome in report.files:
        if outcome.status == "rejected":
            console.print(f"[yellow]rejected[/] {outcome.file_path}: {outcome.reason}")
    verdict = "[green]counts reconcile[/]" if report.reconciles else "[red]counts do NOT reconcile[/]"
    console.print(f"{verdict}: records in = accepted + quarantined + suppressed for every file.")
    if report.rolled_back_runs:
        console.print(f"Rolled back rows of interrupted runs: {', '.join(report.rolled_back_runs)}")


@app.command()
def ingest(
    landing: LandingOption = None,
    lake: LakeOption = None,
    source: Annotated[list[str] | None, typer.Option("--source", "-s", help="Only these sources (repeatable).")] = None,
) -> None:
    """Ingest new landing files into bronze Delta tables (rejected rows and files go to quarantine)."""
    from ingest.contracts import get_source

    for name in source or []:
        try:
            get_source(name)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--source") from None
    report = _ingest(_settings(landing, lake), source or None)
    _print_report(report)
    if not report.reconciles:
        raise typer.Exit(1)


@app.command()
def run(landing: LandingOption = None, lake: LakeOption = None) -> None:
    """Run the whole pipeline: ingest, the bronze quality checks, identity resolution, the dbt marts."""
    _run(_settings(landing, lake))


def _run(settings: Settings) -> None:
    report = _ingest(settings, None)
    _print_report(report)
    failed = _check_bronze(settings)
    if failed or not report.reconciles:
        raise typer.Exit(1)
    _resolve(settings, None, retrain=False)
    _build(settings, select=None, full_refresh=False)
    _materialize_features(settings)
    _export_all(settings)


def _export_all(settings: Settings) -> None:
    """The scheduled exports of the rules file (activation/rules.yaml `exports:`), after the build."""
    from activation.pipeline import run_exports

    outcomes = run_exports(
        Lake(settings.lake_root),
        _activation(settings),
        send_time=settings.observation_time(),
        postgres_url=settings.postgres_url,
        webhook_url=settings.activation_webhook_url,
        env=settings.env,
    )
    for o in outcomes:
        if o.report is not None:
            r = o.report
            line = (
                f"export {o.audience} -> {o.destination}: {r.members:,} members, {r.decisions['send']:,} sent, "
                f"{r.upserts:,} upserts, {r.removals:,} removals ({r.status})"
            )
        else:
            line = f"export {o.audience} -> {o.destination}: failed: {o.error}"
        console.print(line if o.ok else f"[red]{line}[/]")
    if not all(o.ok for o in outcomes):
        raise typer.Exit(1)


RulesOption = Annotated[
    Path | None, typer.Option("--rules", help="Identity rules YAML [default: spark_jobs/identity_rules.yaml]")
]


def _resolve(settings: Settings, rules_path: Path | None, *, retrain: bool, full: bool = False) -> None:
    from cdp.spark import get_spark
    from spark_jobs.jobs.resolve import resolve_identities
    from spark_jobs.rules import load_rules

    try:
        rules = load_rules(rules_path)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--rules") from None
    spark = get_spark(settings)
    with _progress() as progress:
        task = progress.add_task("resolving identities", total=None)
        report = resolve_identities(
            spark,
            Lake(settings.lake_root),
            rules,
            default_region=settings.default_phone_region,
            retrain=retrain,
            mode="full" if full else "auto",
            max_new_share=settings.identity_incremental_max_new_share,
            local_scope_max_records=settings.identity_local_scope_max_records,
            progress=lambda step: progress.update(task, description=step),
        )
        progress.update(task, description="identity resolution done", total=1, completed=1)
    table = RichTable("measure", "value", title=f"Identity run {report.run_id} (rules {report.rules_tag})")
    for label, value in (
        ("run", f"{report.mode} ({report.mode_reason})"),
        ("records resolved this run (new / in scope)", f"{report.new_records:,} / {report.scope_records:,}"),
        ("records with an identifier", f"{report.records:,}"),
        ("records resolved to a customer", f"{report.resolved_records:,}"),
        ("customers", f"{report.customers:,}"),
        ("largest customer (records)", f"{report.largest_customer:,}"),
        ("records in multi-record customers", f"{report.matched_share:.1%}"),
        ("probabilistic candidate pairs", f"{report.candidate_pairs:,}"),
        ("probabilistic links refused (limits)", f"{report.refused_links:,}"),
        ("merges / splits of earlier ids", f"{report.merges:,} / {report.splits:,}"),
        ("new customer ids", f"{report.new_customers:,}"),
        ("model", "trained this run" if report.model_trained else "re-used"),
    ):
        table.add_row(label, value)
    for reason, count in sorted(report.dropped_identifiers.items()):
        table.add_row(f"identifiers not used: {reason}", f"{count:,}")
    console.print(table)


@app.command()
def resolve(
    lake: LakeOption = None,
    rules: RulesOption = None,
    retrain: Annotated[bool, typer.Option(help="Retrain the probabilistic model instead of re-using it.")] = False,
    full: Annotated[
        bool, typer.Option("--full", help="Resolve every record again instead of only the new bronze rows.")
    ] = False,
) -> None:
    """Resolve identities: one customer_id per person across every bronze source (writes gold.identity_map).

    Incremental by default: only bronze rows no earlier run read, and the earlier records they can change."""
    _resolve(_settings(lake=lake), rules, retrain=retrain, full=full)


def _build(settings: Settings, *, select: str | None, full_refresh: bool, refit_clv: bool = False) -> None:
    from marts.audiences import AudienceError
    from marts.build import BuildFailed, build_marts

    as_of = settings.observation_time()
    with _progress() as progress:
        task = progress.add_task(f"building marts as of {as_of:%Y-%m-%d %H:%M} UTC", total=None)

        def step(node: str, status: str) -> None:
            progress.update(task, description=f"{node.split('.')[-1]}: {status}")

        try:
            report = build_marts(
                Lake(settings.lake_root),
                as_of=as_of,
                env=settings.env,
                select=select,
                full_refresh=full_refresh,
                refit_clv=refit_clv,
                unit_tests=settings.build_unit_tests,
                skip_unchanged=settings.build_skip_unchanged,
                order_by_longest_path=settings.build_order_by_longest_path,
                progress=step,
            )
        except (BuildFailed, AudienceError) as exc:
            progress.stop()
            console.print(f"[red]{exc}[/]")
            raise typer.Exit(1) from None
        progress.update(task, description="marts built", total=1, completed=1)
    kinds: dict[str, int] = {}
    for node, _, _ in report.results:
        kind = node.split(".")[0]
        kinds[kind] = kinds.get(kind, 0) + 1
    console.print(
        f"dbt: {', '.join(f'{n} {k}s' for k, n in sorted(kinds.items()))} passed, as of {as_of.isoformat()}; "
        f"audiences: {', '.join(report.audiences) or 'none'}"
    )
    if report.created_source_tables:
        console.print(f"empty source tables created: {', '.join(report.created_source_tables)}")
    if report.refreshed_seeds:
        # A changed seed (a corrected rate, a new survivorship rule) rebuilt every row that depends on it.
        console.print(f"changed seeds, their descendants rebuilt in full: {', '.join(report.refreshed_seeds)}")


AsOfOption = Annotated[
    str | None, typer.Option("--as-of", help="Observation time, ISO-8601 [default: CDP_AS_OF, else now]")
]


@app.command()
def build(
    lake: LakeOption = None,
    as_of: AsOfOption = None,
    select: Annotated[str | None, typer.Option(help="dbt node selection, e.g. 'customer_traits+'.")] = None,
    full_refresh: Annotated[bool, typer.Option(help="Rebuild incremental models from scratch.")] = False,
    refit_clv: Annotated[bool, typer.Option(help="Refit the CLV models now instead of re-using a recent fit.")] = False,
) -> None:
    """Build the profile, traits and audiences with dbt (seeds, models, tests); the marts land in gold/ as Delta."""
    settings = _settings(lake=lake)
    if as_of is not None:
        settings = settings.model_copy(update={"as_of": _parse_as_of(as_of)})
    _build(settings, select=select, full_refresh=full_refresh, refit_clv=refit_clv)


def _parse_as_of(text: str):
    from datetime import datetime

    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not an ISO-8601 time, e.g. 2025-12-31T00:00:00Z", param_hint="--as-of"
        ) from None


audience_app = typer.Typer(
    help="Audiences: define in dbt_project/audiences/*.yml, size and preview.", no_args_is_help=True
)
app.add_typer(audience_app, name="audience")


@audience_app.command("compile")
def audience_compile() -> None:
    """Validate every audience YAML and write its dbt models (also done by every build)."""
    from marts.audiences import AUDIENCES_DIR, AudienceError, compile_audiences

    try:
        audiences = compile_audiences()
    except AudienceError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    console.print(f"{len(audiences)} audiences compiled from {AUDIENCES_DIR}: {', '.join(a.name for a in audiences)}")


@audience_app.command("list")
def audience_list(lake: LakeOption = None) -> None:
    """Every audience with its purpose, channel, priority and current size (as of the last build)."""
    from marts.audience_report import audience_sizes

    try:
        sizes = audience_sizes(Lake(_settings(lake=lake).lake_root))
    except FileNotFoundError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    table = RichTable("audience", "purpose", "channel", "priority", "owner", "members", "holdout", title="Audiences")
    for s in sizes:
        table.add_row(s.name, s.purpose, s.channel, str(s.priority), s.owner, f"{s.members:,}", f"{s.holdout:,}")
    console.print(table)


@audience_app.command("preview")
def audience_preview(
    name: Annotated[str, typer.Argument(help="Audience name.")],
    lake: LakeOption = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Members to show.")] = 10,
    show_pii: Annotated[bool, typer.Option("--show-pii", help="Show emails and phones unmasked.")] = False,
) -> None:
    """Size now and over the last builds, and a sample of members (emails and phones masked)."""
    from marts.audience_report import AudienceNotFound, member_sample, size_history

    the_lake = Lake(_settings(lake=lake).lake_root)
    try:
        history = size_history(the_lake, name)
        sample = member_sample(the_lake, name, limit=limit, show_pii=show_pii)
    except (FileNotFoundError, AudienceNotFound) as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    sizes = RichTable("build as of", "members", title=f"{name}: size over time")
    for as_of, members in history:
        sizes.add_row(f"{as_of:%Y-%m-%d %H:%M}", f"{members:,}")
    console.print(sizes)
    if not sample:
        console.print("No current members.")
        return
    members_table = RichTable(title=f"{name}: sample of current members")
    for column in sample[0]:
        members_table.add_column(column, overflow="fold")  # wrapped, not cut to "cus_…" in a narrow terminal
    for row in sample:
        members_table.add_row(*["" if v is None else str(v) for v in row.values()])
    console.print(members_table)


def _activation(settings: Settings):  # type: ignore[no-untyped-def]
    from activation.rules import RulesError, load_rules

    try:
        return load_rules(settings.activation_rules)
    except RulesError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None


@audience_app.command("export")
def audience_export(
    name: Annotated[str, typer.Argument(help="Audience name.")],
    destination: Annotated[str, typer.Option("--destination", "-d", help="Destination name from the rules file.")],
    mode: Annotated[str, typer.Option(help="upsert, mirror (adds, updates, removals) or diff (changes only).")] = (
        "mirror"
    ),
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show counts per decision; send and record nothing.")] = (
        False
    ),
    send_at: Annotated[str | None, typer.Option("--send-at", help="Send time, ISO-8601 [default: now].")] = None,
    lake: LakeOption = None,
) -> None:
    """Send an audience to a destination: consent gate, caps, quiet hours, care and relevance; every decision
    audited in audit.activation_decisions."""
    from activation.destinations import build_destination
    from activation.export import export_audience
    from activation.inputs import AudienceNotFound, LakeNotReady

    if mode not in ("upsert", "mirror", "diff"):
        raise typer.BadParameter("one of upsert, mirror, diff", param_hint="--mode")
    settings = _settings(lake=lake)
    rules = _activation(settings)
    if destination not in rules.destinations:
        console.print(f"[red]no destination {destination!r}; destinations: {', '.join(rules.destinations)}[/]")
        raise typer.Exit(1)
    the_lake = Lake(settings.lake_root)
    try:
        target = build_destination(
            destination,
            rules.destinations[destination],
            exports_dir=the_lake.exports_dir(),
            postgres_url=settings.postgres_url,
            webhook_url=settings.activation_webhook_url,
        )
    except ValueError as exc:  # e.g. a webhook without a URL
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    send_time = _parse_as_of(send_at) if send_at else settings.observation_time()
    try:
        report = export_audience(
            the_lake,
            rules,
            name,
            target,
            mode=mode,  # type: ignore[arg-type]  # one of the three, checked above
            send_time=send_time,
            dry_run=dry_run,
        )
    except (AudienceNotFound, LakeNotReady) as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    title = f"{name} -> {destination} ({'dry run, nothing sent' if dry_run else report.sync_id})"
    table = RichTable("decision", "reason", "people", title=title)
    for reason, count in sorted(report.counts.items(), key=lambda kv: -kv[1]):
        table.add_row("send" if reason == "eligible" else "suppress", reason, f"{count:,}")
    console.print(table)
    if not dry_run:
        console.print(
            f"{report.status}: {report.upserts:,} upserts and {report.removals:,} removals in {report.batches} "
            f"batches ({mode}); {report.dead_lettered} batches dead-lettered"
        )
        if report.status != "completed":
            raise typer.Exit(1)


@audience_app.command("explain")
def audience_explain(
    name: Annotated[str, typer.Argument(help="Audience name.")],
    customer_id: Annotated[str, typer.Option("--customer-id", help="The person's customer id.")],
    send_at: Annotated[str | None, typer.Option("--send-at", help="Decide as of this time [default: now].")] = None,
    lake: LakeOption = None,
) -> None:
    """Why a person is in or out of an audience's export: the decision now and the audited past decisions."""
    from activation.explain import explain, readable
    from activation.inputs import AudienceNotFound, LakeNotReady

    settings = _settings(lake=lake)
    rules = _activation(settings)
    send_time = _parse_as_of(send_at) if send_at else settings.observation_time()
    try:
        found = explain(Lake(settings.lake_root), rules, name, customer_id, send_time)
    except (AudienceNotFound, LakeNotReady) as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    if found.now is None:
        console.print(f"{customer_id} is not a current member of {found.audience}.")
    else:
        d = found.now
        console.print(f"{customer_id} in {found.audience} at {send_time:%Y-%m-%d %H:%M} UTC: {readable(d['reason'])}")
        consent = "none"
        if d["consent_id"]:
            consent = f"{d['consent_status']} ({d['consent_id']}, {d['consent_at']:%Y-%m-%d %H:%M})"
        console.print(f"  consent event used: {consent}")
        if d["cap_name"]:
            console.print(f"  frequency cap {d['cap_name']}: {d['cap_count']} of {d['cap_limit']} already used")
        if d["better_audience"]:
            console.print(f"  higher-priority audience: {d['better_audience']}")
        console.print(f"  rules version {rules.version}")
    if found.history:
        table = RichTable("send time", "destination", "decision", "reason", "rule version", title="Audited decisions")
        for row in found.history[:20]:
            table.add_row(
                f"{row['send_time']:%Y-%m-%d %H:%M}", row["destination"], row["decision"], row["reason"],
                row["rule_version"],
            )  # fmt: skip
        console.print(table)


@app.command()
def erase(
    email: Annotated[str | None, typer.Option(help="The person's email.")] = None,
    phone: Annotated[str | None, typer.Option(help="The person's phone (any format).")] = None,
    customer_id: Annotated[str | None, typer.Option("--customer-id", help="The person's customer id.")] = None,
    all_matching: Annotated[
        bool, typer.Option("--all-matching", help="An email or phone held by several customers: erase all of them.")
    ] = False,
    lake: LakeOption = None,
) -> None:
    """Forget a person: delete their rows from every Delta table and every old version (VACUUM, log truncated), the
    file exports, the CRM table and the online feature store; keep a hashed suppression entry (the ingest drops
    their re-sent records) and a receipt without personal data."""
    from activation.destinations import PostgresTable, build_destination
    from activation.erasure import NothingToErase, SharedIdentifier, already_erased, erase, resolve
    from activation.rules import PostgresDestination, WebhookDestination
    from feature_store.store import Features
    from ingest.suppression import normalise
    from spark_jobs.rules import load_rules as load_identity_rules

    if sum(v is not None for v in (email, phone, customer_id)) != 1:
        raise typer.BadParameter("give exactly one of --email, --phone, --customer-id")
    settings = _settings(lake=lake)
    the_lake = Lake(settings.lake_root)
    rules = _activation(settings)
    identity_rules = load_identity_rules()
    lookup, value = "customer_id", customer_id
    if email is not None:
        lookup, (value, reason) = "email", normalise("email", email, identity_rules, settings.default_phone_region)
    elif phone is not None:
        lookup, (value, reason) = "phone", normalise("phone", phone, identity_rules, settings.default_phone_region)
    if value is None:
        console.print(f"[red]the {lookup} given is not usable: {reason}; nothing deleted[/]")
        raise typer.Exit(1)
    done = already_erased(the_lake, value)
    if done is not None:
        console.print(f"That {lookup} was erased already ({done}); nothing to do.")
        return
    try:
        if lookup == "customer_id":
            person = resolve(the_lake, customer_id=value)
        else:
            person = resolve(the_lake, value=value, id_type=lookup, all_matching=all_matching)
    except (NothingToErase, SharedIdentifier) as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    crm_tables = [c.table for c in rules.destinations.values() if isinstance(c, PostgresDestination)]
    crm = PostgresTable("crm", settings.postgres_url, crm_tables[0]) if crm_tables else None
    webhooks = [
        build_destination(name, config, exports_dir=the_lake.exports_dir(), postgres_url=settings.postgres_url,
                          webhook_url=settings.activation_webhook_url)
        for name, config in rules.destinations.items()
        if isinstance(config, WebhookDestination) and (config.url or settings.activation_webhook_url)
    ]  # fmt: skip
    receipt = erase(the_lake, person, lookup=lookup, crm=crm, webhooks=webhooks, online_store=Features(settings))
    touched = sum(1 for t in receipt.tables if t["rows_deleted"])
    online = (
        "online store had nothing (feature repo never applied)"
        if receipt.online_store_rows_deleted is None
        else f"{receipt.online_store_rows_deleted} online-store entries deleted"
    )
    console.print(
        f"{receipt.erasure_id}: {len(person.customer_ids)} customer(s), {receipt.rows_deleted:,} rows deleted from "
        f"{touched} tables, {receipt.files_vacuumed:,} old files removed, {receipt.export_files_rewritten} export "
        f"files rewritten, {receipt.crm_rows_deleted} CRM rows deleted, {receipt.webhook_removals_sent} webhook "
        f"removals sent, {online}; receipt in audit.erasure_receipts"
    )
    if person.shared_values:
        console.print(f"{person.shared_values} identifier(s) also held by other customers were kept for them.")


identity_app = typer.Typer(help="Inspect and score identity resolution.", no_args_is_help=True)
app.add_typer(identity_app, name="identity")


@identity_app.command("explain")
def identity_explain(
    customer_id: Annotated[str | None, typer.Option("--customer-id", help="The customer to explain.")] = None,
    email: Annotated[str | None, typer.Option(help="Find the customer by email.")] = None,
    phone: Annotated[str | None, typer.Option(help="Find the customer by phone.")] = None,
    show_pii: Annotated[bool, typer.Option("--show-pii", help="Show identifier values unmasked.")] = False,
    lake: LakeOption = None,
    rules: RulesOption = None,
) -> None:
    """Every source record in a customer's profile and, for each link, the rule or the match weights."""
    from spark_jobs.jobs.explain import CustomerNotFound, explain_customer, find_customer
    from spark_jobs.rules import load_rules

    settings = _settings(lake=lake)
    the_lake = Lake(settings.lake_root)
    try:
        if customer_id is None:
            customer_id = find_customer(
                the_lake, load_rules(rules), settings.default_phone_region, email=email, phone=phone
            )
        found = explain_customer(the_lake, customer_id, show_pii=show_pii)
    except (CustomerNotFound, ValueError) as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    console.print(f"[bold]{found.customer_id}[/]: {len(found.records)} source records")
    records = RichTable("source", "record", "matched by", "probability", "observed at", title="Records")
    for r in found.records:
        records.add_row(
            r["source"], r["source_record_id"], r["matched_by"], f"{r['match_probability']:.4f}", str(r["observed_at"])
        )
    console.print(records)
    links = RichTable("identifier", "value", "records", "sources", title="Links: identifiers shared by its records")
    for s in found.shared_identifiers:
        links.add_row(s["id_type"], s["value"], str(s["records"]), ", ".join(s["sources"]))
    console.print(links)
    if found.probabilistic_links:
        pairs = RichTable("records", "probability", "weight", "evidence", title="Links: probabilistic matches")
        for p in found.probabilistic_links:
            pairs.add_row(
                f"{p['left_key']} ~ {p['right_key']}",
                f"{p['match_probability']:.4f}",
                f"{p['match_weight']:.1f}",
                p["evidence"],
            )
        console.print(pairs)
    if found.unused_identifiers:
        unused = RichTable("identifier", "value", "records", "why not used", title="Identifiers not used to link")
        for u in found.unused_identifiers:
            unused.add_row(u["id_type"], u["value"], str(u["records"]), u["drop_reason"])
        console.print(unused)
    for h in found.history:
        console.print(
            f"{h['occurred_at']:%Y-%m-%d %H:%M} {h['event']}: {h['customer_id']} and "
            f"{', '.join(h['other_customer_ids'])} ({h['records']} records, rules {h['rule_version']})"
        )


@identity_app.command("evaluate")
def identity_evaluate(
    truth: Annotated[Path, typer.Option(help="CSV: source, source_record_id, person_id|entity_id (.gz allowed).")],
    source: Annotated[list[str] | None, typer.Option("--source", "-s", help="Only these sources.")] = None,
    lake: LakeOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Pairwise precision, recall, F1 and B-cubed of gold.identity_map against a ground-truth file."""
    from dataclasses import asdict

    from cdp.spark import get_spark
    from spark_jobs.jobs.evaluate import evaluate_identity_map

    settings = _settings(lake=lake)
    try:
        results = evaluate_identity_map(get_spark(settings), Lake(settings.lake_root), truth.resolve(), source)
    except (FileNotFoundError, ValueError) as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    if as_json:
        print(json.dumps({scope: asdict(a) for scope, a in results.items()}, indent=2))
        return
    table = RichTable("measure", *results, title="Identity accuracy against the truth file")
    for label, attribute, fmt in (
        ("records", "records", "{:,}"),
        ("true entities", "true_entities", "{:,}"),
        ("predicted customers", "predicted_customers", "{:,}"),
        ("pairwise precision", "pairwise_precision", "{:.4f}"),
        ("pairwise recall", "pairwise_recall", "{:.4f}"),
        ("pairwise F1", "pairwise_f1", "{:.4f}"),
        ("B-cubed precision", "bcubed_precision", "{:.4f}"),
        ("B-cubed recall", "bcubed_recall", "{:.4f}"),
        ("B-cubed F1", "bcubed_f1", "{:.4f}"),
    ):
        table.add_row(label, *[fmt.format(getattr(a, attribute)) for a in results.values()])
    console.print(table)


def _check_bronze(settings: Settings) -> list[str]:
    """Run the bronze expectation suites and reconciliation; print one line per source; return failures."""
    from cdp.spark import get_spark
    from expectations.reconciliation import reconciliation
    from expectations.suites import validate_bronze
    from ingest.contracts import SOURCES

    spark, lake = get_spark(settings), Lake(settings.lake_root)
    failed = []
    table = RichTable("source", "expectations", "reconciliation", title="Bronze quality checks")
    for source in SOURCES:
        suite, recon = validate_bronze(spark, lake, source), reconciliation(spark, lake, source)
        table.add_row(source, _verdict(suite.success), _verdict(recon.success))
        if not (suite.success and recon.success):
            failed.append(source)
    console.print(table)
    return failed


def _verdict(ok: bool) -> str:
    return "[green]pass[/]" if ok else "[red]FAIL[/]"


@app.command()
def demo(
    customers: Annotated[int, typer.Option(min=1, help="Number of persons to generate.")] = 2_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
    landing: LandingOption = None,
    lake: LakeOption = None,
) -> None:
    """Generate demo data, run the pipeline on it with the embedded defaults, and summarise the lake."""
    settings = _settings(landing, lake)
    if any(settings.landing_root.glob("*/*")):
        console.print(f"Landing zone {settings.landing_root} already has files: generating skipped.")
    else:
        generate(customers=customers, seed=seed, out=settings.landing_root)
    if settings.as_of is None:
        # Generated data covers a past year: traits are computed as of its end unless CDP_AS_OF says otherwise.
        from synthetic_data import generated_period_end

        end = generated_period_end(settings.landing_root)
        if end is not None:
            settings = settings.model_copy(update={"as_of": end})
            console.print(f"Demo data ends {end:%Y-%m-%d}: traits are computed as of then (set CDP_AS_OF to change).")
    _run(settings)
    status(lake=settings.lake_root)
    console.print(
        f"\nLake: {settings.lake_root}\nDagster UI: make dev (then open http://127.0.0.1:3000)\n"
        "Query a table: .venv/bin/cdp status, or read it with deltalake/duckdb/Spark."
    )


@app.command()
def status(lake: LakeOption = None) -> None:
    """Tables, row counts and the last ingest runs."""
    from cdp import lake as layout
    from cdp.maintenance import history, row_count

    settings = _settings(lake=lake)
    the_lake = Lake(settings.lake_root)
    tables = the_lake.tables()
    if not tables:
        console.print(f"No tables under {settings.lake_root} yet: run `cdp ingest` or `cdp demo`.")
        return
    listing = RichTable("table", "rows", "version", "last change", title=f"Lake {settings.lake_root}")
    for table in tables:
        last = history(the_lake, table, limit=1)[0]
        listing.add_row(
            table.qualified_name,
            f"{row_count(the_lake, table):,}",
            str(last.version),
            f"{last.timestamp:%Y-%m-%d %H:%M:%S} {last.operation}",
        )
    console.print(listing)
    if the_lake.exists(layout.INGEST_LOG):
        import duckdb
        from deltalake import DeltaTable

        con = duckdb.connect()
        con.register("ingest_log", DeltaTable(the_lake.uri(layout.INGEST_LOG)).to_pyarrow_table())
        runs = con.sql(
            "select run_id, min(ingested_at) as started, count(*) as files, sum(records_in) as records_in, "
            "sum(accepted) as accepted, sum(quarantined) as quarantined, "
            "count(*) filter (where status = 'rejected') as rejected_files "
            "from ingest_log group by run_id order by started desc limit 5"
        ).fetchall()
        recent = RichTable(
            "run", "at", "files", "records in", "accepted", "quarantined", "rejected files", title="Last ingest runs"
        )
        for row in runs:
            recent.add_row(row[0], f"{row[1]:%Y-%m-%d %H:%M:%S}", *[f"{v:,}" for v in row[2:]])
        console.print(recent)


@app.command()
def maintain(
    lake: LakeOption = None,
    retention_hours: Annotated[int | None, typer.Option(help="[default: CDP_VACUUM_RETENTION_HOURS]")] = None,
    compact: Annotated[bool, typer.Option(help="Compact small files.")] = True,
) -> None:
    """Compact small files, checkpoint and vacuum every Delta table (Sail has no OPTIMIZE/VACUUM)."""
    from cdp.maintenance import maintain_all

    settings = _settings(lake=lake)
    hours = settings.vacuum_retention_hours if retention_hours is None else retention_hours
    results = maintain_all(Lake(settings.lake_root), retention_hours=hours, compact=compact)
    table = RichTable(
        "table",
        "files before",
        "files after",
        "compacted",
        "vacuumed",
        "version",
        title=f"Maintenance (retention {hours} h)",
    )
    for r in results:
        table.add_row(
            r.table,
            str(r.files_before),
            str(r.files_after),
            str(r.files_compacted),
            str(r.files_vacuumed),
            f"{r.version_before} -> {r.version_after}",
        )
    console.print(table)


@app.command()
def history(
    table: Annotated[str, typer.Argument(help="Table as layer.name, e.g. bronze.events")],
    lake: LakeOption = None,
    limit: Annotated[int, typer.Option(help="Most recent versions to show.")] = 20,
) -> None:
    """The Delta history of one table."""
    from cdp.maintenance import history as table_history

    the_lake = Lake(_settings(lake=lake).lake_root)
    try:
        target = the_lake.table(table)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="TABLE") from None
    if not the_lake.exists(target):
        raise typer.BadParameter(f"no table {table} under {the_lake.root}; see `cdp status`", param_hint="TABLE")
    listing = RichTable("version", "at", "operation", "metrics", title=f"History of {table}")
    for entry in table_history(the_lake, target, limit):
        metrics = ", ".join(f"{k}={v}" for k, v in entry.metrics.items() if k.startswith("num"))
        listing.add_row(str(entry.version), f"{entry.timestamp:%Y-%m-%d %H:%M:%S}", entry.operation, metrics)
    console.print(listing)


@app.command()
def contracts(
    source: Annotated[str | None, typer.Argument(help="One source; default: all.")] = None,
    json_schema: Annotated[bool, typer.Option("--json-schema", help="Print JSON Schema instead of a table.")] = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print the README's Markdown tables.")] = False,
) -> None:
    """Show the landing-zone contract (fields, types, required, accepted values) or print it as JSON Schema."""
    from ingest.contracts import SOURCES, get_source
    from ingest.contracts import json_schema as to_json_schema

    try:
        chosen = [get_source(source)] if source else list(SOURCES.values())
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="SOURCE") from None
    if json_schema:
        console.print_json(json.dumps({c.name: to_json_schema(c) for c in chosen}))
        return
    if markdown:
        from ingest.contracts import markdown as to_markdown

        print("\n\n".join(to_markdown(c) for c in chosen))
        return
    for contract in chosen:
        table = RichTable(
            "field",
            "type",
            "required",
            "accepted values",
            "description",
            title=f"{contract.folder}/ ({', '.join(contract.file_patterns)})",
        )
        for f in contract.fields:
            table.add_row(
                f.name + (f" ({f.json_path})" if f.json_path else ""),
                f.type.value,
                "yes" if f.required else "",
                " ".join(f.accepted_values or ()),
                f.description,
            )
        console.print(table)


features_app = typer.Typer(
    help="Feast features: apply the repo, load the online store, build training sets.", no_args_is_help=True
)
app.add_typer(features_app, name="features")


def _features(settings: Settings):
    from feature_store.store import Features

    return Features(settings)


def _materialize_features(settings: Settings) -> None:
    from feature_store.store import FeatureStoreError

    features = _features(settings)
    try:
        features.apply()
        report = features.materialize()
    except FeatureStoreError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    until = max((end for _, end in report.views.values()), default=None)
    console.print(
        f"features: {len(report.views)} views loaded up to {until or 'nothing new'} in {report.seconds:.1f} s "
        f"({features.describe()})"
    )


@features_app.command("apply")
def features_apply(lake: LakeOption = None) -> None:
    """Register the entities, sources, feature views and services (idempotent) and create the online tables."""
    from feature_store.store import FeatureStoreError

    features = _features(_settings(lake=lake))
    try:
        names = features.apply()
    except FeatureStoreError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    console.print(f"applied {len(names)} objects ({features.describe()}): {', '.join(names)}")


@features_app.command("materialize")
def features_materialize(lake: LakeOption = None, as_of: AsOfOption = None) -> None:
    """Load the online store with every change since the last load, up to --as-of (the build's as_of)."""
    settings = _settings(lake=lake)
    if as_of is not None:
        settings = settings.model_copy(update={"as_of": _parse_as_of(as_of)})
    _materialize_features(settings)


@features_app.command("training-set")
def features_training_set(
    entities: Annotated[
        Path, typer.Option(exists=True, dir_okay=False, help="CSV or Parquet: customer_id, event_timestamp, labels.")
    ],
    service: Annotated[str, typer.Option(help="Feature service, e.g. churn_v1.")],
    out: Annotated[Path, typer.Option(help="Output file, .parquet or .csv.")],
    lake: LakeOption = None,
) -> None:
    """Point-in-time correct features for each (customer_id, event_timestamp) row: only what was known then."""
    import pandas as pd

    from feature_store.store import FeatureStoreError

    if out.suffix not in (".parquet", ".csv"):
        raise typer.BadParameter("write .parquet or .csv", param_hint="--out")
    try:
        rows = pd.read_parquet(entities) if entities.suffix == ".parquet" else pd.read_csv(entities)
    except Exception as exc:
        raise typer.BadParameter(f"cannot read {entities}: {exc}", param_hint="--entities") from None
    try:
        result = _features(_settings(lake=lake)).historical(rows, service)
    except FeatureStoreError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    out.parent.mkdir(parents=True, exist_ok=True)
    result.to_parquet(out, index=False) if out.suffix == ".parquet" else result.to_csv(out, index=False)
    console.print(f"{len(result):,} rows x {len(result.columns)} columns of {service} written to {out}")


@app.command()
def serve(
    lake: LakeOption = None,
    host: Annotated[str | None, typer.Option(help="[default: CDP_API_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="[default: CDP_API_PORT]")] = None,
) -> None:
    """Serve the profile API (OpenAPI docs at /docs; keys from CDP_API_KEYS, see `cdp api-key`) and the CX console at
    /console (users from CDP_CONSOLE_USERS, see `cdp console add-user`)."""
    import uvicorn

    from console.app import mount_console
    from console.users import UsersConfigError
    from feature_store.api import create_app

    settings = _settings(lake=lake)
    if not settings.api_keys:
        console.print("[yellow]no API keys configured (CDP_API_KEYS): every request will get 401[/]")
    if not settings.console_users:
        console.print("[yellow]no console users configured (CDP_CONSOLE_USERS): nobody can log in to /console[/]")
    try:
        served = mount_console(create_app(settings), settings)
    except UsersConfigError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    uvicorn.run(served, host=host or settings.api_host, port=port or settings.api_port)


@app.command("api-key")
def api_key(
    scope: Annotated[list[str], typer.Option("--scope", help="profiles:read, features:read or pii:read (repeat).")],
) -> None:
    """Make a new API key: prints the key once and the CDP_API_KEYS entry (its SHA-256 digest) to configure."""
    from feature_store.auth import digest, new_key, validate_scopes

    try:
        scopes = validate_scopes(scope)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--scope") from None
    key = new_key()
    # Plain prints, one value per line, so scripts can take them (rich would wrap the long key).
    print("API key (shown once; give it to the client):")
    print(key)
    print("Add to CDP_API_KEYS (a JSON object; merge with the keys already there):")
    print(json.dumps({digest(key): scopes}))


app.add_typer(cx_app, name="cx")  # cdp cx cases list|show|update (cx/cli.py)


console_users_app = typer.Typer(help="The CX console's users (served at /console).", no_args_is_help=True)
app.add_typer(console_users_app, name="console")


@console_users_app.command("add-user")
def console_add_user(
    username: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[str, typer.Option(help="executive, cx_analyst, agent, marketer or admin.")],
    queue: Annotated[str | None, typer.Option(help="An agent's case queue [default: every queue].")] = None,
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True, help="Asked for when not given.")
    ] = "",
) -> None:
    """Hash a console password (Argon2id) and print the CDP_CONSOLE_USERS entry to configure; nothing is stored."""
    from console.access import ROLES
    from console.users import hash_password

    if role not in ROLES:
        raise typer.BadParameter(f"one of {', '.join(ROLES)}", param_hint="--role")
    try:
        entry = {"role": role, "password_hash": hash_password(password)}
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--password") from None
    if queue:
        entry["queue"] = queue
    print("Add to CDP_CONSOLE_USERS (a JSON object; merge with the users already there):")
    print(json.dumps({username: entry}))


if __name__ == "__main__":
    app()
