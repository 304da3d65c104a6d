{{ config(delta_duckdb_view=true) }}
-- The consent in force per customer, purpose and channel as of as_of (only combinations with an event; a missing
-- combination means no consent). A view in DuckDB (no second copy of every consent in force there); the Delta table
-- is written from it on a cursor that carries the run's as_of (the lake plugin, since 4dea42a: before, such a view
-- wrote an empty table).
select * from {{ ref('int_consent__latest') }}
