"""The rows of ``gold.cx_text_insights``: texts in, analyses out, re-using the analyses of texts seen before.

Called by the incremental dbt Python model ``int_cx__text_analyses``; kept here so that it runs and tests without
dbt. A text is re-analysed only when it is new, when its text changed (``text_hash``) or when the analyser changed
(``analyser_version``: a hash of the lexicons, the topic taxonomy, this code and the library versions).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path

import duckdb
import pyarrow as pa

from cx import text_analytics
from cx.text_analytics import TextInsight, analyse, mask_pii, normalise
from spark_jobs import processes

SCHEMA = pa.schema(
    [
        ("text_key", pa.string()),  # source:source_id, the primary key
        ("source", pa.string()),
        ("source_id", pa.string()),
        ("language", pa.string()),
        ("sentiment_label", pa.string()),
        ("sentiment_score", pa.float64()),
        ("topics", pa.list_(pa.string())),
        ("key_phrases", pa.list_(pa.string())),
        ("text_length", pa.int32()),
        ("masked_text", pa.string()),
        ("written_at", pa.timestamp("us", tz="UTC")),
        ("text_hash", pa.string()),
        ("analyser_version", pa.string()),
        ("analysed_at", pa.timestamp("us", tz="UTC")),
    ]
)
ANALYSIS_COLUMNS = [
    "language",
    "sentiment_label",
    "sentiment_score",
    "topics",
    "key_phrases",
    "masked_text",
    "analysed_at",
]
_MASKED_TEXT_CHARS = 1000  # the console shows a verbatim, not a whole e-mail thread


def parse_as_of(text: str) -> datetime:
    """The build's as_of (ISO-8601, UTC when it has no zone); now when empty."""
    if not text:
        return datetime.now(UTC)
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def text_hash(text: str | None) -> str:
    return hashlib.sha256(normalise(text).encode("utf-8")).hexdigest()[:32]


@lru_cache(maxsize=1)
def analyser_version() -> str:
    """Changes whenever anything that decides an analysis changes: then every text is analysed again."""
    digest = hashlib.sha256()
    lexicons = sorted(text_analytics.LEXICON_DIR.glob("*.yaml"))
    for path in [Path(text_analytics.__file__), text_analytics.TOPICS_FILE, *lexicons]:
        digest.update(path.read_bytes())
    for package in ("vaderSentiment", "yake", "phonenumbers"):
        digest.update(version(package).encode())
    digest.update(str(text_analytics.MAX_TEXT_CHARS).encode())
    return digest.hexdigest()[:12]


def previous_insights(path: str) -> pa.Table | None:
    """The analyses already in the lake (None before the first build or when the table's columns changed)."""
    if not (Path(path) / "_delta_log").is_dir():
        return None
    from deltalake import DeltaTable

    table = DeltaTable(path)
    names = {f.name for f in table.schema().fields}
    wanted = ["source", "source_id", "text_hash", "analyser_version", *ANALYSIS_COLUMNS]
    if not set(wanted) <= names:
        return None
    return table.to_pyarrow_table(columns=wanted)


def analyse_texts(texts: list[str | None]) -> list[tuple[TextInsight, str]]:
    """(analysis, masked verbatim) of each text: the unit of work a worker process runs."""
    return [(analyse(text), mask_pii(normalise(text)[:_MASKED_TEXT_CHARS])) for text in texts]


