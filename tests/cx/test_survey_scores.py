"""Bad survey scores are quarantined at bronze with the reason, never clamped or truncated into range (issue 8's
bad input), beyond the range and wrong-type cases of tests/ingest/test_validation.py."""

from __future__ import annotations

import pytest

from ingest.contracts import SURVEY_RESPONSES
from ingest.validation import validate
from tests.ingest.test_validation import errors_by_line, framed

OUT_OF_RANGE = "score out of range for the survey type (NPS 0-10, CSAT 1-5, CES 1-7)"


@pytest.mark.parametrize(
    ("survey_type", "score", "reason"),
    [
        ("NPS", "9.5", "expected an integer, got '9.5'"),  # not truncated to 9
        ("CSAT", "4.0", "expected an integer, got '4.0'"),
        ("NPS", "-1", OUT_OF_RANGE),  # not clamped to 0
        ("CES", "0", OUT_OF_RANGE),
        ("CSAT", "five", "expected an integer, got 'five'"),
        ("NPS", "", "missing required field"),
    ],
)
def test_bad_scores_are_quarantined_with_the_reason(spark, survey_type: str, score: str, reason: str) -> None:
    row = {"response_id": "r1", "survey_type": survey_type, "score": score, "responded_at": "2025-01-01"}
    if score == "":
        del row["score"]
    assert errors_by_line(validate(framed(spark, [row]), SURVEY_RESPONSES)) == {1: [("score", reason)]}
