"""Ground truth under ``out_dir/_ground_truth/`` (never read by the pipeline; used to score it).

* ``record_truth.csv.gz``: source,source_record_id,person_id for every data row written.
* ``persons.csv.gz``: the canonical person behind the records (names, dob, country, segment, ...).
* ``planted.json``: planted effects and facts (NPS drivers, churners rule, over-messaging, shared
  identifiers, bad rows with file/row/kind).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from .people import TEST_CUSTOMER_REF, TEST_EMAIL, TEST_PERSON_ID, Person
from .timefmt import day_str, iso_z
from .writer import GzipTextFile

PERSON_FIELDS = (
    "person_id",
    "first_name",
    "last_name",
    "gender",
    "date_of_birth",
    "country",
    "segment",
    "customer_ref",
    "customer_ref2",
    "email",
    "email2",
    "family_email",
    "phone_e164",
    "loyalty_card_id",
    "household_id",
    "preexisting",
    "first_seen_at",
    "churned_at",
)


def person_row(p: Person) -> tuple[str, ...]:
    """One persons.csv.gz row, in PERSON_FIELDS order."""
    return (
        p.person_id,
        p.first_name,
        p.last_name,
        p.gender,
        day_str(p.dob) if p.dob is not None else "",
        p.country,
        p.segment,
        p.customer_ref or "",
        p.customer_ref2 or "",
        p.email or "",
        p.email2 or "",
        p.family_email or "",
        p.phone_e164 or "",
        p.loyalty_id or "",
        p.household_id or "",
        "true" if p.preexisting else "false",
        iso_z(p.first_seen),
        iso_z(p.churn_at) if p.churn_at is not None else "",
    )


class TruthWriter:
    def __init__(self, truth_dir: Path) -> None:
        truth_dir.mkdir(parents=True, exist_ok=True)
        self.dir = truth_dir
        self._records_fh = GzipTextFile(truth_dir / "record_truth.csv.gz")
        self._records = csv.writer(self._records_fh, lineterminator="\n")
        self._records.writerow(("source", "source_record_id", "person_id"))
        self._persons_fh = GzipTextFile(truth_dir / "persons.csv.gz")
        self._persons = csv.writer(self._persons_fh, lineterminator="\n")
        self._persons.writerow(PERSON_FIELDS)

    def records(self, source: str, rids: list[str], pids: list[str]) -> None:
        # ids and person ids never contain commas or quotes, so no CSV quoting is needed
        self._records_fh.write("".join([f"{source},{r},{p}\n" for r, p in zip(rids, pids, strict=True)]))

    def persons(self, csv_text: str) -> None:
        self._persons_fh.write(csv_text)

    def close(self, planted: dict[str, Any]) -> None:
        # the QA account is not a customer, but its events need a person_id in the truth
        self._persons.writerow(
            (
                TEST_PERSON_ID,
                "Test",
                "Account",
                "",
                "",
                "",
                "test_account",
                TEST_CUSTOMER_REF,
                "",
                TEST_EMAIL,
                "",
                "",
                "",
                "",
                "",
                "false",
                "",
                "",
            )
        )
        self._records_fh.close()
        self._persons_fh.close()
        with open(self.dir / "planted.json", "w", encoding="utf-8", newline="\n") as fh:
            json.dump(planted, fh, ensure_ascii=False, indent=2)
            fh.write("\n")
