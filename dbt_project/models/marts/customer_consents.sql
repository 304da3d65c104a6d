{{ config(delta_duckdb_view=true) }}
-- The consent in force per customer, purpose and channel as of as_of (only combinations with an event; a missing
-- combination means no consent). A view in DuckDB (no second copy of every row there); the Delta table is written from
-- it.
select * from {{ ref('int_consent__latest') }}
