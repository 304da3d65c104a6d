{{ config(delta_duckdb_view=true) }}
-- The golden record: one row per customer_id, each attribute chosen by survivorship (seeds/survivorship_rules.csv:
-- source priority, then the most recent value, then the most frequent) and carrying the source it came from.
-- Computed incrementally in int_profile__golden_records; this is the contract others read. A view in DuckDB (no
-- second copy of every golden record there); the Delta table is written from it.
select * exclude (records_signature, crm_ingested_until) from {{ ref('int_profile__golden_records') }}
