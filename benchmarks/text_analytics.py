"""CX text analytics: sentiment, topics and language on the hand-labelled sample, with baselines in the same run.

    .venv/bin/python benchmarks/text_analytics.py

Reads ``tests/data/cx_text_labelled.csv`` (texts written for this sample, not the generator's templates: each with
its language, sentiment and topics) and prints, per language:

- sentiment accuracy and macro-F1 of ``cx.text_analytics.sentiment`` against two baselines: the majority class, and a
  naive keyword count (a few dozen positive and negative words per language, no negation, no emoji);
- topic precision and recall (micro over text x topic) of ``cx.text_analytics.topics`` against a baseline that looks
  for the topic's own name only ("delivery", "refund", "giao hàng", "hoàn tiền", ...);
- language detection accuracy;

then sentiment accuracy on the generator's texts (``synthetic_data/text.py``: every template with the tone it was
written for: promoter -> positive, passive -> neutral, detractor -> negative; ticket bodies neutral/negative/angry),
and throughput of ``analyse`` (language + sentiment + topics + key phrases) against the keyword baseline and against
the first implementation ("before": key phrases by YAKE, topics one regex per keyword), with how far the two agree
(topics must be identical; key phrases: share of YAKE's phrases that RAKE also returns, and of their words).

With ``--landing`` (a folder written by ``cdp generate``) it also times ``cx.text_insights.insights_table``, what the
dbt model runs, on every survey comment and ticket of that landing zone: a first build (every text analysed), a
rebuild with nothing changed, and a rebuild after 1% of the texts changed; the first build in one process and in one
worker process per core; and the first implementation's rate on a sample of the distinct texts (side by side).

    .venv/bin/cdp generate --customers 10000 --out /tmp/cxgen/landing
    .venv/bin/python benchmarks/text_analytics.py --landing /tmp/cxgen/landing
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import time
from collections import Counter
from functools import lru_cache
from pathlib import Path

from sklearn.metrics import accuracy_score, f1_score

from cx import text_analytics
from cx.text_analytics import NEUTRAL_BAND, analyse, detect_language, sentiment, topics

SAMPLE = Path(__file__).resolve().parents[1] / "tests" / "data" / "cx_text_labelled.csv"
LABELS = ["negative", "neutral", "positive"]

# The naive baseline: words a person would list first, counted without negation, intensifiers or emoji.
NAIVE_WORDS = {
    "positive": "good great love excellent amazing perfect thanks thank happy fast quick friendly helpful nice "
    "recommend tốt tuyệt hài lòng thích nhanh nhiệt tình cảm ơn đẹp ưng ổn ủng hộ chu đáo xịn",
    "negative": "bad terrible awful worst late slow broken damaged never rude disappointed not no wrong missing "
    "still unacceptable tệ chậm hỏng lỗi thất vọng không chưa trễ vỡ sai bực tồi quá tệ lừa đảo",
}
NAIVE_TOPICS = {
    "delivery": ["delivery", "giao hàng"],
    "refund": ["refund", "hoàn tiền"],
    "product_quality": ["quality", "chất lượng"],
    "staff": ["staff", "nhân viên"],
    "price": ["price", "giá"],
    "app_web": ["app", "website"],
    "waiting_time": ["wait", "chờ"],
    "store": ["store", "cửa hàng"],
    "packaging": ["packaging", "đóng gói"],
}


def naive_sentiment(text: str) -> str:
    lowered = text.lower()
    score = sum(
        (1 if label == "positive" else -1) * len(re.findall(rf"(?<!\w){re.escape(w)}(?!\w)", lowered))
        for label, words in NAIVE_WORDS.items()
        for w in words.split()
    )
    return "positive" if score > 0 else "negative" if score < 0 else "neutral"


def naive_topics(text: str) -> list[str]:
    lowered = text.lower()
    return [t for t, words in NAIVE_TOPICS.items() if any(w in lowered for w in words)]


def load_sample(path: Path = SAMPLE) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        row["topic_set"] = {t for t in row["topics"].split(";") if t}
    return rows


def topic_scores(rows: list[dict], predict) -> tuple[float, float, int]:
    tp = fp = fn = 0
    for row in rows:
        predicted, truth = set(predict(row["text"])), row["topic_set"]
        tp, fp, fn = tp + len(predicted & truth), fp + len(predicted - truth), fn + len(truth - predicted)
    return tp / max(1, tp + fp), tp / max(1, tp + fn), tp + fn


def per_topic(rows: list[dict]) -> list[tuple[str, float, float, int]]:
    names = sorted({t for r in rows for t in r["topic_set"]})
    out = []
    for name in names:
        tp = fp = fn = 0
        for row in rows:
            hit, truth = name in topics(row["text"]), name in row["topic_set"]
            tp, fp, fn = tp + (hit and truth), fp + (hit and not truth), fn + (truth and not hit)
        out.append((name, tp / max(1, tp + fp), tp / max(1, tp + fn), tp + fn))
    return out


def sentiment_line(name: str, truth: list[str], predicted: list[str]) -> str:
    accuracy = accuracy_score(truth, predicted)
    macro_f1 = f1_score(truth, predicted, labels=LABELS, average="macro", zero_division=0)
    return f"  {name:<22} accuracy {accuracy:.3f}   macro-F1 {macro_f1:.3f}"


def generator_texts() -> list[tuple[str, str, str]]:
    """(text, expected sentiment, kind) for every template of the generator, filled in."""
    from synthetic_data import text as gen

    tone_label = {"promoter": "positive", "passive": "neutral", "detractor": "negative"}
    out = []
    for tone, by_lang in gen.COMMENTS.items():
        for templates in by_lang.values():
            out += [(t, tone_label[tone], "comment") for t in templates]
    for tone, templates in gen.MIXED_COMMENTS.items():
        out += [(t, tone_label[tone], "mixed comment") for t in templates]
    for tone, templates in gen.EMOJI_COMMENTS.items():
        out += [(t, tone_label[tone], "emoji comment") for t in templates]
    fill = {"order": "SO-0001-000017", "days": 5, "count": 3}
    for by_lang in gen.NEUTRAL_BODIES.values():
        for templates in by_lang.values():
            out += [(t.format(**fill), "neutral", "ticket body") for t in templates]
    for by_lang in gen.TICKET_BODIES.values():
        for templates in by_lang.values():
            out += [(t.format(**fill), "negative", "ticket body") for t in templates]
    return out


# --- the first implementation, kept here as the baseline: YAKE key phrases, topics one regex per keyword ---------


@lru_cache(maxsize=4)
def _yake_extractor(language: str):
    import yake

    stopwords = set(text_analytics._phrase_stopwords(language))
    return yake.KeywordExtractor(lan="en", n=3, dedup_lim=0.7, top=text_analytics.TOP_KEY_PHRASES * 3,
                                 stopwords=stopwords)  # fmt: skip


def yake_key_phrases(text: str | None, language: str | None = None, top: int = 3) -> list[str]:
    ta = text_analytics
    clean = ta._MASK.sub(" , ", ta.mask_pii(ta.normalise(text)))
    _, clean = ta.emoji_valence(clean)
    if not ta._WORD.search(clean):
        return []
    language = language or ta.detect_language(clean)
    phrases: list[str] = []
    for phrase, _score in _yake_extractor(language).extract_keywords(clean):
        phrase = phrase.lower().strip()
        if any(ch.isdigit() for ch in phrase) or not 3 <= len(phrase) <= 60:
            continue
        if phrase in phrases or (language != "en" and " " not in phrase and ta.has_vietnamese_letters(phrase)):
            continue
        phrases.append(phrase)
        if len(phrases) == top:
            break
    return phrases


def topics_per_keyword(text: str | None) -> list[str]:
    clean = text_analytics.normalise(text).lower()
    if not clean:
        return []
    stripped = text_analytics.strip_diacritics(clean)
    return [
        t.name
        for t in text_analytics._topics()
        if any(p.search(clean) for p in t.patterns) or any(p.search(stripped) for p in t.unaccented_patterns)
    ]


def analyse_before(text: str | None) -> text_analytics.TextInsight:
    length = len(text) if text else 0
    clean = text_analytics.normalise(text)
    language = detect_language(clean)
    mood = sentiment(clean, language)
    return text_analytics.TextInsight(language=language, sentiment_label=mood.label, sentiment_score=mood.score,
                                      topics=topics_per_keyword(clean), key_phrases=yake_key_phrases(clean, language),
                                      text_length=length)  # fmt: skip


def throughput(function, texts: list[str], repeat: int) -> float:
    started = time.perf_counter()
    for _ in range(repeat):
        for text in texts:
            function(text)
    return len(texts) * repeat / (time.perf_counter() - started)


def phrase_agreement(texts: list[str]) -> tuple[float, float]:
    """(share of YAKE's phrases RAKE also returns, share of the words of YAKE's phrases in RAKE's phrases)."""
    same = words_same = total = words_total = 0
    for text in texts:
        language = detect_language(text)
        before, after = yake_key_phrases(text, language), text_analytics.key_phrases(text, language)
        after_words = {w for p in after for w in p.split()}
        total += len(before)
        same += sum(p in after for p in before)
        before_words = {w for p in before for w in p.split()}
        words_total += len(before_words)
        words_same += len(before_words & after_words)
    return same / max(1, total), words_same / max(1, words_total)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="passes over the sample for the throughput figure")
    parser.add_argument("--landing", type=Path, help="a generated landing folder: time the model's work on its texts")
    parser.add_argument("--before-sample", type=int, default=500, help="distinct texts the first implementation is "
                        "timed on in the --landing run (it needs ~20 ms a text)")  # fmt: skip
    args = parser.parse_args()
    rows = load_sample()
    by_language = dict(Counter(r["language"] for r in rows))
    print(f"sample: {SAMPLE.relative_to(SAMPLE.parents[2])}, {len(rows)} texts {by_language}")
    print(f"load (uptime): {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    print(f"neutral band |score| < {NEUTRAL_BAND}\n")

    for language in ("en", "vi", "mixed"):
        subset = [r for r in rows if r["language"] == language]
        truth = [r["sentiment"] for r in subset]
        majority = Counter(truth).most_common(1)[0][0]
        print(f"[{language}] {len(subset)} texts, sentiment {dict(Counter(truth))}")
        print(sentiment_line("majority class", truth, [majority] * len(truth)))
        print(sentiment_line("naive keywords", truth, [naive_sentiment(r["text"]) for r in subset]))
        print(sentiment_line("cx.text_analytics", truth, [sentiment(r["text"]).label for r in subset]))
        p, r_, n = topic_scores(subset, naive_topics)
        print(f"  topics ({n} labels)      baseline  precision {p:.3f} recall {r_:.3f}")
        p, r_, n = topic_scores(subset, topics)
        print(f"                          taxonomy  precision {p:.3f} recall {r_:.3f}")
        detected = [detect_language(r["text"]) for r in subset]
        # emoji-only texts carry no language: "unknown" is right for them
        expected = [language if re.search(r"[^\W\d_]", r["text"]) else "unknown" for r in subset]
        print(f"  language detection       accuracy {accuracy_score(expected, detected):.3f}\n")

    print("topics, both languages and mixed (precision / recall / labels):")
    for name, p, r_, n in per_topic(rows):
        print(f"  {name:<16} {p:.3f} / {r_:.3f} / {n}")

    generated = generator_texts()
    truth = [label for _, label, _ in generated]
    print(f"\ngenerator's texts (synthetic_data/text.py, planted tone): {len(generated)} templates")
    print(sentiment_line("majority class", truth, [Counter(truth).most_common(1)[0][0]] * len(truth)))
    print(sentiment_line("naive keywords", truth, [naive_sentiment(t) for t, _, _ in generated]))
    print(sentiment_line("cx.text_analytics", truth, [sentiment(t).label for t, _, _ in generated]))

    texts = [r["text"] for r in rows]
    all_texts = texts + [t for t, _, _ in generated]
    topics_differ = sum(topics(t) != topics_per_keyword(t) for t in all_texts)
    exact, words = phrase_agreement(all_texts)
    print(f"\nbefore vs now on {len(all_texts)} texts (sample + templates): topics differ on {topics_differ}; "
          f"key phrases: {exact:.0%} of YAKE's phrases returned as such, {words:.0%} of their words")  # fmt: skip
    for text in ("Vietnamese vi", "English en"):  # load the lexicons, VADER and YAKE once, outside the timing
        analyse(text), analyse_before(text), analyse("Giao hàng chậm"), analyse_before("Giao hàng chậm")
    # interleaved (now, before, now, ...) so that both see the same load
    rates: dict[str, list[float]] = {"now": [], "before": [], "sentiment": [], "naive": []}
    for _ in range(args.repeat):
        rates["now"].append(throughput(analyse, texts, 1))
        rates["before"].append(throughput(analyse_before, texts, 1))
        rates["sentiment"].append(throughput(sentiment, texts, 1))
        rates["naive"].append(throughput(naive_sentiment, texts, 1))
    median = {name: sorted(values)[len(values) // 2] for name, values in rates.items()}
    print(f"\nthroughput (one core, {len(texts)} texts x {args.repeat} interleaved passes, median pass): "
          f"analyse {median['now']:,.0f} texts/s, before (YAKE, per-keyword topics) {median['before']:,.0f} texts/s "
          f"(x{median['now'] / median['before']:.1f}); sentiment only {median['sentiment']:,.0f} texts/s, "
          f"naive keywords {median['naive']:,.0f} texts/s")  # fmt: skip
    print(f"load (uptime) after: {os.getloadavg()[0]:.2f}")
    if args.landing:
        time_model(args.landing, args.before_sample)


def landing_texts(landing: Path):
    """The texts the dbt model reads, straight from a generated landing zone (comment; subject + body)."""
    import duckdb
    import pyarrow as pa

    con = duckdb.connect()
    survey_rows = []  # the generator's CSV is deliberately messy: Python's csv module reads what the ingest reads
    for path in sorted((landing / "survey_responses").glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                if (row.get("comment") or "").strip():
                    survey_rows.append({"source": "survey_responses", "source_id": row["response_id"],
                                        "text": row["comment"], "written_at": None})  # fmt: skip
    surveys = pa.Table.from_pylist(
        survey_rows,
        pa.schema(
            [("source", pa.string()), ("source_id", pa.string()), ("text", pa.string()), ("written_at", pa.string())]
        ),
    )
    tickets = con.sql(
        f"select 'support_tickets' as source, ticket_id as source_id, "
        f"concat_ws(chr(10), nullif(trim(subject), ''), nullif(trim(body), '')) as text, "
        f"cast(null as varchar) as written_at from read_json_auto('{landing}/support_tickets/*.jsonl*')"
    ).to_arrow_table()
    # written_at is left out: the landing zone's timestamps are messy on purpose (the ingest parses them)
    return (
        pa.concat_tables([surveys, tickets.cast(surveys.schema)])
        .drop_columns(["written_at"])
        .append_column("written_at", pa.nulls(surveys.num_rows + tickets.num_rows, pa.timestamp("us", tz="UTC")))
    )


def time_model(landing: Path, before_sample: int) -> None:
    from datetime import UTC, datetime

    import pyarrow as pa
    import pyarrow.compute as pc

    from cx.text_insights import ANALYSIS_COLUMNS, insights_table
    from spark_jobs import processes

    texts = landing_texts(landing)
    distinct = list(dict.fromkeys(texts.column("text").to_pylist()))
    print(f"\nmodel work on {landing}: {texts.num_rows:,} texts ({len(distinct):,} distinct)")
    # before: the first implementation analysed each distinct text in one process; timed on a sample of them
    sample = distinct[:: max(1, len(distinct) // before_sample)][:before_sample]
    started = time.perf_counter()
    for text in sample:
        analyse_before(text), text_analytics.mask_pii(text)
    before_rate = len(sample) / (time.perf_counter() - started)
    before_full = len(distinct) / before_rate
    print(f"  before (YAKE, one process), {len(sample)} distinct texts timed: {before_rate:,.0f} texts/s, "
          f"so a first build would take {before_full:.1f} s")  # fmt: skip
    at = datetime.now(UTC)
    timings: dict[str, float] = {}
    first = None
    for workers in (1, processes.default_workers()):
        started = time.perf_counter()
        first = insights_table(texts, None, analysed_at=at, workers=workers)
        timings[f"first build, {workers} process(es)"] = time.perf_counter() - started
        processes.shutdown()
    assert first is not None
    previous = first.select(["source", "source_id", "text_hash", "analyser_version", *ANALYSIS_COLUMNS])
    started = time.perf_counter()
    insights_table(texts, previous, analysed_at=at)
    timings["unchanged rebuild"] = time.perf_counter() - started
    changed = [t + f" (edit {i})" if i % 100 == 0 else t for i, t in enumerate(texts.column("text").to_pylist())]
    texts_1pct = texts.set_column(texts.schema.get_field_index("text"), "text", pa.array(changed, pa.string()))
    started = time.perf_counter()
    second = insights_table(texts_1pct, previous, analysed_at=at)
    timings["1% changed"] = time.perf_counter() - started
    processes.shutdown()
    negative = pc.sum(pc.equal(second.column("sentiment_label"), "negative")).as_py()
    for name, seconds in timings.items():
        print(f"  {name:<28} {seconds:6.1f} s  ({texts.num_rows / seconds:,.0f} texts/s, "
              f"x{before_full / seconds:.1f} against before)")  # fmt: skip
    print(f"  negative texts {negative:,}; load (uptime): {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
