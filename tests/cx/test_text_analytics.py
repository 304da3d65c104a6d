"""The text analytics functions on inline texts, English and Vietnamese, and the edge cases of issue 8."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from cx.text_analytics import (
    MAX_TEXT_CHARS,
    LexiconError,
    ViLexicon,
    analyse,
    detect_language,
    key_phrases,
    load_topics,
    mask_pii,
    sentiment,
    topics,
)
from cx.text_insights import analyser_version, insights_table, text_hash


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Giao hàng nhanh, sản phẩm tốt!", "vi"),
        ("giao hang cham qua, doi 1 tuan moi nhan duoc", "vi"),  # typed without diacritics
        ("Delivery was late and nobody answered my messages.", "en"),
        ("Ship chậm quá, really disappointed", "mixed"),
        ("Shop rất ok, giao hàng nhanh", "vi"),  # loanwords do not make it mixed
        ("😡😡😡", "unknown"),
        ("12345", "unknown"),
        ("", "unknown"),
        (None, "unknown"),
    ],
)
def test_language(text, language):
    assert detect_language(text) == language


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Great staff, fast delivery!", "positive"),
        ("Delivery was late and nobody answered my messages.", "negative"),
        ("The product is not good", "negative"),
        ("Could you tell me when my order will arrive?", "neutral"),
        ("Giao hàng nhanh, sản phẩm tốt!", "positive"),
        ("Giao hàng quá chậm, rất thất vọng.", "negative"),
        ("Sản phẩm không tốt", "negative"),  # negation flips "tốt"
        ("Không tệ chút nào", "positive"),  # and "tệ"
        ("Không hài lòng", "negative"),  # a phrase that holds its negator is scored as written
        ("san pham bi loi, rat that vong", "negative"),  # unaccented
        ("Cho mình hỏi đơn hàng khi nào giao ạ?", "neutral"),
        ("Hàng lỗi, refund chậm 😡", "negative"),  # mixed
        ("😡", "negative"),  # emoji carry sentiment
        ("😊", "positive"),
        ("👎", "negative"),
    ],
)
def test_sentiment_labels(text, label):
    assert sentiment(text).label == label


def test_intensifiers_and_contrast_move_the_score():
    assert sentiment("Rất tốt").score > sentiment("Tốt").score > sentiment("Hơi tốt").score > 0
    assert sentiment("Quá tệ").score < sentiment("Tệ").score < 0
    # the clause after "nhưng" weighs more than the one before it
    assert sentiment("Nhân viên nhiệt tình nhưng giao hàng quá chậm").label == "negative"
    assert sentiment("Giao hàng quá chậm nhưng nhân viên rất nhiệt tình").label == "positive"
    assert sentiment("😡😡😡").score < sentiment("😡").score < 0  # repetition adds, less each time


@pytest.mark.parametrize("text", [None, "", "   \n\t ", "12345"])
def test_empty_and_meaningless_texts_are_neutral_without_topics(text):
    insight = analyse(text)
    assert (insight.sentiment_label, insight.sentiment_score, insight.topics, insight.key_phrases) == (
        "neutral",
        0.0,
        [],
        [],
    )


def test_scores_stay_in_range():
    for text in ["TERRIBLE!!!! WORST SHOP EVER 😡😡😡🤬🤬", "Tuyệt vời!!! Xuất sắc 😍😍😍 rất rất hài lòng", "ok"]:
        assert -1.0 <= sentiment(text).score <= 1.0


def test_very_long_text_is_truncated_but_its_length_kept():
    text = "Giao hàng quá chậm, rất thất vọng. " + "bla " * 5000
    insight = analyse(text)

    assert insight.text_length == len(text) > MAX_TEXT_CHARS
    assert insight.sentiment_label == "negative"
    assert all(len(p) <= 60 for p in insight.key_phrases)


def test_topics_in_both_languages_and_unaccented():
    assert topics("Still waiting for my refund after two weeks") == ["refund", "waiting_time"]
    assert topics("Chưa nhận được tiền hoàn, app báo lỗi thanh toán") == ["delivery", "refund", "app_web"]
    assert "delivery" in topics("giao hang cham qua")
    assert topics("Nhân viên thái độ khó chịu") == ["staff"]
    assert topics("Thank you!") == []


def test_key_phrases_are_short_masked_and_free_of_ids():
    phrases = key_phrases("Order SO-0001-000017 arrived damaged, call me on 0912 345 678 about the replacement")

    assert phrases and len(phrases) <= 3
    assert not any(ch.isdigit() for p in phrases for ch in p)
    assert not any("phone" in p for p in phrases)
    assert key_phrases("👍👍") == []
    vi = key_phrases("Giao hàng quá chậm, nhân viên không nhiệt tình")
    assert "giao hàng" in " | ".join(vi)
    assert all(" " in p for p in vi)  # no lone Vietnamese syllable


def test_key_phrases_are_runs_of_content_words_scored_by_rake():
    # stop words and punctuation end a phrase; the longer run scores more than a lone word
    assert key_phrases("The delivery driver was rude and the parcel arrived broken") == [
        "parcel arrived broken",
        "delivery driver",
        "rude",
    ]
    # a run of more than three words gives windows that never overlap and cover its tail
    run = "giao hàng chậm nhân viên thái độ kém"
    long_run = key_phrases(run, "vi")
    assert all(2 <= len(p.split()) <= 3 for p in long_run)
    assert sorted(w for p in long_run for w in p.split()) == sorted(run.split(" "))
    # a text's phrases depend on that text only (not on what else was analysed before it)
    text = "Refund still pending, support never answers"
    alone = key_phrases(text, "en")
    for other in ("refund refund refund", "Giao hàng chậm quá", "support support"):
        key_phrases(other)
    assert key_phrases(text, "en") == alone


def test_topics_match_what_the_per_keyword_regexes_match():
    # the keyword index is a shortcut: it must find exactly what running every keyword's regex finds
    import csv

    from cx.text_analytics import _topics, normalise, strip_diacritics

    sample = Path(__file__).parents[1] / "data" / "cx_text_labelled.csv"
    with sample.open(encoding="utf-8", newline="") as handle:
        texts = [row["text"] for row in csv.DictReader(handle)]
    texts += ["in-store pickup failed", "it doesn't work", "refunded twice", "giao hang cham qua", "REFUNDS!!"]
    for text in texts:
        clean = normalise(text).lower()
        stripped = strip_diacritics(clean)
        expected = [
            t.name
            for t in _topics()
            if any(p.search(clean) for p in t.patterns) or any(p.search(stripped) for p in t.unaccented_patterns)
        ]
        assert topics(text) == expected, text


def test_mask_pii_masks_emails_and_phones_and_keeps_order_ids():
    masked = mask_pii("Gọi 0912.345.678 hoặc +84 912 345 678, mail lan.nguyen@gmail.com, đơn SO-0001-000017")

    assert masked == "Gọi [phone] hoặc [phone], mail [email], đơn SO-0001-000017"
    assert mask_pii("call +44 20 7946 0958") == "call [phone]"
    assert mask_pii("Ticket TCK-0003-000042, 3 items, 250000 VND") == "Ticket TCK-0003-000042, 3 items, 250000 VND"
    assert mask_pii(None) == ""


def test_taxonomy_errors_name_the_field(tmp_path: Path):
    bad = tmp_path / "topics.yaml"
    bad.write_text("topics:\n  delivery:\n    en: [late]\n", encoding="utf-8")
    with pytest.raises(LexiconError, match=r"topics\.delivery\.label"):
        load_topics(bad)
    bad.write_text("topics:\n  delivery:\n    label: Delivery\n    en: [late, '']\n", encoding="utf-8")
    with pytest.raises(LexiconError, match=r"topics\.delivery\.en"):
        load_topics(bad)
    lexicon = tmp_path / "vi.yaml"
    lexicon.write_text("valences:\n  tốt: 9\n", encoding="utf-8")
    with pytest.raises(LexiconError, match=r"valences\.tốt"):
        ViLexicon.from_file(lexicon)


def test_a_custom_taxonomy_is_used(tmp_path: Path):
    path = tmp_path / "topics.yaml"
    path.write_text("topics:\n  loyalty:\n    label: Loyalty\n    en: [point*]\n    vi: [tích điểm]\n", "utf-8")
    taxonomy = load_topics(path)

    assert topics("Where are my points?", taxonomy) == ["loyalty"]
    assert topics("Quên tich diem roi", taxonomy) == ["loyalty"]  # unaccented phrase
    assert topics("Late delivery", taxonomy) == []


def test_insights_table_reuses_unchanged_analyses():
    first_at, second_at = datetime(2025, 7, 1, tzinfo=UTC), datetime(2025, 7, 8, tzinfo=UTC)
    rows = [
        {"source": "survey_responses", "source_id": "SR-1", "text": "Tệ quá", "written_at": first_at},
        {"source": "support_tickets", "source_id": "T-1", "text": "Refund please", "written_at": first_at},
    ]
    first = insights_table(pa.Table.from_pylist(rows), None, analysed_at=first_at)
    previous = first.select(["source", "source_id", "text_hash", "analyser_version", "language", "sentiment_label",
                             "sentiment_score", "topics", "key_phrases", "masked_text", "analysed_at"])  # fmt: skip
    rows[1]["text"] = "Refund please, nobody answers 😡"
    second = insights_table(pa.Table.from_pylist(rows), previous, analysed_at=second_at).to_pylist()

    assert second[0]["analysed_at"] == first_at and second[0]["text_hash"] == text_hash("Tệ quá")
    assert second[1]["analysed_at"] == second_at and second[1]["sentiment_label"] == "negative"
    assert {r["analyser_version"] for r in second} == {analyser_version()}
    assert [r["text_key"] for r in second] == ["survey_responses:SR-1", "support_tickets:T-1"]


def test_everything_loads_and_runs_without_a_network(monkeypatch):
    import socket

    from cx import text_analytics

    def refuse(*args, **kwargs):
        raise OSError("network is off in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    for cached in (text_analytics._vader, text_analytics._phrase_stopwords, text_analytics._english_words,
                   text_analytics.vi_lexicon, text_analytics.emoji_valences, text_analytics._topics,
                   text_analytics._vi_phrases_vader_scores):  # fmt: skip
        cached.cache_clear()

    insight = analyse("Giao hàng quá chậm, rất thất vọng. Support never replied 😡")
    assert insight.sentiment_label == "negative" and insight.key_phrases and insight.topics


def test_insights_table_gives_the_same_rows_with_worker_processes():
    from spark_jobs import processes

    at = datetime(2025, 7, 1, tzinfo=UTC)
    base = ["Giao hàng chậm quá, shop ơi", "Refund still pending 😡", "Nhân viên nhiệt tình, sẽ ủng hộ", "ok"]
    # enough distinct texts for two workers (spark_jobs.processes: 256 a worker at least), and repeats
    texts = [f"{base[i % 4]} (lần {i // 4})" for i in range(600)] + base * 3
    rows = [
        {"source": "survey_responses", "source_id": f"SR-{i}", "text": t, "written_at": at} for i, t in enumerate(texts)
    ]
    table = pa.Table.from_pylist(rows)
    try:
        spread = insights_table(table, None, analysed_at=at, workers=2)
        used_pool = processes._pool is not None
    finally:
        processes.shutdown()
    inline = insights_table(table, None, analysed_at=at, workers=1)

    assert used_pool
    assert spread.to_pylist() == inline.to_pylist()
    assert spread.num_rows == len(texts)