def insights_table(
    texts: pa.Table | pa.RecordBatchReader,
    previous: pa.Table | str | None,
    *,
    analysed_at: datetime,
    workers: int = 1,
    con: duckdb.DuckDBPyConnection | None = None,
) -> pa.Table:
    """One row per (source, source_id) of ``texts`` (columns source, source_id, text, written_at), in their order.

    ``previous``: earlier analyses (columns source, source_id, text_hash, analyser_version and ANALYSIS_COLUMNS), as
    an Arrow table or as the name of a table that ``con`` reads (the dbt model's own last result). A text whose hash
    and analyser version match its previous row keeps that row's analysis; the others are analysed, each distinct
    text once. The match is a DuckDB join, so only the texts to analyse become Python objects (matching 25,000
    unchanged texts row by row in Python took longer than analysing them: BENCHMARKS.md, issue 5).

    ``workers`` > 1 spreads the texts over that many processes (``spark_jobs.processes``; the caller ends them with
    ``processes.shutdown()``), with the same rows; the dbt model keeps one: on the shared 2-core machine two workers
    were slower than one process even for 18,000 distinct texts (BENCHMARKS.md, "CX text analytics")."""

    if isinstance(texts, pa.RecordBatchReader):
        texts = texts.read_all()
    values = texts.column("text").to_pylist()
    keyed = pa.table(
        {
            "row_number": pa.array(range(texts.num_rows), pa.int64()),
            "source": texts.column("source").cast(pa.string()),
            "source_id": texts.column("source_id").cast(pa.string()),
            "text_length": pa.array([len(value or "") for value in values], pa.int32()),
            "written_at": texts.column("written_at").cast(pa.timestamp("us", tz="UTC")),
            "text_hash": pa.array([text_hash(value) for value in values], pa.string()),
            "text": texts.column("text").cast(pa.string()),
        }
    )
    # a cursor of the caller's database: its own registrations, and it sees the dbt model's last committed table
    cursor = (con if con is not None else duckdb.connect()).cursor()
    cursor.register("cx_texts_in", keyed)
    kept_columns = ", ".join(f"p.{name}" for name in ANALYSIS_COLUMNS)
    if previous is None:  # nothing to keep: an empty table of the same columns
        previous = SCHEMA.empty_table().select(["source", "source_id", "text_hash", "analyser_version",
                                                *ANALYSIS_COLUMNS])  # fmt: skip
    if isinstance(previous, pa.Table):
        cursor.register("cx_previous_in", previous)
        previous = "cx_previous_in"
    # analyser_version() is a hex digest and `previous` a relation name of ours: nothing to quote
    kept = cursor.sql(
        f"""select t.source, t.source_id, {kept_columns} from cx_texts_in t join {previous} p
            on p.source = t.source and p.source_id = t.source_id and p.text_hash = t.text_hash
            and p.analyser_version = '{analyser_version()}'"""
    ).to_arrow_table()
    cursor.register("cx_kept", kept)
    to_analyse = cursor.sql(
        "select distinct on (text_hash) text_hash, text from cx_texts_in t "
        "where not exists (select 1 from cx_kept k where k.source = t.source and k.source_id = t.source_id) "
        "order by text_hash"
    ).to_arrow_table()
    analysed = processes.parallel_map(analyse_texts, to_analyse.column("text").to_pylist(), workers)
    fresh = pa.table(
        {
            "text_hash": to_analyse.column("text_hash"),
            "language": pa.array([insight.language for insight, _ in analysed], pa.string()),
            "sentiment_label": pa.array([insight.sentiment_label for insight, _ in analysed], pa.string()),
            "sentiment_score": pa.array([insight.sentiment_score for insight, _ in analysed], pa.float64()),
            "topics": pa.array([insight.topics for insight, _ in analysed], pa.list_(pa.string())),
            "key_phrases": pa.array([insight.key_phrases for insight, _ in analysed], pa.list_(pa.string())),
            "masked_text": pa.array([masked for _, masked in analysed], pa.string()),
        }
    )
    cursor.register("cx_fresh", fresh)
    has_kept = "k.source is not null"
    chosen = ", ".join(
        f"case when {has_kept} then k.{name} else f.{name} end as {name}" for name in ANALYSIS_COLUMNS[:-1]
    )
    now = analysed_at.astimezone(UTC).isoformat()  # a literal: a bound parameter made DuckDB plan this 3x slower
    result = cursor.sql(
        f"""select t.source || ':' || t.source_id as text_key, t.source, t.source_id, {chosen},
                case when {has_kept} then k.analysed_at else '{now}'::timestamptz end as analysed_at,
                t.text_length, t.written_at, t.text_hash, '{analyser_version()}' as analyser_version
            from cx_texts_in t
            left join cx_kept k on k.source = t.source and k.source_id = t.source_id
            left join cx_fresh f on f.text_hash = t.text_hash  -- an equi-join (an `and k...` made it a loop)
            order by t.row_number""",
    ).to_arrow_table()
    return result.select(SCHEMA.names).cast(SCHEMA)
