-- Per customer in this build's rebuild scope (int_profile__rebuild_scope): its records' span, count and sources,
-- and a signature of exactly which records it holds. A customer of the scope with no records left is not here.
select
    records.customer_id,
    min(records.observed_at) as first_seen_at,
    max(records.observed_at) as last_seen_at,
    count(*) as source_records,
    list_sort(list_distinct(list(records.source))) as sources,
    bit_xor(hash(records.source, records.source_record_id)) as records_signature
from {{ ref('int_identity__records') }} as records
semi join {{ ref('int_profile__rebuild_scope') }} as scope using (customer_id)
group by records.customer_id
