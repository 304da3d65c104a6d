"""The rows of ``gold.cx_text_insights``: texts in, analyses out, re-using the analyses of texts seen before.

Called by the dbt Python model ``models/marts/cx/cx_text_insights.py``; kept here so that it runs and tests without
dbt. A text is re-analysed only when it is new, when its text changed (``text_hash``) or when the analyser changed
(``analyser_version``: a hash of the lexicons, the topic taxonomy, this code and the library versions).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path

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
    previous: pa.Table | None,
    *,
    analysed_at: datetime,
    workers: int = 1,
) -> pa.Table:
    """One row per (source, source_id) of ``texts`` (columns source, source_id, text, written_at).

    Each distinct text to analyse is analysed once. ``workers`` > 1 spreads them over that many processes
    (``spark_jobs.processes``; the caller ends them with ``processes.shutdown()``), with the same rows; the dbt model
    keeps one: on the shared 2-core machine two workers were slower than one process even for 18,000 distinct
    texts (BENCHMARKS.md, "CX text analytics")."""

    if isinstance(texts, pa.RecordBatchReader):
        texts = texts.read_all()
    current = analyser_version()
    kept: dict[tuple[str, str], tuple[str, dict]] = {}
    if previous is not None:
        for row in previous.to_pylist():
            if row["analyser_version"] == current:
                kept[(row["source"], row["source_id"])] = (row["text_hash"], row)
    rows = texts.to_pylist()
    digests = [text_hash(row["text"]) for row in rows]
    # the texts to analyse, each distinct text once (generated and templated texts repeat a lot)
    to_analyse: dict[str, str | None] = {}
    for row, digest in zip(rows, digests, strict=True):
        previous_row = kept.get((row["source"], row["source_id"]))
        if (previous_row is None or previous_row[0] != digest) and digest not in to_analyse:
            to_analyse[digest] = row["text"]
    analysed = processes.parallel_map(analyse_texts, list(to_analyse.values()), workers)
    fresh = dict(zip(to_analyse, analysed, strict=True))
    columns: dict[str, list] = {name: [] for name in SCHEMA.names}
    for row, digest in zip(rows, digests, strict=True):
        previous_row = kept.get((row["source"], row["source_id"]))
        if previous_row is not None and previous_row[0] == digest:
            analysis = {name: previous_row[1][name] for name in ANALYSIS_COLUMNS}
        else:
            insight, masked_text = fresh[digest]
            analysis = {
                "language": insight.language,
                "sentiment_label": insight.sentiment_label,
                "sentiment_score": insight.sentiment_score,
                "topics": insight.topics,
                "key_phrases": insight.key_phrases,
                "masked_text": masked_text,
                "analysed_at": analysed_at,
            }
        values = {
            "text_key": f"{row['source']}:{row['source_id']}",
            "source": row["source"],
            "source_id": row["source_id"],
            "text_length": len(row["text"] or ""),
            "written_at": row["written_at"],
            "text_hash": digest,
            "analyser_version": current,
            **analysis,
        }
        for name in SCHEMA.names:
            columns[name].append(values[name])
    return pa.table(columns, schema=SCHEMA)
