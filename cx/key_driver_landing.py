"""The key-driver inputs read straight from a landing zone (the generator's files), for tests and the benchmark.

The lake path (bronze -> staging -> ``cx_key_drivers``) is the product; this reader lets the analysis be checked on
generated data without running the ingest and identity stages. Rows the ingest would quarantine (unparseable ids,
timestamps or amounts) become missing values here, which :func:`cx.key_drivers.build_driver_matrix` excludes or
treats as it treats missing values in the lake.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

CURRENCY_RATES = Path(__file__).resolve().parent.parent / "dbt_project" / "seeds" / "currency_rates.csv"


def _read_jsonl(folder: Path) -> pd.DataFrame:
    parts = sorted(folder.glob("part-*.jsonl*"))
    frames = [pd.read_json(p, lines=True, dtype=False, compression="infer") for p in parts]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _read_csv(folder: Path) -> pd.DataFrame:
    parts = sorted(folder.glob("part-*.csv*"))
    # the generator plants rows with the wrong number of fields: skipped, as the ingest quarantines them
    frames = [pd.read_csv(p, dtype=str, keep_default_na=False, on_bad_lines="skip", quoting=csv.QUOTE_MINIMAL)
              for p in parts]  # fmt: skip
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def load_landing_inputs(landing: Path, reporting_currency: str = "VND") -> tuple[pd.DataFrame, ...]:
    """(responses, orders, tickets) shaped as :func:`cx.key_drivers.build_driver_matrix` takes them."""
    responses = _read_csv(landing / "survey_responses").replace({"": None})
    orders = _read_jsonl(landing / "orders")
    tickets = _read_jsonl(landing / "support_tickets")
    rates = pd.read_csv(CURRENCY_RATES).set_index("currency")["units_per_usd"]
    amount = pd.to_numeric(orders["total_amount"], errors="coerce")
    orders["amount_reporting"] = amount / orders["currency"].map(rates) * rates[reporting_currency]
    for frame, key in ((orders, "order_id"), (tickets, "ticket_id")):
        frame.drop(frame.index[frame[key].isna()], inplace=True)
    tickets["contact_count"] = pd.to_numeric(tickets["contact_count"], errors="coerce")
    return responses, orders, tickets
