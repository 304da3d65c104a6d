{{
    config(
        delta_mode='replace_where',
        delta_replace_on='as_of',
        delta_duckdb_view=true,
        delta_files_of='customer_traits',
    )
}}
-- Traits snapshotted per run with their as_of (appended; a re-run for the same as_of replaces only its snapshot),
-- so feature serving can answer "what did we know on date D". In DuckDB a view of this run's snapshot (no copy of
-- customer_traits there); the snapshot is appended to the Delta table from it, re-using the Parquet files
-- customer_traits wrote in this build (delta_files_of: marts/duckdb_delta.py checks they hold these rows) instead of
-- encoding a million rows again.
select * from {{ ref('customer_traits') }}
