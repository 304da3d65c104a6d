-- The identity map's records that changed since the last build of int_identity__records, with the customer they
-- belonged to then: new records (no previous customer), re-assigned ones (both customers, so merges and splits
-- rebuild both sides) and records gone from the map (no customer now, e.g. after an erasure). Changed means
-- assigned_at (when the identity job gave the record its current customer_id) after the last build's watermark,
-- the largest assigned_at int_identity__records holds; a null assigned_at (a map from before the column) counts as
-- changed. Empty on the first build and on --full-refresh, when int_identity__records copies the whole map.
-- The last build is read by name, not ref(), so it is state, not a dependency (no cycle in the DAG).
-- Sound while records keep their assigned_at until their customer changes (the identity job's rule); after an edit
-- by hand of the map, build with --full-refresh.

{% set previous = adapter.get_relation(this.database, this.schema, 'int_identity__records') %}
{% set incremental = previous is not none and not flags.FULL_REFRESH %}

{% if incremental and execute %}
{% set watermark = run_query(
    "select coalesce(max(assigned_at), '-infinity'::timestamptz)::varchar from " ~ previous
).columns[0].values()[0] %}
{% else %}
{% set watermark = '-infinity' %}
{% endif %}

{% set changed_sql %}
    -- two filters, each simple enough to reach the Delta scan (files whose assigned_at is older are skipped)
    select source, source_record_id, customer_id, observed_at, assigned_at
    from {{ ref('stg_identity__identity_map') }}
    where assigned_at > '{{ watermark }}'::timestamptz
    union all
    select source, source_record_id, customer_id, observed_at, assigned_at
    from {{ ref('stg_identity__identity_map') }}
    where assigned_at is null
{% endset %}

{% if incremental %}
{#- Records gone from the map, counted without comparing every key: every record assigned at or before the
    watermark is in the last build, so last build = unchanged + changed-and-known + gone. Changed-and-known by an
    inner join (keys are unique on both sides): DuckDB pushes the changed keys' range into the scan of the last
    build (clustered by source, source_record_id) for an inner join, not for a semi join, which read all its keys
    (1M customers, 13k changed records: 0.3 against 1.4-2.1 s of CPU). -#}
{% set gone = 0 %}
{% if execute %}
{% set gone = run_query(
    "select (select count(*) from " ~ previous ~ ")"
    ~ " - (select count(*) from " ~ ref('stg_identity__identity_map')
    ~ " where assigned_at <= '" ~ watermark ~ "'::timestamptz)"
    ~ " - (select count(*) from (" ~ changed_sql ~ ") as changed inner join " ~ previous
    ~ " as previous using (source, source_record_id))"
).columns[0].values()[0] %}
{% endif %}

with changed as (
    {{ changed_sql }}
),

final as (
    select
        changed.source,
        changed.source_record_id,
        changed.customer_id,
        changed.observed_at,
        changed.assigned_at,
        previous.customer_id as previous_customer_id,
        previous.observed_at as previous_observed_at
    from changed
    left join {{ previous }} as previous using (source, source_record_id)
    {% if gone > 0 %}
    union all
    select
        previous.source,
        previous.source_record_id,
        null as customer_id,
        null as observed_at,
        null as assigned_at,
        previous.customer_id as previous_customer_id,
        previous.observed_at as previous_observed_at
    from {{ previous }} as previous
    anti join (select source, source_record_id from {{ ref('stg_identity__identity_map') }}) as map
        using (source, source_record_id)
    {% endif %}
)

select * from final
{% else %}
select
    source,
    source_record_id,
    customer_id,
    observed_at,
    assigned_at,
    null::varchar as previous_customer_id,
    null::timestamptz as previous_observed_at
from {{ ref('stg_identity__identity_map') }}
where false
{% endif %}
