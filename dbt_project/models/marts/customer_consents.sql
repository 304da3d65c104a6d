-- The consent in force per customer, purpose and channel as of as_of (only combinations with an event; a missing
-- combination means no consent). A table, not a DuckDB view (delta_duckdb_view): its rows depend on as_of, a
-- variable of dbt's cursors that the lake plugin's Delta write does not see (a view wrote an empty Delta table).
select * from {{ ref('int_consent__latest') }}
