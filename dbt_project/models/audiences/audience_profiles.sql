-- What audience rules read: every trait plus the non-personal profile columns (no names, emails or phones).
select
    traits.*,
    customers.country,
    customers.city,
    customers.sources
from {{ ref('customer_traits') }} as traits
inner join {{ ref('customers') }} as customers using (customer_id)
