-- The identity map, once per build, as a DuckDB table clustered by source: every model that joins its source's
-- records to customers then reads only that source's rows (zone maps) instead of decoding the whole Delta map again.
select source, source_record_id, customer_id, observed_at, assigned_at
from {{ ref('stg_identity__identity_map') }}
order by source, source_record_id
