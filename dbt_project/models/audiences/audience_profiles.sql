{{ config(materialized='view') }}
-- What audience rules read: every trait plus the non-personal profile columns (no names, emails or phones).
-- A view: each audience model reads only the columns and rows its rule needs, and no build writes a second copy of
-- every customer's traits into DuckDB (that copy cost more CPU than the audience models' own queries).

select
    traits.*,
    customers.country,
    customers.city,
    customers.sources
from {{ ref('customer_traits') }} as traits
inner join {{ ref('customers') }} as customers using (customer_id)
