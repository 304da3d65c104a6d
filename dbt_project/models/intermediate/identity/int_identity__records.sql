{{
    config(
        materialized='incremental',
        unique_key=['source', 'source_record_id'],
        incremental_strategy='delete+insert',
        post_hook="delete from {{ this }} as records using {{ ref('int_identity__record_changes') }} as gone
            where gone.customer_id is null
              and records.source = gone.source and records.source_record_id = gone.source_record_id",
    )
}}
-- Every record of the identity map with its current customer_id, as a DuckDB table clustered by source: every
-- model that joins its source's records to customers then reads only that source's rows (zone maps) instead of
-- decoding the whole Delta map again. Incremental: the first build (and --full-refresh) copies the map; later
-- builds replace only the changed records and delete the ones gone from the map (int_identity__record_changes).

{% if is_incremental() %}
select source, source_record_id, customer_id, observed_at, assigned_at
from {{ ref('int_identity__record_changes') }}
where customer_id is not null
{% else %}
select source, source_record_id, customer_id, observed_at, assigned_at
from {{ ref('stg_identity__identity_map') }}
order by source, source_record_id
{% endif %}
