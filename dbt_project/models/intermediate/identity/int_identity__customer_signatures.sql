-- Per customer: its records' span, count and sources, and a signature of exactly which records it holds. A customer
-- whose signature differs from the last build's gained or lost records (new data, or identity merged or split it).
select
    customer_id,
    min(observed_at) as first_seen_at,
    max(observed_at) as last_seen_at,
    count(*) as source_records,
    list_sort(list_distinct(list(source))) as sources,
    bit_xor(hash(source, source_record_id)) as records_signature
from {{ ref('int_identity__records') }}
group by customer_id
