"""An incremental run that leaves the largest customer alone carries the size figures (histogram, customers,
largest, matched share) from the previous run instead of counting the whole map: they must equal a full run's."""

from __future__ import annotations

import spark_jobs.jobs.resolve as resolve_job
from tests.spark_jobs.test_incremental_resolve import add_bronze, lakes, resolve  # noqa: F401 (fixture)

SIZE_FIGURES = (
    "records",
    "resolved_records",
    "customers",
    "largest_customer",
    "size_histogram",
    "records_in_multi_record_customers",
)


def test_size_figures_carried_from_the_previous_run_equal_a_full_runs(spark, lakes, monkeypatch):  # noqa: F811
    lake, twin = lakes
    # A joins an existing one-record customer (1 -> 2 records), N is a new person, and M1/M2 a new two-record
    # customer; the largest customer (three POS records sharing a phone) is outside the scope.
    new_orders = [
        {"order_id": "A2", "email": "an@gmail.com"},
        {"order_id": "N1", "email": "new.person@gmail.com"},
        {"order_id": "M1", "email": "mai.two@gmail.com"},
        {"order_id": "M2", "email": "mai.two@gmail.com"},
    ]
    for target in (lake, twin):
        add_bronze(spark, target, "orders", new_orders, "ingest-2")

    whole_map_counts = []
    counted = resolve_job._map_sizes

    def count_whole_map(report, identity_map):
        whole_map_counts.append(report.run_id)
        counted(report, identity_map)

    monkeypatch.setattr(resolve_job, "_map_sizes", count_whole_map)
    incremental = resolve(spark, lake, mode="incremental")
    assert incremental.mode == "incremental" and whole_map_counts == []  # the figures were carried
    monkeypatch.undo()
    full = resolve(spark, twin, mode="full")

    for name in SIZE_FIGURES:
        assert getattr(incremental, name) == getattr(full, name), name
    assert incremental.matched_share == full.matched_share
    assert incremental.size_histogram["2"] >= 2  # A's and the new M's customers
